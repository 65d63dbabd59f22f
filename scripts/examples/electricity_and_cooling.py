"""How do the electricity price and the cooling change the answer?

Sweeps ``finance.electricity_usd_per_kwh`` over 0.04-0.30 USD/kWh x ``facility.cooling`` (air,
liquid) x four accelerators for Llama 3.1 70B chat (FP8 weights, ``deployment.tp=auto``). Draws
the 5-year TCO against the electricity price and each option's premium over the cheapest, and
prints the price at which the cheapest accelerator changes. The 5-year TCO is linear in the
electricity price (the fleet does not depend on it), so crossings between grid points are
found exactly by linear interpolation.

Usage: ``python scripts/examples/electricity_and_cooling.py [--out DIR] [--quick]``
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import xarray as xr
from _common import Timer, figure, parse_args, save, usd
from matplotlib.lines import Line2D

import fleetsim
from fleetsim.analysis.plots import COMPACT, STYLE, axis_label
from fleetsim.units import display

MODEL = "llama3.1-70b"
YEARS = 5
PRICE = "electricity_usd_per_kwh"
HARDWARE = ("h100-sxm", "h200", "mi300x", "b200")
QUICK_HARDWARE = ("mi300x", "b200")
COOLING = ("air", "liquid")
STYLES = {"air": "-", "liquid": "--"}
#: the premium panel shows options up to this far above the cheapest [%]
ZOOM = 10.0


def simulate(hardware: tuple[str, ...], prices: int, extra: Sequence[str] = ()) -> xr.DataArray:
    """Return the 5-year TCO over hardware x cooling x electricity price [USD]."""
    ds = fleetsim.run(
        [
            f"model={MODEL}",
            "workload=chat",
            f"finance.years={YEARS}",
            f"hardware=[{','.join(hardware)}]",
            f"facility.cooling=[{','.join(COOLING)}]",
            f"finance.{PRICE}=${{linspace:0.04,0.30,{prices}}}",
            "deployment.tp=auto",
            "deployment.pp=1",
            "deployment.weight_dtype=fp8",
            *extra,
        ]
    )
    return ds["tco_usd"].sel(model=MODEL, year=YEARS)


def switches(tco: xr.DataArray) -> list[tuple[str, str, float]]:
    """Return (cheapest before, cheapest after, price) for every change of the cheapest hardware.

    ``tco`` is one cooling's TCO over hardware x price; lines are straight between grid points.
    """
    prices = tco[PRICE].values
    values = tco.transpose("hardware", PRICE).values
    best = np.nanargmin(values, axis=0)
    found = []
    for i in np.flatnonzero(best[1:] != best[:-1]):
        a, b = best[i], best[i + 1]
        gap = values[a] - values[b]  # negative at i, positive at i + 1
        price = prices[i] + gap[i] / (gap[i] - gap[i + 1]) * (prices[i + 1] - prices[i])
        hardware = tco["hardware"].values
        found.append((str(hardware[a]), str(hardware[b]), float(price)))
    return found


def plot(tco: xr.DataArray, changes: dict[str, list]):
    """Return TCO against price (left) and the premium over the cheapest option (right)."""
    fig = figure(12.0, 5.0)
    prices = tco[PRICE].values
    colors = dict(zip(tco["hardware"].values, mpl.colormaps["tab10"].colors, strict=False))
    premium = 100 * (tco / tco.min("hardware") - 1)
    off_chart = [str(h) for h in tco["hardware"].values if premium.sel(hardware=h).min() > ZOOM]
    with mpl.rc_context(STYLE):
        left, right = fig.subplots(1, 2)
        for cooling in COOLING:
            for hardware in tco["hardware"].values:
                style = {"color": colors[hardware], "ls": STYLES[cooling], "marker": "o", "ms": 3}
                left.plot(prices, tco.sel(hardware=hardware, cooling=cooling), **style)
                if hardware not in off_chart:
                    right.plot(prices, premium.sel(hardware=hardware, cooling=cooling), **style)
        for row, (cooling, before, after, price) in enumerate(
            (c, *change) for c in COOLING for change in changes[c]
        ):
            right.axvline(price, color="gray", ls=STYLES[cooling], lw=1)
            right.annotate(
                f"{cooling}: {before} → {after}\nat {price:.3f}",
                (price, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-4, -4 - 32 * row),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize=9,
                bbox={"boxstyle": "round", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        units = display(tco.attrs["units"], tco.attrs.get("currency"))
        left.set_ylabel(f"{tco.attrs.get('long_name', 'TCO')} after year {YEARS} [{units}]")
        left.yaxis.set_major_formatter(COMPACT)
        right.set_ylabel(f"{YEARS}-year TCO above the cheapest option [%]")
        right.set_ylim(-0.5, ZOOM)
        if off_chart:
            right.set_title(f"more than {ZOOM:g}% above: {', '.join(off_chart)}", fontsize=10)
        for ax in (left, right):
            ax.set_xlabel(axis_label(tco[PRICE]))
        fig.suptitle(f"{MODEL} chat, fp8 weights: {YEARS}-year TCO against the electricity price")
        handles = [Line2D([], [], color=colors[h], marker="o", ms=3, label=h) for h in colors]
        handles += [
            Line2D([], [], color="black", ls=STYLES[c], label=f"{c} cooling") for c in COOLING
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    return fig


def main() -> None:
    """Simulate, draw and print the answer."""
    args = parse_args(__doc__.splitlines()[0])
    timer = Timer()
    hardware, prices = (QUICK_HARDWARE, 3) if args.quick else (HARDWARE, 8)
    tco = simulate(hardware, prices, args.overrides)
    changes = {cooling: switches(tco.sel(cooling=cooling)) for cooling in COOLING}
    path = save(plot(tco, changes), args.out, "electricity_and_cooling")
    low, high = tco[PRICE].values[[0, -1]]
    print(f"{MODEL} chat, fp8, {YEARS} years; electricity {low:.2f}-{high:.2f} USD/kWh")
    for cooling in COOLING:
        lines = tco.sel(cooling=cooling)
        first = str(lines.isel({PRICE: 0}).idxmin("hardware").values)
        steps = "".join(f", {b} above {p:.3f} USD/kWh" for _, b, p in changes[cooling])
        print(f"{cooling} cooling: cheapest {first}{steps or ' at every price'}")
    saving = 1 - tco.sel(cooling="liquid") / tco.sel(cooling="air")
    cheapest = tco.min("hardware")
    print(
        f"liquid instead of air saves {100 * float(saving.min()):.1f}-"
        f"{100 * float(saving.max()):.1f}% of the {YEARS}-year TCO "
        f"(up to {usd(float((cheapest.sel(cooling='air') - cheapest.sel(cooling='liquid')).max()))}"
        " for the cheapest option; the model charges nothing for the liquid loop itself)"
    )
    timer.done(path)


if __name__ == "__main__":
    main()
