"""Build or rent: when does owning the fleet beat renting it?

Runs Llama 3.1 70B chat (FP8 weights, ``deployment.tp=auto``) on five accelerators whose rental
price is in the catalog and compares two ways of renting with owning:

- renting the same fleet around the clock: cumulative ``rent_tco_usd`` against ``tco_usd``
  (the year owning becomes cheaper is the payback year);
- renting only the busy accelerator-hours (a perfectly elastic cloud): owning wins when the
  fleet's mean ``utilisation`` is above ``break_even_utilisation``.

Usage: ``python scripts/examples/build_vs_rent.py [--out DIR] [--quick]``
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import xarray as xr
from _common import Timer, figure, parse_args, save, usd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

import fleetsim
from fleetsim.analysis.plots import COMPACT, STYLE, axis_label

MODEL = "llama3.1-70b"
YEARS = 5
HARDWARE = ("h100-sxm", "h200", "b200", "mi300x", "a100-sxm")
QUICK_HARDWARE = ("h100-sxm", "b200")


def simulate(hardware: tuple[str, ...], extra: Sequence[str] = ()) -> xr.Dataset:
    """Run the scenarios; return the Dataset without the model dimension."""
    ds = fleetsim.run(
        [
            f"model={MODEL}",
            "workload=chat",
            f"finance.years={YEARS}",
            f"hardware=[{','.join(hardware)}]",
            "deployment.tp=auto",
            "deployment.pp=1",
            "deployment.weight_dtype=fp8",
            *extra,
        ]
    )
    return ds.sel(model=MODEL)


def payback_year(saving: xr.DataArray) -> int | None:
    """Return the first year from which owning stays cheaper (cumulative saving > 0), if any."""
    years = saving["year"].values
    ahead = np.asarray(saving.values > 0)
    later = np.flatnonzero(~ahead)
    first = 0 if later.size == 0 else later[-1] + 1
    return int(years[first]) if first < years.size else None


def plot(ds: xr.Dataset):
    """Return cumulative saving of owning (left) and break-even against fleet utilisation."""
    hardware = [str(h) for h in ds["hardware"].values]
    colors = dict(zip(hardware, mpl.colormaps["tab10"].colors, strict=False))
    saving = ds["rent_tco_usd"] - ds["tco_usd"]
    fig = figure(12.0, 5.0)
    with mpl.rc_context(STYLE):
        left, right = fig.subplots(1, 2, width_ratios=(1.2, 1))
        for name in hardware:
            left.plot(
                ds["year"], saving.sel(hardware=name), marker="o", color=colors[name], label=name
            )
        left.axhline(0, color="black", lw=1)
        left.set_xlabel(axis_label(ds["year"]))
        left.set_ylabel("renting minus owning, cumulative [USD]")
        left.set_title("renting the whole fleet around the clock\n(above 0: owning is cheaper)")
        left.xaxis.set_major_locator(MaxNLocator(integer=True))
        left.yaxis.set_major_formatter(COMPACT)
        left.legend(loc="upper left")

        final = ds.sel(year=YEARS)
        positions = np.arange(len(hardware))
        right.bar(
            positions,
            final["break_even_utilisation"].sel(hardware=hardware),
            color=[colors[h] for h in hardware],
            alpha=0.6,
        )
        right.scatter(
            positions,
            final["utilisation"].sel(hardware=hardware),
            marker="D",
            color="black",
            zorder=3,
        )
        right.set_xticks(positions, hardware)
        right.yaxis.set_major_formatter(PercentFormatter(1.0))
        right.set_ylabel(f"utilisation in year {YEARS}")
        right.set_title("renting only busy hours\n(diamond above bar: owning is cheaper)")
        right.margins(y=0.15)
        right.legend(
            handles=[
                Patch(color="gray", alpha=0.6, label=axis_label(ds["break_even_utilisation"])),
                Line2D([], [], marker="D", ls="", color="black", label="fleet's mean utilisation"),
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
            frameon=False,
        )
        fig.suptitle(f"Build or rent: {MODEL} chat, fp8 weights, catalog rental prices")
    return fig


def main() -> None:
    """Simulate, draw and print the answer."""
    args = parse_args(__doc__.splitlines()[0])
    timer = Timer()
    ds = simulate(QUICK_HARDWARE if args.quick else HARDWARE, args.overrides)
    path = save(plot(ds), args.out, "build_vs_rent")
    saving = ds["rent_tco_usd"] - ds["tco_usd"]
    final = ds.sel(year=YEARS)
    print(f"{MODEL} chat, fp8, tp=auto: owning vs renting the same fleet at catalog prices")
    print(
        f"{'hardware':9s} {'own beats 24/7 rent':19s} {'own ' + str(YEARS) + ' y':>8s} "
        f"{'rent ' + str(YEARS) + ' y':>9s}  utilisation vs break-even: cheaper if elastic"
    )
    for name in ds["hardware"].values:
        year = payback_year(saving.sel(hardware=name))
        own = float(final["tco_usd"].sel(hardware=name))
        rent = float(final["rent_tco_usd"].sel(hardware=name))
        busy = float(final["utilisation"].sel(hardware=name))
        even = float(final["break_even_utilisation"].sel(hardware=name))
        elastic = "owning" if busy > even else "renting busy hours"
        print(
            f"{name:9s} {f'from year {year}' if year else 'never':19s} {usd(own):>8s} "
            f"{usd(rent):>9s}  {busy:4.0%} vs {even:4.0%}: {elastic}"
        )
    timer.done(path)


if __name__ == "__main__":
    main()
