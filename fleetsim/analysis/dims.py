"""Dimension conventions of a fleetsim result and the reductions every helper shares.

``hardware`` and ``model`` always exist; every swept config scalar is a dimension named after its
config leaf key; ``year`` (1..N) is a dimension of the per-year variables; ``sample`` holds Monte
Carlo draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

import xarray as xr

#: dimensions that are not scenario (config) dimensions
YEAR = "year"
SAMPLE = "sample"
NON_SCENARIO_DIMS = (YEAR, SAMPLE)


@contextmanager
def infeasible_slices_expected() -> Iterator[None]:
    """Silence numpy's warnings for all-NaN slices, i.e. scenarios infeasible in every draw."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        yield


def scenario_dims(obj: xr.Dataset | xr.DataArray) -> list[Hashable]:
    """Return the scenario dimensions of ``obj`` (every dimension but ``year`` and ``sample``).

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        A fleetsim result or one of its variables.

    Returns
    -------
    list of hashable
        Dimension names in the object's order.
    """
    return [dim for dim in obj.dims if dim not in NON_SCENARIO_DIMS]


def at_year(da: xr.DataArray, year: int | None = None) -> xr.DataArray:
    """Select one year of a per-year variable; leave other variables unchanged.

    Parameters
    ----------
    da : xarray.DataArray
        A fleetsim output variable.
    year : int, optional
        Year to select (1-based label). Default: the last year. [year]

    Returns
    -------
    xarray.DataArray
        ``da`` without the ``year`` dimension (``year`` kept as a scalar coordinate).
    """
    if YEAR not in da.dims:
        return da
    return da.isel({YEAR: -1}) if year is None else da.sel({YEAR: year})


def mean_over_samples(obj: xr.Dataset | xr.DataArray) -> xr.Dataset | xr.DataArray:
    """Reduce the Monte Carlo ``sample`` dimension to its mean, if it exists.

    The mean (not the median) keeps sums intact: the mean TCO lines still add up to the mean
    TCO increment.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        A fleetsim result or variable.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        ``obj`` unchanged without ``sample``; otherwise the mean over ``sample`` (NaN draws
        skipped) of the float variables. Integer variables such as ``status`` are dropped from a
        Dataset since their mean has no meaning.
    """
    if SAMPLE not in obj.dims:
        return obj
    if isinstance(obj, xr.Dataset):
        obj = obj[[name for name, var in obj.data_vars.items() if var.dtype.kind == "f"]]
    with infeasible_slices_expected():
        return obj.mean(SAMPLE, keep_attrs=True)
