"""Disaggregated serving against published deployments (data/validation_disaggregated.csv).

Each row of ``data/validation_disaggregated.csv`` is one published figure -- the input (prompt)
tokens per second per GPU of a prefill pool, or the output tokens per second per GPU of a
decode pool (DeepSeek's day-6 production figures on H800, the SGLang/LMSYS DeepSeek
deployments on 96 H100 and on GB200 NVL72), and one aggregated GB200 NVL72 figure -- with the
settings its source states (layout and EP width, prefix-cache hit rate, prompt and output
lengths, sequences per GPU, TPOT bound, engine). fleetsim runs each with
``deployment.serving=disaggregated`` (conf defaults for everything else) and reports its
prefill pool's ``input_tokens_per_s_per_prefill_accelerator`` (full load) or its decode pool's
``tokens_per_s_per_accelerator``, predicted vs published.

Usage: ``python scripts/validate_disaggregated.py`` (``scripts/validate.py`` prints it too).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from fleetsim import api
from fleetsim import status as st

ROWS = Path(__file__).resolve().parents[1] / "data" / "validation_disaggregated.csv"
#: the output compared with each phase's published figure
PREDICTED = {
    "prefill": "input_tokens_per_s_per_prefill_accelerator",
    "decode": "tokens_per_s_per_accelerator",
    "aggregated": "tokens_per_s_per_accelerator",
}


def load_rows(path: Path = ROWS) -> list[dict[str, str]]:
    """Return the rows of the validation table, as strings."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def overrides(row: dict[str, str]) -> list[str]:
    """Return the fleetsim overrides that reproduce one row's published settings."""
    serving = "aggregated" if row["phase"] == "aggregated" else "disaggregated"
    tpot = row["tpot_target_s"] or "null"
    result = [
        f"model={row['model_id']}", f"hardware={row['hardware_id']}",
        f"deployment.serving={serving}", f"deployment.engine={row['engine']}",
        f"deployment.tp={row['tp']}", "deployment.pp=1",
        f"deployment.attention_dp={row['attention_dp'] or 'auto'}",
        f"deployment.ep={row['ep'] or 'auto'}",
        f"deployment.weight_dtype={row['weight_dtype']}", f"deployment.kv_dtype={row['kv_dtype']}",
        f"deployment.prefix_cache_hit_rate={row['prefix_cache_hit_rate']}",
        f"workload.input_tokens={row['input_tokens']}",
        f"workload.output_tokens={row['output_tokens']}",
        "workload.ttft_slo_s=null", f"workload.tpot_slo_s={tpot}", "workload.tpot_quantile=null",
        "finance.years=1", "output.float32=false",
    ]  # fmt: skip
    if row["max_batch_per_accelerator"]:
        per_replica = int(row["max_batch_per_accelerator"]) * int(row["tp"])
        result.append(f"deployment.max_batch={per_replica}")
    return result


def predict(row: dict[str, str]) -> tuple[float, str]:
    """Return (predicted tokens/s per accelerator, layout text) for one row (NaN if infeasible)."""
    ds = api.run(overrides(row)).squeeze()
    code = int(ds.status)
    if code != st.FEASIBLE:
        return float("nan"), st.MEANINGS[code][0]
    value = float(ds[PREDICTED[row["phase"]]])
    if row["phase"] == "prefill":
        layout = (f"TP{ds.prefill_tensor_parallel:.0f} ADP{ds.prefill_attention_data_parallel:.0f}"
                  f" EP{ds.prefill_expert_parallel:.0f}")  # fmt: skip
    else:
        layout = (f"TP{ds.tensor_parallel:.0f} ADP{ds.attention_data_parallel:.0f} "
                  f"EP{ds.expert_parallel:.0f} B/GPU {ds.batch_size / ds.accelerators_per_replica:.0f}")  # fmt: skip
    return value, layout


def report(out=sys.stdout) -> dict[str, float]:
    """Print predicted vs published per row and the median |error|; return row -> error [%]."""
    rows = load_rows()
    print(
        "\nDISAGGREGATED SERVING vs published deployments (data/validation_disaggregated.csv): "
        "prefill rows compare input tokens/s per prefill GPU (full load), decode rows output "
        "tokens/s per decode GPU",
        file=out,
    )
    print(
        f"  {'id':5s} {'phase':10s} {'model':12s} {'hardware':9s} {'engine':7s} "
        f"{'fleetsim layout':28s} {'published':>9s} {'predicted':>9s} {'err%':>7s}",
        file=out,
    )
    errors = {}
    for row in rows:
        predicted, layout = predict(row)
        measured = float(row["measured_tokens_per_s_per_accelerator"])
        error = 100 * (predicted / measured - 1)
        errors[row["row_id"]] = error
        print(
            f"  {row['row_id']:5s} {row['phase']:10s} {row['model_id']:12s} "
            f"{row['hardware_id']:9s} {row['engine']:7s} {layout:28s} {measured:9.0f} "
            f"{predicted:9.0f} {error:+7.1f}",
            file=out,
        )
    values = np.array([e for e in errors.values() if np.isfinite(e)])
    if values.size:
        print(
            f"  median |error| {np.median(np.abs(values)):.1f} %, worst {np.max(np.abs(values)):.1f} %"
            f" over {values.size} rows; settings per row in its note",
            file=out,
        )
    return errors


if __name__ == "__main__":
    report()
