"""Which accelerator for a Llama 3.1 70B chat service over 5 years?

Sweeps every datacenter accelerator of the catalog (at least 80 GB of device memory, which
leaves out the L4 and L40S PCIe cards) with ``deployment.tp=auto`` and BF16 or FP8 weights; an
accelerator without FP8 tensor cores stores FP8 weights but computes in BF16 (the kernel's
fallback). Draws cost per million output tokens in year 1 and 5-year TCO per accelerator and
prints the cheapest option and the runner-up on another accelerator, with their latencies.

Usage: ``python scripts/examples/which_accelerator.py [--out DIR] [--quick]``
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import xarray as xr
from _common import Timer, figure, parse_args, save, usd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

import fleetsim
from fleetsim.analysis import decode_status, scenario_table
from fleetsim.analysis.plots import COMPACT, STYLE, axis_label, compact

MODEL = "llama3.1-70b"
YEARS = 5
COST = "cost_per_million_output_tokens_usd"
DTYPES = ("bf16", "fp8")
DTYPE_COLORS = {"bf16": "tab:blue", "fp8": "tab:orange"}
#: smallest device memory of a datacenter accelerator [B]
MIN_MEMORY_B = 80e9
QUICK_HARDWARE = ("h100-sxm", "h200", "mi300x", "b200", "a100-sxm")


def datacenter_accelerators() -> tuple[list[str], set[str]]:
    """Return the catalog's datacenter accelerators and those without FP8 tensor cores."""
    table = fleetsim.load_catalog().tables["hardware"]
    memory = table.column("hbm_capacity")
    fp8 = table.column("peak_flops_fp8")
    ids = [hw for hw, m in zip(table.ids, memory, strict=True) if m >= MIN_MEMORY_B]
    no_fp8 = {hw for hw, f in zip(table.ids, fp8, strict=True) if f <= 0}
    return ids, no_fp8


def simulate(hardware: list[str], extra: Sequence[str] = ()) -> xr.Dataset:
    """Run the sweep: hardware x weight format, tensor parallelism chosen per scenario."""
    ds = fleetsim.run(
        [
            f"model={MODEL}",
            "workload=chat",
            f"finance.years={YEARS}",
            f"hardware=[{','.join(hardware)}]",
            "deployment.tp=auto",
            "deployment.pp=1",
            f"deployment.weight_dtype=[{','.join(DTYPES)}]",
            *extra,
        ]
    )
    return ds.sel(model=[MODEL])


def options(ds: xr.Dataset) -> pd.DataFrame:
    """One row per (hardware, weight format): 5-year TCO, year-1 cost per token, latencies."""
    table = scenario_table(ds, ["tco_usd", "ttft_s", "tpot_s", "tensor_parallel"], year=YEARS)
    cost = scenario_table(ds, [COST], year=1)
    status = decode_status(ds).to_dataframe().reset_index()
    keys = ["model", "hardware", "weight_dtype"]
    return table.merge(cost, on=keys).merge(status[[*keys, "status_label"]], on=keys)


def draw_panel(ax: Axes, table: pd.DataFrame, order: list[str], var: str, no_fp8: set[str]) -> None:
    """Horizontal bars of ``var``: one pair (bf16, fp8) per accelerator, cheapest on top."""
    height = 0.4
    rows = np.arange(len(order))[::-1]
    for offset, dtype in zip((height / 2, -height / 2), DTYPES, strict=True):
        part = table[table["weight_dtype"] == dtype].set_index("hardware").loc[order]
        values = part[var].to_numpy(dtype=float)
        bars = ax.barh(
            rows + offset,
            np.nan_to_num(values),
            height=height,
            color=DTYPE_COLORS[dtype],
            hatch=["//" if dtype == "fp8" and hw in no_fp8 else "" for hw in order],
            edgecolor="white",
        )
        for bar, value, label in zip(bars, values, part["status_label"], strict=True):
            text = label.replace("_", " ") if np.isnan(value) else compact(value)
            ax.annotate(
                text,
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.set_yticks(rows, order)
    ax.xaxis.set_major_formatter(COMPACT)
    ax.margins(x=0.15, y=0.01)
    ax.grid(axis="y", visible=False)


def plot(ds: xr.Dataset, table: pd.DataFrame, no_fp8: set[str]):
    """Return the two-panel figure (cost per token in year 1, TCO after year 5)."""
    best = table.groupby("hardware")["tco_usd"].min().sort_values(na_position="last")
    order = list(best.index)
    fig = figure(12.0, 0.42 * len(order) + 2.0)
    with mpl.rc_context(STYLE):
        left, right = fig.subplots(1, 2, sharey=True)
        draw_panel(left, table, order, COST, no_fp8)
        left.set_xlabel(axis_label(ds[COST]))
        left.set_title("year 1")
        draw_panel(right, table, order, "tco_usd", no_fp8)
        right.set_xlabel(axis_label(ds["tco_usd"]))
        right.set_title(f"after year {YEARS}")
        for label in left.get_yticklabels()[:2]:
            label.set_fontweight("bold")
        fig.suptitle(
            f"Which accelerator for a {MODEL} chat service? "
            f"(tensor parallel degree chosen per option; sorted by {YEARS}-year TCO)"
        )
        handles = [Patch(color=DTYPE_COLORS[d], label=f"{d} weights") for d in DTYPES]
        if any(hw in no_fp8 for hw in order):
            handles.append(
                Patch(
                    facecolor=DTYPE_COLORS["fp8"],
                    hatch="//",
                    edgecolor="white",
                    label="fp8 weights, bf16 compute (no FP8 tensor cores)",
                )
            )
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    return fig


def describe(row: pd.Series) -> str:
    """One line: option, TCO, cost per token, latencies."""
    return (
        f"{row['hardware']} {row['weight_dtype']} (tp={row['tensor_parallel']:.0f}): "
        f"{YEARS}-year TCO {usd(row['tco_usd'])}, {usd(row[COST])} per million output tokens "
        f"in year 1, TTFT {row['ttft_s'] * 1e3:.0f} ms, TPOT {row['tpot_s'] * 1e3:.0f} ms"
    )


def main() -> None:
    """Simulate, draw and print the answer."""
    args = parse_args(__doc__.splitlines()[0])
    timer = Timer()
    hardware, no_fp8 = datacenter_accelerators()
    if args.quick:
        hardware = [hw for hw in hardware if hw in QUICK_HARDWARE]
    ds = simulate(hardware, args.overrides)
    table = options(ds)
    ranking = table.dropna(subset=["tco_usd"]).sort_values("tco_usd")
    best = ranking.iloc[0]
    runner_up = ranking[ranking["hardware"] != best["hardware"]].iloc[0]
    path = save(plot(ds, table, no_fp8), args.out, "which_accelerator")
    print(f"{MODEL} chat over {YEARS} years, {len(hardware)} accelerators x {{bf16, fp8}}, tp=auto")
    print(f"cheapest:  {describe(best)}")
    print(f"runner-up: {describe(runner_up)}")
    per_token = table.dropna(subset=[COST]).sort_values(COST).iloc[0]
    if per_token["hardware"] != best["hardware"]:
        print(
            f"(lowest cost per token in year 1: {per_token['hardware']} "
            f"{per_token['weight_dtype']}, {usd(per_token[COST])}; a token is charged the decode "
            "share of depreciation + opex, TCO is all cash spent)"
        )
    timer.done(path)


if __name__ == "__main__":
    main()
