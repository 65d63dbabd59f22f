"""The annual TCO component lines and the check that they add up to ``tco_usd``."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from fleetsim.analysis.dims import YEAR
from fleetsim.registry import registry


def tco_components(ds: xr.Dataset) -> list[str]:
    """Return the registry's ``tco_component`` variables present in ``ds``, in registry order.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.

    Returns
    -------
    list of str
        Names of the annual cash lines that add up to the yearly increment of ``tco_usd``.

    Raises
    ------
    KeyError
        If ``ds`` holds none of them.
    """
    names = [
        name
        for name, spec in registry().items()
        if spec.get("tco_component", False) and name in ds.data_vars
    ]
    if not names:
        raise KeyError("dataset has none of the registry's tco_component variables")
    return names


def _annual_increment(tco: xr.DataArray) -> xr.DataArray:
    """Return the yearly increment of a cumulative per-year variable.

    The first year's increment is the value itself when the first year is year 1; otherwise it
    is unknown and dropped.
    """
    if int(tco[YEAR][0]) == 1:
        return tco - tco.shift({YEAR: 1}, fill_value=0.0)
    return (tco - tco.shift({YEAR: 1})).isel({YEAR: slice(1, None)})


def _closure_terms(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """Return (sum of the tco_component lines, increment of tco_usd) on the same years [USD]."""
    increment = _annual_increment(ds["tco_usd"])
    parts = sum(ds[name] for name in tco_components(ds)).sel({YEAR: increment[YEAR]})
    return parts, increment


def tco_residual(ds: xr.Dataset) -> xr.DataArray:
    """Return the sum of the tco_component lines minus the yearly increment of ``tco_usd``.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result with ``tco_usd`` and its component lines.

    Returns
    -------
    xarray.DataArray
        Residual per scenario and year (zero up to rounding in a consistent Dataset; NaN where
        either side is NaN). [USD]
    """
    parts, increment = _closure_terms(ds)
    residual = parts - increment
    residual.attrs = {
        "long_name": "tco components minus tco_usd increment",
        "units": "1",
        "currency": "USD",
    }
    return residual


def check_tco_closure(ds: xr.Dataset, rtol: float = 1e-5) -> None:
    """Check that the tco_component lines add up to the yearly increment of ``tco_usd``.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    rtol : float, default 1e-5
        Tolerance relative to the largest ``|tco_usd|`` in ``ds``; the default allows float32
        storage (about 7 significant digits). Files written with fewer significant digits need
        a larger value. [1]

    Raises
    ------
    ValueError
        If a residual exceeds the tolerance, or one side is NaN where the other is not.
    """
    parts, increment = _closure_terms(ds)
    nan_mismatch = int((parts.isnull() != increment.isnull()).sum())
    tolerance = rtol * float(np.abs(ds["tco_usd"]).max(skipna=True).fillna(0.0))
    residual = np.abs(parts - increment)
    too_large = int((residual > tolerance).sum())
    if nan_mismatch or too_large:
        raise ValueError(
            f"tco components do not add up to the increment of tco_usd: {too_large} values differ "
            f"by more than {tolerance:g} USD (max {float(residual.max(skipna=True)):g} USD), "
            f"{nan_mismatch} values are NaN on one side only"
        )


def tco_breakdown(ds: xr.Dataset, *, check: bool = True, **sel: Any) -> xr.Dataset:
    """Return the annual TCO component lines of the selected scenarios.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    check : bool, default True
        Verify with :func:`check_tco_closure` that the lines add up to the increment of
        ``tco_usd`` for the selection.
    **sel
        Coordinate labels passed to :meth:`xarray.Dataset.sel`, e.g. ``hardware="h100-sxm"``.

    Returns
    -------
    xarray.Dataset
        The registry's ``tco_component`` variables (per year) for the selection. [USD]
    """
    selected = ds.sel(sel)
    if check:
        check_tco_closure(selected)
    return selected[tco_components(selected)]
