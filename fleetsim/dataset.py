"""Kernel arrays + axes + the output registry + provenance -> a labelled ``xarray.Dataset``."""

from __future__ import annotations

import datetime as dt
import sys
from functools import cache
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from fleetsim import layout, status
from fleetsim.config import Scenario
from fleetsim.sweep import SweepArrays

CONVENTIONS = "CF-1.10"

#: units of numeric coordinates, from the config key's unit suffix
_KEY_UNITS = {
    "_s": "s",
    "_usd_per_kwh": "USD/kWh",
    "_usd_per_kw_month": "USD/(kW month)",
    "_usd_per_year": "USD/year",
}


@cache
def registry() -> dict[str, dict]:
    """Return the output variable registry (``fleetsim/variables.yaml``)."""
    path = Path(__file__).with_name("variables.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def version() -> str:
    """Return the installed fleetsim version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("fleetsim")
    except PackageNotFoundError:
        return "0+unknown"


def _coordinate(axis) -> xr.Variable:
    spec = axis.field
    attrs = {"long_name": spec.key}
    if spec.kind in ("catalog", "choice"):
        return xr.Variable(axis.name, np.array(axis.labels, dtype=object).astype(str), attrs)
    values = np.array([np.inf if v == float("inf") else v for v in axis.labels], dtype=np.float64)
    if spec.kind == "integer":
        values = values.astype(np.int64)
    attrs["units"] = next((u for suffix, u in _KEY_UNITS.items() if spec.key.endswith(suffix)), "1")
    return xr.Variable(axis.name, values, attrs)


def build(arrays: SweepArrays, scenario: Scenario, catalog_sha256: str) -> xr.Dataset:
    """Return the Dataset of a sweep.

    Parameters
    ----------
    arrays : SweepArrays
        Flat kernel outputs and the axes they span.
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
    registry_ = registry()
    dims = tuple(a.name for a in arrays.axes)
    grid = tuple(len(a) for a in arrays.axes)
    coords = {a.name: _coordinate(a) for a in arrays.axes}
    coords["year"] = xr.Variable(
        "year", np.arange(1, arrays.years + 1), {"long_name": "year of operation", "units": "1"}
    )
    data = {}
    for j, name in enumerate(layout.SCENARIO_OUTPUTS):
        data[name] = (dims, arrays.scenario[:, j].reshape(grid))
    for j, name in enumerate(layout.YEAR_OUTPUTS):
        data[name] = ((*dims, "year"), arrays.year[:, j, :].reshape((*grid, arrays.years)))
    data["status"] = (dims, arrays.status.reshape(grid))
    ds = xr.Dataset(data, coords=coords)
    for name in ds.data_vars:
        entry = registry_[name]
        ds[name].attrs = {"units": entry["units"], "long_name": entry["long_name"]}
        if "description" in entry:
            ds[name].attrs["description"] = entry["description"]
    ds["status"].attrs.update(status.flag_attributes())
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    ds.attrs = {
        "Conventions": CONVENTIONS,
        "title": "fleetsim LLM inference fleet total cost of ownership",
        "institution": "fleetsim",
        "source": f"fleetsim {version()}",
        "fleetsim_version": version(),
        "config_yaml": scenario.resolved_yaml,
        "catalog_sha256": catalog_sha256,
        "created": created,
        "history": f"{created} fleetsim {' '.join(sys.argv[1:])}".rstrip(),
    }
    return ds
