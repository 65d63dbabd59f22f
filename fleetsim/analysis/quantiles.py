"""Monte Carlo quantiles (P10/P50/P90) over the ``sample`` dimension."""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from fleetsim.analysis.dims import SAMPLE, infeasible_slices_expected


def quantiles(
    ds: xr.Dataset, q: Sequence[float] = (0.1, 0.5, 0.9), dim: str = SAMPLE
) -> xr.Dataset:
    """Return quantiles (P10/P50/P90 by default) of the float variables over Monte Carlo draws.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result with a ``dim`` dimension.
    q : sequence of float, default (0.1, 0.5, 0.9)
        Quantiles in [0, 1]. [1]
    dim : str, default "sample"
        Dimension to reduce.

    Returns
    -------
    xarray.Dataset
        The float variables that have ``dim``, with a ``quantile`` dimension (NaN draws skipped,
        linear interpolation) and a ``percentile`` coordinate of labels such as ``"P10"``.

    Raises
    ------
    ValueError
        If ``ds`` has no dimension ``dim``.
    """
    if dim not in ds.dims:
        raise ValueError(f"dataset has no '{dim}' dimension (dimensions: {list(ds.dims)})")
    names = [n for n, v in ds.data_vars.items() if dim in v.dims and v.dtype.kind == "f"]
    with infeasible_slices_expected():
        result = ds[names].quantile(list(q), dim=dim, keep_attrs=True)
    labels = [f"P{round(value * 100, 6):g}" for value in q]
    return result.assign_coords(percentile=("quantile", labels))
