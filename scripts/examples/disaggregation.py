"""When is disaggregated prefill/decode serving cheaper than one pool doing both?

One sweep of Llama 3.1 70B (FP8 weights and KV) on H200 under the chat workload, with the
layouts searched (``deployment.tp=auto``) for both modes, over the prompt length and the p99
TTFT target at a p99 TPOT target of 40 ms: ``deployment.serving=[aggregated,disaggregated]``.
Aggregated replicas carry prompt chunks in their decode steps, so long prompts and tight TPOT
targets shrink their batch; a disaggregated fleet decodes without prompts and prefills on a pool
of its own, paying for the KV transfer and for two pools rounded up on their own. The figure
shows the disaggregated fleet's TCO over the aggregated one's (below 1: disaggregation is
cheaper); the printed answer lists, per TTFT target, the prompt lengths where it wins.

Usage: ``python scripts/examples/disaggregation.py [--out DIR] [--quick]``
"""

from __future__ import annotations

import numpy as np
from _common import Timer, figure, parse_args, save

import fleetsim

MODEL, HARDWARE = "llama3.1-70b", "h200"
PROMPTS = (256, 1024, 4096, 16384, 65536)
QUICK_PROMPTS = (1024, 16384)
TTFT_TARGETS = (0.5, 1.0, 2.0, 5.0)
QUICK_TTFT_TARGETS = (1.0, 5.0)
COMMON = [
    f"model={MODEL}", f"hardware={HARDWARE}", "workload=chat", "deployment.weight_dtype=fp8",
    "deployment.kv_dtype=fp8", "deployment.tp=auto", "workload.output_tokens=512",
    "workload.tpot_slo_s=0.04", "workload.tpot_quantile=0.99", "workload.ttft_quantile=0.99",
    "workload.requests_per_day=2e7", "deployment.serving=[aggregated,disaggregated]",
    "finance.years=3",
]  # fmt: skip


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    timer = Timer()
    prompts = QUICK_PROMPTS if args.quick else PROMPTS
    targets = QUICK_TTFT_TARGETS if args.quick else TTFT_TARGETS
    ds = fleetsim.run([
        *COMMON, f"workload.input_tokens=[{','.join(map(str, prompts))}]",
        f"workload.ttft_slo_s=[{','.join(f'{t:g}' for t in targets)}]",
        *args.overrides,
    ]).squeeze(drop=True)  # fmt: skip
    tco = ds["tco_usd"].isel(year=-1).where(ds["status"] == 0)
    ratio = (tco.sel(serving="disaggregated") / tco.sel(serving="aggregated")).transpose(
        "ttft_slo_s", "input_tokens"
    )
    fig = figure(7.0, 4.2)
    ax = fig.add_subplot()
    values = np.ma.masked_invalid(ratio.values)
    image = ax.imshow(values, cmap="RdBu_r", vmin=0.5, vmax=1.5, aspect="auto", origin="lower")
    for (i, j), value in np.ndenumerate(ratio.values):
        text = "-" if not np.isfinite(value) else f"{value:.2f}"
        dark = np.isfinite(value) and abs(value - 1) > 0.3
        ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "k")
    ax.set_xticks(range(len(prompts)), [f"{p:,}" for p in prompts])
    ax.set_yticks(range(len(targets)), [f"{t:g} s" for t in targets])
    ax.set_xlabel("prompt tokens (512 output tokens)")
    ax.set_ylabel("p99 TTFT target")
    ax.set_title(f"{MODEL} FP8 on {HARDWARE}, p99 TPOT 40 ms: disaggregated / aggregated TCO")
    fig.colorbar(image, ax=ax, label="TCO ratio (below 1: disaggregation cheaper)")
    path = save(fig, args.out, "disaggregation")
    print("disaggregated TCO / aggregated TCO over 3 years (- : one mode cannot serve it):")
    for target in targets:
        row = ratio.sel(ttft_slo_s=target)
        cells = "  ".join(
            f"{p:>6,}: " + ("  -  " if not np.isfinite(v) else f"{v:.2f}")
            for p, v in zip(prompts, row.values, strict=True)
        )
        wins = [f"{p:,}" for p, v in zip(prompts, row.values, strict=True) if v < 1]
        print(f"  TTFT {target:g} s  {cells}  cheaper at: {', '.join(wins) or 'none'}")
    timer.done(path)


if __name__ == "__main__":
    main()
