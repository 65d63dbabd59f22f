"""One-at-a-time (tornado) sensitivity of a variable to each swept dimension."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fleetsim.analysis.dims import at_year, mean_over_samples, scenario_dims


def _default_baseline(da: xr.DataArray) -> dict[Hashable, Any]:
    """Return the middle coordinate label (index ``n // 2``) of every scenario dimension."""
    return {dim: da[dim].values[da.sizes[dim] // 2] for dim in scenario_dims(da)}


def _is_numeric(coord: xr.DataArray) -> bool:
    """Return True for an int or float coordinate (ordered values rather than categories)."""
    return coord.dtype.kind in "iuf"


def _plain(label: Any) -> Any:
    """Return a numpy scalar or 0-d array label as the equivalent Python object."""
    return label.item() if isinstance(label, np.generic | np.ndarray) else label


def _swing_row(line: xr.DataArray, dim: Hashable) -> dict[str, Any]:
    """Return the low/high labels and values of a 1-D line over ``dim``."""
    coord = line[dim]
    if _is_numeric(coord):
        low, high = coord.values.min(), coord.values.max()
    else:
        feasible = line.dropna(dim)
        if feasible.size == 0:
            return {"low": "", "high": "", "value_at_low": np.nan, "value_at_high": np.nan}
        low, high = feasible.idxmin(dim).values, feasible.idxmax(dim).values
    low, high = _plain(low), _plain(high)
    return {
        "low": low,
        "high": high,
        "value_at_low": float(line.sel({dim: low})),
        "value_at_high": float(line.sel({dim: high})),
    }


def sensitivity(
    ds: xr.Dataset,
    var: str = "tco_usd",
    year: int | None = None,
    baseline: Mapping[Hashable, Any] | None = None,
) -> pd.DataFrame:
    """Build a one-at-a-time (tornado) sensitivity table of ``var``.

    Each swept dimension (more than one value) is varied alone, every other dimension held at
    its baseline label. A numeric dimension is read at its lowest and highest coordinate value.
    A categorical one (``hardware``, ``model``, ``weight_dtype``, ...) has no order, so it is read
    at the feasible options giving the lowest and highest ``var``.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result; a ``sample`` dimension is reduced to its mean first.
    var : str, default "tco_usd"
        Variable to study. [its registry units]
    year : int, optional
        Year used when ``var`` is per year. Default: the last year. [year]
    baseline : mapping, optional
        ``{dimension: label}`` of the baseline scenario; dimensions left out default to their
        middle label (index ``n // 2``).

    Returns
    -------
    pandas.DataFrame
        Columns ``dim``, ``baseline`` (label), ``low``, ``high`` (labels), ``value_at_low``,
        ``value_at_high``, ``value_at_baseline`` and ``swing`` = ``|value_at_high -
        value_at_low|`` (units of ``var``), sorted by decreasing swing (NaN last).

    Raises
    ------
    ValueError
        If ``baseline`` names a dimension that ``var`` does not have.
    """
    da = mean_over_samples(at_year(ds[var], year))
    unknown = set(baseline or {}) - set(scenario_dims(da))
    if unknown:
        raise ValueError(f"baseline names unknown dimensions {sorted(map(str, unknown))}")
    base = _default_baseline(da) | dict(baseline or {})
    base_value = float(da.sel(base))
    rows = []
    for dim in scenario_dims(da):
        if da.sizes[dim] < 2:
            continue
        line = da.sel({other: label for other, label in base.items() if other != dim})
        rows.append(
            {"dim": dim, "baseline": base[dim]}
            | _swing_row(line, dim)
            | {"value_at_baseline": base_value}
        )
    columns = ["dim", "baseline", "low", "high", "value_at_low", "value_at_high"]
    table = pd.DataFrame(rows, columns=[*columns, "value_at_baseline"])
    table["swing"] = (table["value_at_high"] - table["value_at_low"]).abs()
    table = table.sort_values("swing", ascending=False, na_position="last", kind="stable")
    return table.reset_index(drop=True)
