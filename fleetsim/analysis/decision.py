"""The decision table: the options a planner chooses between, ranked, with what each implies.

An *option* is one combination of labels along the decision dimensions (:data:`DECIDE_OVER`:
hardware or hardware mix, parallel layout, serving mode); every other swept dimension
(electricity price, traffic, Monte Carlo draws, ...) is a *condition* the planner does not
choose, so it is shown as a range rather than searched for a minimum.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from fleetsim import status
from fleetsim.analysis.dims import SAMPLE, YEAR, at_year, scenario_dims

#: dimensions a planner chooses (when swept); the others are conditions shown as ranges
DECIDE_OVER: tuple[str, ...] = (
    "hardware",
    "mix",
    "tp",
    "pp",
    "ep",
    "weight_dtype",
    "kv_dtype",
    "prefill",
    "serving",
    "prefill_hardware",
    "draft_model",
    "max_batch",
    "cooling",
    "fabric",
)


@dataclass(frozen=True)
class Metric:
    """One column group of the decision table.

    Parameters
    ----------
    name : str
        Column name in the table.
    variable : str
        Dataset variable it is read from.
    label : str
        Words for the printed table.
    year : str
        ``"last"`` or ``"first"`` for per-year variables (ignored for the others).
    """

    name: str
    variable: str
    label: str
    year: str = "last"


METRICS: tuple[Metric, ...] = (
    Metric("tco_usd", "tco_usd", "TCO over the horizon [USD]"),
    Metric("npv_usd", "npv_usd", "NPV of the costs [USD]"),
    Metric("accelerators", "accelerators", "accelerators, last year"),
    Metric("facility_power_w", "facility_power_w", "facility power, last year [W]"),
    Metric(
        "usd_per_million_input_tokens",
        "cost_per_million_input_tokens_usd",
        "USD per million input tokens, year 1",
        "first",
    ),
    Metric(
        "usd_per_million_output_tokens",
        "cost_per_million_output_tokens_usd",
        "USD per million output tokens, year 1",
        "first",
    ),
    Metric("utilisation", "utilisation", "utilisation, last year"),
    Metric("ttft_s", "ttft_s", "time to first token [s]"),
    Metric("tpot_s", "tpot_s", "time per output token [s]"),
    Metric("rent_tco_usd", "rent_tco_usd", "TCO if rented [USD]"),
    Metric("tensor_parallel", "tensor_parallel", "tensor parallel"),
    Metric("pipeline_parallel", "pipeline_parallel", "pipeline stages"),
    Metric("attention_data_parallel", "attention_data_parallel", "attention data-parallel groups"),
    Metric("expert_parallel", "expert_parallel", "expert parallel"),
    # disaggregated serving: the prefill pool's layout and both pools' sizes
    Metric("prefill_tensor_parallel", "prefill_tensor_parallel", "prefill tensor parallel"),
    Metric("prefill_pipeline_parallel", "prefill_pipeline_parallel", "prefill pipeline stages"),
    Metric(
        "prefill_attention_data_parallel",
        "prefill_attention_data_parallel",
        "prefill attention data-parallel groups",
    ),
    Metric("prefill_expert_parallel", "prefill_expert_parallel", "prefill expert parallel"),
    Metric("prefill_accelerators", "prefill_accelerators", "prefill pool, last year"),
    Metric("decode_accelerators", "decode_accelerators", "decode pool, last year"),
)


def decision_dims(ds: xr.Dataset, decide_over: Sequence[Hashable] | None = None) -> list[Hashable]:
    """Return the decision dimensions of ``ds``: those of ``decide_over`` it has, in its order.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    decide_over : sequence of hashable, optional
        Candidate decision dimensions. Default: the run's ``analysis.decide_over`` (from the
        ``config_yaml`` attribute), else :data:`DECIDE_OVER`.

    Returns
    -------
    list of hashable
        ``hardware`` (or ``mix``) always, and the other candidates that are swept.
    """
    if decide_over is None:
        decide_over = _configured(ds) or DECIDE_OVER
    wanted = tuple(decide_over)
    dims = scenario_dims(ds["status"])
    return [d for d in dims if d in wanted and (ds.sizes[d] > 1 or d in ("hardware", "mix"))]


def _configured(ds: xr.Dataset) -> list[str] | None:
    """Return ``analysis.decide_over`` of the run that wrote ``ds`` (None when unset)."""
    try:
        settings = yaml.safe_load(str(ds.attrs.get("config_yaml", ""))) or {}
    except yaml.YAMLError:
        return None
    analysis = settings.get("analysis") if isinstance(settings, dict) else None
    return analysis.get("decide_over") if isinstance(analysis, dict) else None


def _cube(da: xr.DataArray, options: list[Hashable], conditions: list[Hashable]) -> np.ndarray:
    """Return ``da`` as a float array (option, condition, sample) in the options' stacked order."""
    if SAMPLE not in da.dims:
        da = da.expand_dims(SAMPLE)
    for dim in (*options, *conditions):
        if dim not in da.dims:
            da = da.expand_dims(dim)
    values = np.asarray(da.transpose(*options, *conditions, SAMPLE).values, dtype=float)
    n_options = int(np.prod([da.sizes[d] for d in options]))
    return values.reshape(n_options, -1, da.sizes[SAMPLE])


def _summaries(cube: np.ndarray, draws: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (central, low, high) per option of an (option, condition, sample) cube.

    central: median over conditions and draws; low/high: the best and worst condition (with
    draws: the P10 of the best, the P90 of the worst).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        flat = cube.reshape(cube.shape[0], -1)
        central = np.nanmedian(flat, axis=1) if flat.shape[1] > 1 else flat[:, 0]
        if draws:
            low = np.nanmin(np.nanquantile(cube, 0.1, axis=2), axis=1)
            high = np.nanmax(np.nanquantile(cube, 0.9, axis=2), axis=1)
        else:
            low, high = np.nanmin(flat, axis=1), np.nanmax(flat, axis=1)
    return central, low, high


def _reasons(ds: xr.Dataset, options: list[Hashable], conditions: list[Hashable]) -> list[str]:
    """Return, per option, ``"meaning x n"`` of its infeasible scenarios (most common first)."""
    codes = _cube(ds["status"].astype(float), options, conditions)
    words = []
    for row in codes.reshape(codes.shape[0], -1):
        found, counts = np.unique(row[row != status.FEASIBLE], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        words.append(", ".join(f"{status.MEANINGS[int(found[i])][0]} x{counts[i]}" for i in order))
    return words


def decision_table(
    ds: xr.Dataset, decide_over: Sequence[Hashable] | None = None, year: int | None = None
) -> pd.DataFrame:
    """Rank the options over the decision dimensions by their TCO.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result (any sweep, with or without Monte Carlo ``sample``).
    decide_over : sequence of hashable, optional
        Dimensions the planner chooses (default: the run's ``analysis.decide_over``, else
        :data:`DECIDE_OVER`; only those swept count, plus ``hardware`` or ``mix``). Every other
        swept dimension is a condition.
    year : int, optional
        Year of the per-year variables read at the "last" year (TCO, NPV, fleet size, power,
        utilisation). Default: the last year. [year]

    Returns
    -------
    pandas.DataFrame
        One row per option, cheapest first (options infeasible everywhere last), with columns:
        ``rank``; one per decision dimension (its label); ``feasible`` (feasible scenarios of
        the option / all of them); ``infeasible_because`` (status meanings with counts); and
        for each metric of :data:`METRICS` present in ``ds``: ``<name>`` (median over the
        conditions and draws) plus ``<name>_low`` / ``<name>_high`` (best and worst condition;
        with Monte Carlo the P10 of the best and the P90 of the worst, so without conditions
        they are the P10 and P90). ``rent_cheaper`` says whether renting beats owning at the
        median. ``attrs["conditions"]`` lists the condition dimensions and their ranges,
        ``attrs["labels"]`` the metrics' words and ``attrs["draws"]`` the Monte Carlo draws.
    """
    options = decision_dims(ds, decide_over)
    conditions = [d for d in scenario_dims(ds["status"]) if d not in options]
    draws = ds.sizes.get(SAMPLE, 0)
    index = pd.MultiIndex.from_product([ds[d].values for d in options], names=options)
    table = index.to_frame(index=False)
    feasible = _cube((ds["status"] == status.FEASIBLE).astype(float), options, conditions)
    count = feasible.reshape(feasible.shape[0], -1)
    table["feasible"] = [f"{int(row.sum())}/{row.size}" for row in count]
    table["infeasible_because"] = _reasons(ds, options, conditions)
    labels = {}
    for metric in METRICS:
        if metric.variable not in ds.data_vars:
            continue
        da = ds[metric.variable]
        if YEAR in da.dims:
            da = da.isel({YEAR: 0}) if metric.year == "first" else at_year(da, year)
        central, low, high = _summaries(_cube(da, options, conditions), draws > 0)
        table[metric.name], table[f"{metric.name}_low"], table[f"{metric.name}_high"] = (
            central,
            low,
            high,
        )
        labels[metric.name] = metric.label
    if {"tco_usd", "rent_tco_usd"} <= set(table.columns):
        cheaper = table["rent_tco_usd"] < table["tco_usd"]
        known = table["rent_tco_usd"].notna() & table["tco_usd"].notna()
        table["rent_cheaper"] = cheaper.astype(object).where(known, None)
    key = table["tco_usd"] if "tco_usd" in table else pd.Series(np.nan, index=table.index)
    table = table.iloc[np.argsort(key.fillna(np.inf).to_numpy(), kind="stable")]
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table = table.reset_index(drop=True)
    table.attrs["conditions"] = {
        str(d): (ds[d].values.min(), ds[d].values.max())
        if ds[d].dtype.kind in "iuf"
        else tuple(ds[d].values.tolist())
        for d in conditions
        if ds.sizes[d] > 1
    }
    table.attrs["labels"] = labels
    table.attrs["draws"] = draws
    return table
