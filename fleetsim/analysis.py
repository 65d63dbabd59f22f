"""Read-only analysis helpers over a fleetsim result Dataset.

Nothing here computes physics or cost: every function selects, reduces or reshapes variables the
simulator already wrote (see ``variables.yaml`` for their units). Infeasible scenarios carry NaN in
every float output, so the helpers skip NaN wherever they look for a best option.

Dimension conventions: ``hardware`` and ``model`` always exist; every swept config scalar is a
dimension named after its config leaf key; ``year`` (1..N) is a dimension of the per-year
variables; ``sample`` holds Monte Carlo draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fleetsim.registry import registry

#: dimensions that are not scenario (config) dimensions
YEAR = "year"
SAMPLE = "sample"
NON_SCENARIO_DIMS = (YEAR, SAMPLE)
#: hours in a (non-leap) year [h]
HOURS_PER_YEAR = 8760.0


@contextmanager
def _infeasible_slices_expected() -> Iterator[None]:
    """Silence numpy's warnings for all-NaN slices, i.e. scenarios infeasible in every draw."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        yield


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
    with _infeasible_slices_expected():
        return obj.mean(SAMPLE, keep_attrs=True)


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
    residual.attrs = {"long_name": "tco components minus tco_usd increment", "units": "USD"}
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
    with _infeasible_slices_expected():
        result = ds[names].quantile(list(q), dim=dim, keep_attrs=True)
    labels = [f"P{round(value * 100, 6):g}" for value in q]
    return result.assign_coords(percentile=("quantile", labels))


def decode_status(ds: xr.Dataset) -> xr.DataArray:
    """Translate the integer ``status`` variable into its flag-meaning words.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result whose ``status`` has CF ``flag_values`` and ``flag_meanings``.

    Returns
    -------
    xarray.DataArray
        String labels (e.g. ``"feasible"``, ``"weights_do_not_fit"``) with the dimensions of
        ``status``; codes missing from ``flag_values`` become ``"unknown"``.
    """
    status = ds["status"]
    codes = np.atleast_1d(status.attrs["flag_values"]).astype(int).tolist()
    meanings = dict(zip(codes, status.attrs["flag_meanings"].split(), strict=True))
    values = np.asarray(status.values)
    words = np.array([meanings.get(int(code), "unknown") for code in values.ravel()], dtype=str)
    labels = status.copy(data=words.reshape(values.shape))
    labels.name = "status_label"
    labels.attrs = {"long_name": "scenario feasibility status"}
    return labels
