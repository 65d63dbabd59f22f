"""Pick the best options of a sweep and flatten variables into tables."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from fleetsim.analysis.dims import at_year, mean_over_samples, scenario_dims


def cheapest(
    ds: xr.Dataset,
    var: str = "tco_usd",
    over: Sequence[Hashable] = ("hardware",),
    year: int | None = None,
) -> xr.Dataset:
    """Find the minimum of ``var`` over the ``over`` dimensions for every other slice.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    var : str, default "tco_usd"
        Variable to minimise. [its registry units]
    over : sequence of hashable, default ("hardware",)
        Dimensions to search jointly for the minimum.
    year : int, optional
        Year used when ``var`` is per year. Default: the last year. [year]

    Returns
    -------
    xarray.Dataset
        Over the remaining dimensions: ``var`` holding the minimum, and ``best_<dim>`` for each
        dimension in ``over`` holding the coordinate label that attains it. NaN (infeasible)
        options are skipped; where every option is NaN the minimum is NaN and the label is ``""``
        (string coordinates) or NaN (numeric coordinates).

    Raises
    ------
    ValueError
        If a dimension in ``over`` is not a dimension of ``var``.
    """
    da = at_year(ds[var], year)
    missing = [dim for dim in over if dim not in da.dims]
    if missing:
        raise ValueError(f"{var} has no dimension {missing}; its dimensions are {list(da.dims)}")
    rest = [dim for dim in da.dims if dim not in over]
    values = np.asarray(da.transpose(*rest, *over).values, dtype=float)
    flat = values.reshape(values.shape[: len(rest)] + (-1,))
    infeasible = np.isnan(flat).all(axis=-1)
    index = np.argmin(np.where(np.isnan(flat), np.inf, flat), axis=-1)
    minimum = np.where(infeasible, np.nan, np.take_along_axis(flat, index[..., None], -1)[..., 0])
    template = da.isel({dim: 0 for dim in over}, drop=True)
    out = xr.Dataset({var: template.copy(data=minimum)})
    positions = np.unravel_index(index, [da.sizes[dim] for dim in over])
    for dim, position in zip(over, positions, strict=True):
        labels = np.asarray(np.take(da[dim].values, position))
        empty = "" if labels.dtype.kind in "OUS" else np.nan
        out[f"best_{dim}"] = template.copy(data=np.where(infeasible, empty, labels))
        out[f"best_{dim}"].attrs = {
            "long_name": f"{da[dim].attrs.get('long_name', dim)} with the lowest {var}"
        }
    return out


def cheapest_scenario(ds: xr.Dataset, var: str = "tco_usd", year: int | None = None) -> dict:
    """Return the coordinate labels of the scenario with the lowest ``var``.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result; a ``sample`` dimension is reduced to its mean first.
    var : str, default "tco_usd"
        Variable to minimise. [its registry units]
    year : int, optional
        Year used when ``var`` is per year. Default: the last year. [year]

    Returns
    -------
    dict
        ``{dimension: label}`` for every scenario dimension of ``var``.

    Raises
    ------
    ValueError
        If every scenario is infeasible (``var`` all NaN).
    """
    da = mean_over_samples(ds[var])
    dims = scenario_dims(da)
    best = cheapest(da.to_dataset(), var, over=dims, year=year)
    if np.isnan(float(best[var])):
        raise ValueError(f"no feasible scenario: {var} is NaN everywhere")
    return {dim: best[f"best_{dim}"].values.item() for dim in dims}


def scenario_table(
    ds: xr.Dataset, variables: Sequence[str], year: int | None = None
) -> pd.DataFrame:
    """Flatten variables into one row per scenario (and sample).

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    variables : sequence of str
        Variables to tabulate; per-year ones are taken at ``year``.
    year : int, optional
        Year used for per-year variables. Default: the last year. [year]

    Returns
    -------
    pandas.DataFrame
        One column per dimension label and one per variable, one row per scenario.
    """
    columns = {name: at_year(ds[name], year).reset_coords(drop=True) for name in variables}
    table = xr.Dataset(columns)
    order = [dim for dim in ds.dims if dim in table.dims]
    return table.to_dataframe(dim_order=order).reset_index()
