"""How much throughput does each accelerator give up for faster tokens per user?

The chart serving-performance comparisons draw: generated tokens/s per accelerator against
tokens/s per user (1 / TPOT), one curve per accelerator, from one sweep over the TPOT target
(p99, as MLPerf bounds it) for Llama 3.1 70B with FP8 weights and KV under the chat workload's
TTFT target, layouts searched (``deployment.tp=auto``). Each curve is
:func:`fleetsim.analysis.interactivity_frontier`: the points no other point of that accelerator
beats on both axes. Prints the throughput per accelerator each delivers at 50 tokens/s per user.

Usage: ``python scripts/examples/interactivity_frontier.py [--out DIR] [--quick]``
"""

from __future__ import annotations

import numpy as np
from _common import Timer, figure, parse_args, save

import fleetsim
from fleetsim.analysis import interactivity_frontier
from fleetsim.analysis.plots import draw_interactivity_frontier

MODEL = "llama3.1-70b"
HARDWARE = ("h100-sxm", "h200", "b200", "mi300x")
QUICK_HARDWARE = ("h200", "b200")
#: p99 TPOT targets swept [s]: 200 tokens/s per user down to 5
TARGETS = tuple(float(t) for t in np.geomspace(0.005, 0.2, 16).round(4))
QUICK_TARGETS = (0.01, 0.03, 0.1)
#: the per-user speed the printed answer reads the curves at [tokens/s]
READ_AT = 50.0
COMMON = [
    f"model={MODEL}", "workload=chat", "deployment.weight_dtype=fp8", "deployment.kv_dtype=fp8",
    "deployment.tp=auto", "deployment.pp=1", "finance.years=1",
]  # fmt: skip


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    timer = Timer()
    hardware = QUICK_HARDWARE if args.quick else HARDWARE
    targets = QUICK_TARGETS if args.quick else TARGETS
    ds = fleetsim.run([
        *COMMON, f"hardware=[{','.join(hardware)}]",
        f"workload.tpot_slo_s=[{','.join(f'{t:g}' for t in targets)}]",
        *args.overrides,
    ])  # fmt: skip
    front = interactivity_frontier(ds)
    fig = figure(7.0, 4.2)
    ax = fig.add_subplot()
    draw_interactivity_frontier(ax, front)
    ax.set_title(f"{MODEL} FP8, p99 TTFT 2 s: throughput against interactivity")
    path = save(fig, args.out, "interactivity_frontier")
    print(f"generated tokens/s per accelerator at {READ_AT:g} tokens/s per user or more:")
    for name, curve in front.groupby("hardware", sort=False):
        fast = curve[curve["tokens_per_s_per_user"] >= READ_AT]
        if fast.empty:
            print(f"  {name:9s} cannot serve {READ_AT:g} tokens/s per user")
            continue
        best = fast.iloc[0]
        fastest = curve["tokens_per_s_per_user"].max()
        print(
            f"  {name:9s} {best['tokens_per_s_per_accelerator']:6.0f} (TP"
            f"{best['tensor_parallel']:.0f}, batch {best['batch_size']:.0f}; fastest "
            f"{fastest:.0f} tokens/s per user)"
        )
    timer.done(path)


if __name__ == "__main__":
    main()
