"""Trade-off fronts: the scenarios no other scenario beats on two objectives at once.

Serving frontiers over the same sweep (e.g. cost against tokens per second per user) belong here
beside :func:`pareto_front`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

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
