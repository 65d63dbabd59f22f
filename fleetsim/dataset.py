"""Kernel arrays + axes + the output registry + provenance -> a labelled ``xarray.Dataset``.

:func:`build` labels in-memory kernel outputs; :func:`template` gives the same Dataset with
placeholder data (zero-memory broadcast views), from which :mod:`fleetsim.io` creates a file that
the sweep then fills chunk by chunk. Both share every name, dimension, coordinate and attribute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from functools import lru_cache

import numpy as np
import xarray as xr
import yaml

from fleetsim import duck_arrays, status
from fleetsim._jit import source_digest
from fleetsim.axes import SampleAxis
from fleetsim.config import Scenario
from fleetsim.layout import SCENARIO_OUTPUTS as SCENARIO_NAMES
from fleetsim.layout import YEAR_OUTPUTS as YEAR_NAMES
from fleetsim.registry import registry
from fleetsim.sweep import SweepArrays
from fleetsim.version import version

duck_arrays.defer()  # xarray imports dask and pint only once something else does

CONVENTIONS = "CF-1.10"

#: (UDUNITS units, currency) of numeric coordinates, from the config key's unit suffix
_KEY_UNITS = {
    "_usd_per_accelerator_year": ("year-1", "USD"),
    "_usd_per_accelerator_hour": ("h-1", "USD"),
    "_g_per_kwh": ("g kW-1 h-1", None),
    "_usd_per_kw": ("kW-1", "USD"),
    "_s": ("s", None),
    "_usd_per_kwh": ("kW-1 h-1", "USD"),
    "_usd_per_kw_month": ("kW-1 month-1", "USD"),
    "_usd_per_year": ("year-1", "USD"),
}


def _units(key: str) -> dict[str, str]:
    """Return the ``units`` (and, for money, ``currency``) attributes of a config key's values."""
    units, currency = next(
        (u for suffix, u in _KEY_UNITS.items() if key.endswith(suffix)), ("1", None)
    )
    return {"units": units} if currency is None else {"units": units, "currency": currency}


def _coordinate(axis) -> xr.Variable:
    spec = axis.field
    attrs = {"long_name": spec.key}
    if spec.kind in ("catalog", "choice") or any(isinstance(v, str) for v in axis.labels):
        labels = ["none" if v is None else v for v in axis.labels]  # a null catalog id
        return xr.Variable(axis.name, np.array(labels, dtype=object).astype(str), attrs)
    values = np.array([np.inf if v == float("inf") else v for v in axis.labels], dtype=np.float64)
    if spec.kind == "integer" and np.isfinite(values).all():  # null (no bound) is stored as inf
        values = values.astype(np.int64)
    attrs.update(_units(spec.key))
    return xr.Variable(axis.name, values, attrs)


def coordinates(axes: tuple, years: int) -> dict[str, xr.Variable]:
    """Return the coordinates of a sweep: one per axis, ``year``, and the draws of a sample axis.

    The ``sample`` axis has an integer coordinate (the draw's number) and, for every uncertain
    field, a coordinate along ``sample`` named like the field (e.g. ``electricity_usd_per_kwh``)
    holding the drawn values in config units, with the distribution in its attributes.
    """
    coords: dict[str, xr.Variable] = {}
    for axis in axes:
        if not isinstance(axis, SampleAxis):
            coords[axis.name] = _coordinate(axis)
            continue
        coords[axis.name] = xr.Variable(
            axis.name,
            np.array(axis.labels, dtype=np.int64),
            {"long_name": "Monte Carlo sample", "units": "1"},
        )
        for j, spec in enumerate(axis.fields):
            values = axis.draws[:, j]
            coords[spec.name] = xr.Variable(
                axis.name,
                values.astype(np.int64) if spec.kind == "integer" else values.copy(),
                {
                    "long_name": f"{spec.key} (uncertain)",
                    **_units(spec.key),
                    "distribution": axis.distributions[j],
                },
            )
    coords["year"] = xr.Variable(
        "year", np.arange(1, years + 1), {"long_name": "year of operation", "units": "1"}
    )
    return coords


#: run settings that do not change a file's data or encoding (left out of ``config_sha256``)
_NOT_HASHED = (("output", "path"), ("output", "overwrite"), ("sweep", "chunk_size"),
               ("sweep", "threads"))  # fmt: skip


def config_sha256(scenario: Scenario, catalog_sha256: str) -> str:
    """Return the checksum that identifies a sweep's output: same value, same file contents.

    Hashes the resolved config (without where the file goes, whether it may be replaced, the
    chunk size and the thread count, which change neither data nor encoding), the catalog
    checksum, the fleetsim version and a digest of fleetsim's source code (so a resumed sweep
    never keeps parts computed by different physics). A shard's file is complete and current
    when it exists under its final name with this value in its ``config_sha256`` attribute.
    """
    return _config_sha256(scenario.resolved_yaml, catalog_sha256)


@lru_cache(maxsize=64)
def _config_sha256(resolved_yaml: str, catalog_sha256: str) -> str:
    """:func:`config_sha256` of a resolved config (kept: a warm run asks again for the same)."""
    # yaml.safe_load with libyaml's safe loader when present (~10x faster, the same tree)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(resolved_yaml)
    try:
        tree = loader.get_single_data() or {}
    finally:
        loader.dispose()
    for group, key in _NOT_HASHED:
        tree.get(group, {}).pop(key, None)
    tree.pop("hydra", None)
    payload = {
        "config": tree,
        "catalog_sha256": catalog_sha256,
        "fleetsim_version": version(),
        "source_sha256": source_digest(),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def variable_attrs(name: str) -> dict[str, object]:
    """Return the attributes of output variable ``name`` (from the registry)."""
    entry = registry()[name]
    attrs: dict[str, object] = {"units": entry["units"], "long_name": entry["long_name"]}
    if "currency" in entry:
        attrs["currency"] = entry["currency"]
    if "description" in entry:
        attrs["description"] = entry["description"]
    if name == "status":
        attrs.update(status.flag_attributes())
    return attrs


def global_attrs(scenario: Scenario, catalog_sha256: str) -> dict[str, object]:
    """Return the provenance attributes of a sweep's Dataset."""
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {
        "Conventions": CONVENTIONS,
        "title": "fleetsim LLM inference fleet total cost of ownership",
        "institution": "fleetsim",
        "source": f"fleetsim {version()}",
        "fleetsim_version": version(),
        "config_yaml": scenario.resolved_yaml,
        "catalog_sha256": catalog_sha256,
        "config_sha256": config_sha256(scenario, catalog_sha256),
        "created": created,
        "history": f"{created} fleetsim {' '.join(sys.argv[1:])}".rstrip(),
    }


def _assemble(axes, years, data: dict, scenario: Scenario, catalog_sha256: str) -> xr.Dataset:
    """Return the Dataset of ``data`` (name -> (dims, array)), its arrays wrapped, not copied."""
    variables = {
        name: xr.Variable(dims, values, variable_attrs(name))
        for name, (dims, values) in data.items()
    }
    return xr.Dataset(
        variables, coords=coordinates(axes, years), attrs=global_attrs(scenario, catalog_sha256)
    )


def template(
    axes: tuple,
    years: int,
    scenario: Scenario,
    catalog_sha256: str,
    names: tuple[str, ...],
) -> xr.Dataset:
    """Return a sweep's Dataset with placeholder data (NaN or 0, zero-memory broadcast views).

    Parameters
    ----------
    axes : tuple of Axis
        The grid (the whole sweep or one shard).
    years : int
        Horizon in years.
    scenario : Scenario
        Validated configuration.
    catalog_sha256 : str
        Checksum of the catalog files used.
    names : tuple of str
        Output variables to include (``status`` is always included).

    Returns
    -------
    xarray.Dataset
        Exactly what :func:`build` returns for the same sweep, except the data.
    """
    dims = tuple(a.name for a in axes)
    grid = tuple(len(a) for a in axes)
    data = {}
    for name in _ordered(names):
        per_year = name in YEAR_NAMES
        shape = (*grid, years) if per_year else grid
        fill = np.int8(0) if name == "status" else np.float64(np.nan)
        data[name] = ((*dims, "year") if per_year else dims, np.broadcast_to(fill, shape))
    return _assemble(axes, years, data, scenario, catalog_sha256)


def _ordered(names) -> list[str]:
    """Kernel order, ``status`` last (the order :func:`build` has always used)."""
    return [n for n in (*SCENARIO_NAMES, *YEAR_NAMES) if n in names] + ["status"]


def build(arrays: SweepArrays, scenario: Scenario, catalog_sha256: str) -> xr.Dataset:
    """Return the Dataset of a sweep.

    Parameters
    ----------
    arrays : SweepArrays
        Kernel outputs (variable-major) and the axes they span.
    scenario : Scenario
        Validated configuration (its resolved YAML goes into the attributes).
    catalog_sha256 : str
        Checksum of the catalog files used.

    Returns
    -------
    xarray.Dataset
        One dimension per axis plus ``year``; every variable with ``units`` and ``long_name``;
        ``status`` with CF flag attributes; provenance in global attributes.
    """
    dims = tuple(a.name for a in arrays.axes)
    grid = tuple(len(a) for a in arrays.axes)
    data = {}
    for j, name in enumerate(arrays.scenario_names):
        data[name] = (dims, arrays.scenario[j].reshape(grid))
    for j, name in enumerate(arrays.year_names):
        data[name] = ((*dims, "year"), arrays.year[j].reshape((*grid, arrays.years)))
    data["status"] = (dims, arrays.status.reshape(grid))
    data = {name: data[name] for name in _ordered(data)}
    return _assemble(arrays.axes, arrays.years, data, scenario, catalog_sha256)
