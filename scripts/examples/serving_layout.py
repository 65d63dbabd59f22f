"""How should a Llama 3.1 405B replica be laid out, and what does chunked prefill buy?

Evaluates every tensor x pipeline layout (TP 1-8 within the server, PP 1-16 stages, the ranges the search tries) of Llama 3.1
405B with FP8 weights on four accelerators under the chat workload's latency targets (p99 TTFT
2 s, TPOT 200 ms), next to the layout ``deployment.tp=auto deployment.pp=auto`` picks, with
chunked and with whole-prompt prefill. Draws the sustained generated tokens/s per accelerator
(at the planned utilisation) of each layout and prints the search's choice per accelerator.

Usage: ``python scripts/examples/serving_layout.py [--out DIR] [--quick]``
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import xarray as xr
from _common import Timer, figure, parse_args, save

import fleetsim
from fleetsim.analysis import decode_status
from fleetsim.analysis.plots import STYLE, compact

MODEL = "llama3.1-405b"
HARDWARE = ("h100-sxm", "h200", "b200", "mi300x")
QUICK_HARDWARE = ("h200", "b200")
TP = (1, 2, 4, 8)
PP = (1, 2, 4, 8, 16)
COMMON = [f"model={MODEL}", "workload=chat", "deployment.weight_dtype=fp8", "finance.years=1"]


def sustained(ds: xr.Dataset) -> xr.DataArray:
    """Generated tokens/s per accelerator at the planned utilisation (NaN where infeasible)."""
    return ds["tokens_per_s_per_accelerator"] * ds["target_utilisation"]


def simulate(hardware: list[str], extra: Sequence[str] = ()) -> tuple[xr.Dataset, xr.Dataset]:
    """Run the fixed-layout grid and the layout search (chunked and whole prefill)."""
    grid = fleetsim.run([
        *COMMON, f"hardware=[{','.join(hardware)}]", f"deployment.tp=[{','.join(map(str, TP))}]",
        f"deployment.pp=[{','.join(map(str, PP))}]",
        *extra,
    ])  # fmt: skip
    search = fleetsim.run([
        *COMMON, f"hardware=[{','.join(hardware)}]", "deployment.tp=auto", "deployment.pp=auto",
        "deployment.prefill=[chunked,whole]",
        *extra,
    ])  # fmt: skip
    return grid.squeeze("model", drop=True), search.squeeze("model", drop=True)


def _two_lines(label: str) -> str:
    """Return a status label (``weights_do_not_fit``) as two lines of words."""
    words = label.split("_")
    half = (len(words) + 1) // 2
    return " ".join(words[:half]) + "\n" + " ".join(words[half:])


def plot(grid: xr.Dataset, search: xr.Dataset, hardware: list[str]):
    """Return one heat map per accelerator: sustained tokens/s per accelerator by TP x PP."""
    values = sustained(grid)
    labels = decode_status(grid)
    top = float(np.nanmax(values.values))
    fig = figure(3.2 * len(hardware) + 0.8, 3.6)
    with mpl.rc_context(STYLE):
        axes = np.atleast_1d(fig.subplots(1, len(hardware), sharey=True))
        for ax, hw in zip(axes, hardware, strict=True):
            cells = values.sel(hardware=hw).transpose("pp", "tp").values.astype(float)
            status = labels.sel(hardware=hw).transpose("pp", "tp").values
            image = ax.imshow(
                cells, origin="lower", cmap="viridis", vmin=0, vmax=top, aspect="auto"
            )
            for (row, col), value in np.ndenumerate(cells):
                text = compact(value) if np.isfinite(value) else _two_lines(str(status[row, col]))
                color = "white" if np.isfinite(value) and value < 0.6 * top else "black"
                ax.text(col, row, text, ha="center", va="center", fontsize=7, color=color)
            chosen = search.sel(hardware=hw, prefill="chunked")
            if int(chosen["status"]) == 0:
                col = TP.index(int(chosen["tensor_parallel"]))
                row = PP.index(int(chosen["pipeline_parallel"]))
                ax.add_patch(mpl.patches.Rectangle(
                    (col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2
                ))  # fmt: skip
            ax.set_xticks(range(len(TP)), [str(t) for t in TP])
            ax.set_yticks(range(len(PP)), [str(p) for p in PP])
            ax.set_xlabel("tensor parallel (TP)")
            ax.set_title(hw)
            ax.grid(False)
        axes[0].set_ylabel("pipeline stages (PP)")
        fig.colorbar(image, ax=list(axes), label="sustained tokens/s per accelerator")
        fig.suptitle(
            f"{MODEL} FP8, chat targets: each layout's throughput (red: the layout search's choice)"
        )
    return fig


def describe(search: xr.Dataset, hw: str) -> str:
    """One line: the chosen layout and its throughput, chunked vs whole-prompt prefill."""
    chunked, whole = (search.sel(hardware=hw, prefill=p) for p in ("chunked", "whole"))
    if int(chunked["status"]) != 0:
        return f"{hw}: no layout meets the targets"
    rate, rate_whole = float(sustained(chunked)), float(sustained(whole))
    layout = (
        f"TP{int(chunked['tensor_parallel'])} x PP{int(chunked['pipeline_parallel'])} "
        f"({int(chunked['accelerators_per_replica'])} accelerators, batch "
        f"{float(chunked['batch_size']):.0f})"
    )
    if np.isfinite(rate_whole):
        gain = f"{rate / rate_whole - 1:+.0%} over whole-prompt prefill"
    else:
        gain = "whole-prompt prefill meets no target"
    return f"{hw}: {layout}, {rate:,.0f} tokens/s per accelerator; chunked prefill {gain}"


def main() -> None:
    """Simulate, draw and print the answer."""
    args = parse_args(__doc__.splitlines()[0])
    timer = Timer()
    hardware = list(QUICK_HARDWARE if args.quick else HARDWARE)
    grid, search = simulate(hardware, args.overrides)
    path = save(plot(grid, search, hardware), args.out, "serving_layout")
    print(f"{MODEL} fp8, chat (p99 TTFT 2 s, TPOT 200 ms): tp=auto pp=auto per accelerator")
    for hw in hardware:
        print(describe(search, hw))
    timer.done(path)


if __name__ == "__main__":
    main()
