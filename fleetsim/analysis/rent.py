"""Rent or own: the utilisation at which renting accelerators costs as much as owning them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from fleetsim.analysis.dims import at_year

#: hours in a (non-leap) year [h]
HOURS_PER_YEAR = 8760.0


def break_even_utilisation(
    annual_own_cost_usd: Any,
    rental_usd_per_accelerator_hour: Any,
    accelerators: Any = 1.0,
    hours_per_year: float = HOURS_PER_YEAR,
) -> Any:
    """Return the utilisation at which renting costs the same as owning.

    Owning costs ``annual_own_cost_usd`` whatever the load; renting is paid only for busy
    accelerator-hours, ``utilisation * accelerators * hours_per_year * price``. Below the
    returned utilisation renting is cheaper; a value above 1 means renting is cheaper even at
    full load. Works elementwise on scalars, numpy arrays and DataArrays (broadcasting).

    Parameters
    ----------
    annual_own_cost_usd : float or array_like
        Cost of owning the fleet for one year (e.g. depreciation + opex). [USD]
    rental_usd_per_accelerator_hour : float or array_like
        Rental price of one accelerator for one hour. [USD/h]
    accelerators : float or array_like, default 1.0
        Accelerators in the owned fleet. [1]
    hours_per_year : float, default 8760.0
        Hours in the year. [h]

    Returns
    -------
    float or array_like
        Break-even utilisation. [1]

    Raises
    ------
    ValueError
        If a rental price is not positive.
    """
    if np.any(np.asarray(rental_usd_per_accelerator_hour) <= 0):
        raise ValueError("rental_usd_per_accelerator_hour must be positive")
    full_time_rent = rental_usd_per_accelerator_hour * accelerators * hours_per_year
    return annual_own_cost_usd / full_time_rent


def fleet_break_even_utilisation(
    ds: xr.Dataset,
    rental_usd_per_accelerator_hour: float | Mapping[str, float] | xr.DataArray,
    year: int | None = None,
) -> xr.DataArray:
    """Return the build-vs-rent break-even utilisation of every simulated fleet.

    The own cost is the amortised annual cost ``depreciation_usd + opex_usd`` (the basis of
    ``cost_per_million_output_tokens_usd``) of ``accelerators`` accelerators. The simulator
    already writes ``break_even_utilisation`` at the catalog's (or the configured) rental price;
    this helper re-prices it for other rental prices without re-running. Compare the result
    with the ``utilisation`` variable to see which option is cheaper.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result with ``depreciation_usd``, ``opex_usd`` and ``accelerators``.
    rental_usd_per_accelerator_hour : float, mapping or xarray.DataArray
        One price for all hardware, ``{hardware_id: price}``, or a DataArray over ``hardware``.
        [USD/h]
    year : int, optional
        Year to evaluate. Default: the last year. [year]

    Returns
    -------
    xarray.DataArray
        Break-even utilisation per scenario (NaN for infeasible ones). [1]
    """
    price = rental_usd_per_accelerator_hour
    if isinstance(price, Mapping):
        price = xr.DataArray(
            [price[h] for h in ds["hardware"].values], coords={"hardware": ds["hardware"]}
        )
    own = at_year(ds["depreciation_usd"] + ds["opex_usd"], year)
    result = break_even_utilisation(own, price, at_year(ds["accelerators"], year))
    result.name = "break_even_utilisation"
    result.attrs = {"long_name": "utilisation at which renting costs as much as owning"}
    result.attrs["units"] = "1"
    return result
