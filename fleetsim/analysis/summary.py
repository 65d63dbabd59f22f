"""The text the CLI prints after a run: what was swept, the ranked options, why some failed.

The ranking is :func:`fleetsim.analysis.decision.decision_table`; infeasible options get the
reason in words and the change that would most likely make them feasible.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from fleetsim import status
from fleetsim.analysis.decision import decision_table
from fleetsim.analysis.dims import SAMPLE, scenario_dims
from fleetsim.units import display

#: most options the printed table shows (the rest are counted)
MAX_ROWS = 12


def money(value: float) -> str:
    """Return ``$1.23M``-style text (``-`` for NaN)."""
    if not np.isfinite(value):
        return "-"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"${value / scale:,.3g}{suffix}"
    return "$" + np.format_float_positional(value, precision=3, fractional=False, trim="-")


def power(watts: float) -> str:
    """Return ``13.9 kW`` / ``1.2 MW``-style text (``-`` for NaN)."""
    if not np.isfinite(watts):
        return "-"
    for scale, suffix in ((1e9, "GW"), (1e6, "MW"), (1e3, "kW")):
        if abs(watts) >= scale:
            return f"{watts / scale:.3g} {suffix}"
    return f"{watts:.3g} W"


def _ms(seconds: float) -> str:
    return "-" if not np.isfinite(seconds) else f"{seconds * 1e3:,.0f} ms"


def _ranged(row: pd.Series, name: str, fmt) -> str:
    """Return ``central (low-high)`` when the option's value varies, else ``central``."""
    central, low, high = row[name], row[f"{name}_low"], row[f"{name}_high"]
    if not np.isfinite(central):
        return "-"
    if np.isclose(low, high, rtol=1e-6) and np.isclose(low, central, rtol=1e-6):
        return fmt(central)
    return f"{fmt(central)} ({fmt(low)}-{fmt(high)})"


def _rent(row: pd.Series) -> str:
    rent = row.get("rent_tco_usd", np.nan)
    if not np.isfinite(rent) or not np.isfinite(row["tco_usd"]):
        return "-"
    return f"{money(rent)} ({'cheaper' if rent < row['tco_usd'] else 'dearer'})"


def _parallel(row: pd.Series, prefix: str = "") -> str:
    """Return ``TP8xPP1`` (plus ``ADP8 EP8`` for data-parallel attention / expert parallelism)."""
    tp, pp = row[f"{prefix}tensor_parallel"], row[f"{prefix}pipeline_parallel"]
    text = f"TP{tp:.0f}xPP{pp:.0f}"
    adp = row.get(f"{prefix}attention_data_parallel", np.nan)
    ep = row.get(f"{prefix}expert_parallel", np.nan)
    if np.isfinite(adp) and np.isfinite(ep) and (adp > 1 or ep > 1):
        text += f" ADP{adp:.0f} EP{ep:.0f}"
    return text


def _layout(row: pd.Series) -> str:
    """Return a row's layout: the replica's, or each pool's when prefill and decode are apart."""
    if np.isnan(row["tensor_parallel"]):
        return "-"
    if np.isfinite(row.get("prefill_tensor_parallel", np.nan)):
        return f"prefill {_parallel(row, 'prefill_')} / decode {_parallel(row)}"
    return _parallel(row)


def _pools(row: pd.Series) -> str:
    """Return ``128 + 256 (0.50)``: prefill and decode accelerators and their ratio, or ``-``."""
    prefill = row.get("prefill_accelerators", np.nan)
    decode = row.get("decode_accelerators", np.nan)
    if not (np.isfinite(prefill) and np.isfinite(decode)):
        return "-"
    ratio = f" ({prefill / decode:.2f})" if decode > 0 else ""
    return f"{prefill:,.0f} + {decode:,.0f}{ratio}"


def table_cells(table: pd.DataFrame, options: list[Hashable]) -> dict[str, list[str]]:
    """Return header -> cells (words, money, kW/MW, ms) of a :func:`decision_table`."""
    cells: dict[str, list[str]] = {"#": [str(r) for r in table["rank"]]}
    for dim in options:
        cells[str(dim)] = [str(v) for v in table[dim]]
    rows = [row for _, row in table.iterrows()]
    cells["TCO"] = [_ranged(r, "tco_usd", money) for r in rows]
    cells["NPV"] = [money(r["npv_usd"]) for r in rows]
    cells["accelerators"] = [
        "-" if np.isnan(r["accelerators"]) else f"{r['accelerators']:,.0f}" for r in rows
    ]
    cells["power"] = [power(r["facility_power_w"]) for r in rows]
    cells["$/M in"] = [money(r["usd_per_million_input_tokens"]) for r in rows]
    cells["$/M out"] = [_ranged(r, "usd_per_million_output_tokens", money) for r in rows]
    cells["util."] = [
        "-" if np.isnan(r["utilisation"]) else f"{r['utilisation']:.0%}" for r in rows
    ]
    cells["TTFT"] = [_ms(r["ttft_s"]) for r in rows]
    cells["TPOT"] = [_ms(r["tpot_s"]) for r in rows]
    if "mix" not in options:
        cells["layout"] = [_layout(r) for r in rows]
    if any(np.isfinite(r.get("prefill_accelerators", np.nan)) for r in rows):
        cells["prefill + decode pools"] = [_pools(r) for r in rows]
    cells["if rented"] = [_rent(r) for r in rows]
    cells["feasible"] = list(table["feasible"])
    return cells


def _render(cells: dict[str, list[str]]) -> list[str]:
    """Return the table as aligned text lines."""
    widths = {h: max(len(h), *(len(c) for c in col)) for h, col in cells.items()}
    lines = ["  ".join(h.ljust(widths[h]) for h in cells).rstrip()]
    for i in range(len(next(iter(cells.values())))):
        lines.append("  ".join(cells[h][i].ljust(widths[h]) for h in cells).rstrip())
    return lines


def _settings(ds: xr.Dataset) -> dict:
    """Return the run's config (``config_yaml``), or {} when the file has none."""
    try:
        return yaml.safe_load(str(ds.attrs.get("config_yaml", ""))) or {}
    except yaml.YAMLError:
        return {}


def fix_hint(code: int, settings: dict) -> str:
    """Return the change most likely to make a scenario of status ``code`` feasible.

    Parameters
    ----------
    code : int
        A :mod:`fleetsim.status` code.
    settings : dict
        The run's config (``deployment.tp`` etc.), to suggest only what is not already set.

    Returns
    -------
    str
        Overrides to try, in words.
    """
    deployment = settings.get("deployment", {}) if isinstance(settings, dict) else {}
    layout = []
    if deployment.get("tp") != "auto":
        layout.append("deployment.tp=auto")
    if deployment.get("pp") != "auto":
        layout.append("deployment.pp=auto")
    more = " ".join(layout) or "more memory per replica (hardware with more HBM)"
    hints = {
        status.WEIGHTS_DO_NOT_FIT: f"try {more}, or deployment.weight_dtype=fp8",
        status.CONTEXT_TOO_LONG: "try shorter workload.input_tokens / output_tokens, or a model "
        "with a longer context",
        status.KV_DOES_NOT_FIT: f"try deployment.kv_dtype=fp8, {more}, or shorter prompts",
        status.TPOT_UNREACHABLE: "try a looser workload.tpot_slo_s, "
        + ("deployment.tp=auto, " if "deployment.tp=auto" in layout else "")
        + "faster hardware, or speculative decoding (deployment.draft_model)",
        status.TTFT_UNREACHABLE: "try a looser workload.ttft_slo_s, "
        + ("deployment.tp=auto, " if "deployment.tp=auto" in layout else "")
        + "shorter prompts, or faster hardware",
        status.RACK_POWER_EXCEEDED: "try facility=liquid (more kW per rack)",
        status.ZERO_DEMAND: "set workload.requests_per_day above 0",
        status.MORE_STAGES_THAN_LAYERS: "try a smaller deployment.pp, or deployment.pp=auto",
        status.KV_TRANSFER_TOO_SLOW: "try deployment.tp=auto (prefill and decode replicas that "
        "share a scale-up domain send the KV cache over it), a faster network.fabric, "
        "deployment.kv_dtype=fp8, or deployment.serving=aggregated",
    }
    return hints.get(code, "see the status variable")


def _infeasible_lines(ds: xr.Dataset, table: pd.DataFrame, options: list[Hashable]) -> list[str]:
    """Return one line per reason of infeasibility: where it happens, why, and what to try."""
    settings = _settings(ds)
    lines = []
    codes, counts = np.unique(ds["status"].values, return_counts=True)
    for code, count in zip(codes, counts, strict=True):
        if code == status.FEASIBLE:
            continue
        meaning, why = status.MEANINGS[int(code)]
        where = [
            ", ".join(f"{d}={row[d]}" for d in options)
            for _, row in table.iterrows()
            if meaning in row["infeasible_because"]
        ]
        shown = "; ".join(where[:4]) + (f"; +{len(where) - 4} more" if len(where) > 4 else "")
        lines.append(
            f"infeasible ({meaning}, {count:,} scenario{'' if count == 1 else 's'}; {shown}): {why}; "
            f"{fix_hint(int(code), settings)}"
        )
    return lines


def _condition_text(ds: xr.Dataset, conditions: dict) -> str:
    parts = []
    for dim, values in conditions.items():
        units = display(str(ds[dim].attrs.get("units", "1")), ds[dim].attrs.get("currency"))
        if isinstance(values, tuple) and len(values) == 2 and not isinstance(values[0], str):
            text = f"{values[0]:g}-{values[1]:g}"
        else:
            text = ", ".join(map(str, values))
        parts.append(f"{dim} {text}" + (f" {units}" if units else ""))
    return "; ".join(parts)


def summarise(ds: xr.Dataset, decide_over: Sequence[Hashable] | None = None) -> str:
    """Return the sweep's description, its ranked options and why any scenario is infeasible.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim output.
    decide_over : sequence of hashable, optional
        Decision dimensions (default :data:`fleetsim.analysis.decision.DECIDE_OVER`).

    Returns
    -------
    str
        A first line with the dimensions and status counts; the decision table (cheapest
        first, ranges over the conditions, or P10-P90 with Monte Carlo); one line per kind of
        infeasibility naming the reason and the change to try.
    """
    dims = {d: ds.sizes[d] for d in ds["status"].dims}
    n = int(np.prod(list(dims.values())))
    codes, counts = np.unique(ds["status"].values, return_counts=True)
    flags = ", ".join(
        f"{status.MEANINGS[int(c)][0]} {k:,}" for c, k in zip(codes, counts, strict=True)
    )
    lines = [
        f"scenarios: {n:,} over " + " x ".join(f"{d}({k})" for d, k in dims.items()) + f"; {flags}"
    ]
    table = decision_table(ds, decide_over)
    options = [d for d in scenario_dims(ds["status"]) if d in table.columns]
    years = ds.sizes["year"]
    spread = []
    if table.attrs["conditions"]:
        spread.append("median (best-worst) over " + _condition_text(ds, table.attrs["conditions"]))
    if SAMPLE in ds.dims:
        spread.append(f"P10-P90 over {ds.sizes[SAMPLE]:,} Monte Carlo draws")
    feasible = table["tco_usd"].notna()
    if not feasible.any():
        lines.append("no feasible option")
    else:
        lines.append(
            f"options by TCO over {years} years (fleet, power and utilisation in year {years}; "
            "$ per million tokens in year 1" + (f"; {'; '.join(spread)}" if spread else "") + "):"
        )
        shown = table[feasible].head(MAX_ROWS)
        lines += ["  " + line for line in _render(table_cells(shown, options))]
        if feasible.sum() > MAX_ROWS:
            lines.append(f"  ... {int(feasible.sum()) - MAX_ROWS} more feasible options")
    lines += _infeasible_lines(ds, table, options)
    return "\n".join(lines)
