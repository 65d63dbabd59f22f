"""Trade-off fronts: the scenarios no other scenario beats on two objectives at once.

:func:`pareto_front` trades cost against latency; :func:`interactivity_frontier` is the serving
frontier of throughput per accelerator against tokens per second per user.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from fleetsim.analysis.dims import mean_over_samples
from fleetsim.analysis.selection import scenario_table


def pareto_front(
    ds: xr.Dataset,
    cost: str = "cost_per_million_output_tokens_usd",
    latency: str = "ttft_s",
    year: int | None = None,
) -> pd.DataFrame:
    """Return the scenarios that no other scenario beats on both cost and latency.

    A point is dominated when another is no worse on both objectives and strictly better on one;
    identical points do not dominate each other. Infeasible (NaN) scenarios are skipped.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    cost : str, default "cost_per_million_output_tokens_usd"
        Cost variable to minimise. [USD]
    latency : str, default "ttft_s"
        Latency variable to minimise. [s]
    year : int, optional
        Year used for per-year variables. Default: the last year. [year]

    Returns
    -------
    pandas.DataFrame
        The non-dominated rows, sorted by ascending cost, with one column per dimension label
        plus ``cost`` and ``latency`` columns named after the variables.
    """
    table = scenario_table(ds, [cost, latency], year).dropna(subset=[cost, latency])
    points = table[[cost, latency]].drop_duplicates().sort_values([cost, latency])
    best_before = np.minimum.accumulate(np.r_[np.inf, points[latency].to_numpy()[:-1]])
    front = points[points[latency].to_numpy() < best_before]
    rows = table.merge(front, on=[cost, latency])
    return rows.sort_values([cost, latency], kind="stable").reset_index(drop=True)


#: layout and batch columns carried along with each frontier point (when the Dataset has them)
FRONTIER_DETAILS = (
    "batch_size", "tensor_parallel", "pipeline_parallel", "attention_data_parallel",
    "expert_parallel", "tpot_p99_s",
)  # fmt: skip


#: the outputs :func:`both_pools_throughput` reads
_POOL_INPUTS = (
    "tokens_per_s_per_accelerator", "accelerators_per_replica", "replica_requests_per_s",
    "prefill_accelerators_per_replica", "prefill_replica_requests_per_s",
)  # fmt: skip


def both_pools_throughput(ds: xr.Dataset) -> xr.DataArray:
    """Return generated tokens/s per accelerator at full load, the prefill pool's counted too.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result with the outputs of :data:`_POOL_INPUTS`.

    Returns
    -------
    xarray.DataArray
        ``tokens_per_s_per_accelerator`` of an aggregated scenario; for a disaggregated one
        :math:`O / (n_d / r_d + n_p / r_p)`: a request's output tokens over the accelerator-
        seconds it takes in the decode pool (``n_d`` accelerators per replica serving ``r_d``
        requests/s) and in the prefill pool, with :math:`O = x_d n_d / r_d` from the decode
        pool's tokens/s per accelerator :math:`x_d`. [s-1]
    """
    decode = ds["tokens_per_s_per_accelerator"]
    decode_time = ds["accelerators_per_replica"] / ds["replica_requests_per_s"]
    prefill_time = ds["prefill_accelerators_per_replica"] / ds["prefill_replica_requests_per_s"]
    both = decode * decode_time / (decode_time + prefill_time)
    return decode.where(prefill_time.isnull(), both)


def interactivity_frontier(
    ds: xr.Dataset,
    by: Sequence[Hashable] = ("hardware",),
    throughput: str = "tokens_per_s_per_accelerator",
) -> pd.DataFrame:
    """Return the throughput-interactivity frontier: tokens/s per accelerator against per user.

    Every feasible scenario is a point: interactivity ``1 / tpot_s`` (the tokens per second one
    user sees) and ``throughput`` (generated tokens per second per accelerator). Within each
    group of ``by`` labels (one curve per accelerator, say) only the points that no other point
    beats on both are kept -- the curve serving benchmarks compare accelerators and software
    stacks on, here from one sweep over the TPOT target (``workload.tpot_slo_s``), the
    concurrency (``deployment.max_batch``) or the layout. A disaggregated scenario's
    ``tokens_per_s_per_accelerator`` counts both pools (:func:`both_pools_throughput`), so its
    points stand beside the aggregated ones (``by=("hardware", "serving")`` draws each mode).

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result with ``tpot_s`` and ``throughput``.
    by : sequence of hashable, default ("hardware",)
        Dimensions whose labels make separate curves; those the Dataset lacks are ignored.
    throughput : str, default "tokens_per_s_per_accelerator"
        Per-accelerator throughput variable (``max_tokens_per_s_per_accelerator`` for the
        ceiling without a latency bound). [s-1]

    Returns
    -------
    pandas.DataFrame
        One row per frontier point, grouped in ``by`` order and sorted by ascending
        interactivity, with the dimension labels, ``tokens_per_s_per_user`` [s-1],
        ``throughput`` and the layout columns of :data:`FRONTIER_DETAILS`; along a curve the
        throughput falls as the interactivity rises.
    """
    ds = mean_over_samples(ds)
    if throughput == "tokens_per_s_per_accelerator" and set(_POOL_INPUTS) <= set(ds.data_vars):
        ds = ds.assign({throughput: both_pools_throughput(ds)})
    details = [name for name in FRONTIER_DETAILS if name in ds and name != throughput]
    table = scenario_table(ds, ["tpot_s", throughput, *details])
    table = table.dropna(subset=["tpot_s", throughput])
    table["tokens_per_s_per_user"] = 1.0 / table["tpot_s"]
    groups = [dim for dim in by if dim in table.columns]
    parts = []
    for _, part in table.groupby(groups, sort=False) if groups else [((), table)]:
        part = part.sort_values(["tokens_per_s_per_user", throughput], ascending=False)
        best_faster = np.maximum.accumulate(np.r_[-np.inf, part[throughput].to_numpy()[:-1]])
        parts.append(part[part[throughput].to_numpy() > best_faster].iloc[::-1])
    front = pd.concat(parts) if parts else table.iloc[:0]
    return front.reset_index(drop=True)
