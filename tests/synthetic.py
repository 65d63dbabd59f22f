"""A small hand-made Dataset that obeys the fleetsim output contract.

Scenarios: hardware a, b, c x model m x electricity 0.05, 0.1, 0.2 USD/kWh, years 1..5.
Hardware c does not fit the model (status 1, NaN everywhere). Per year and scenario (USD):

- capex: a 1000, b 2000 in year 1, nothing later
- energy: a uses 4000 kWh, b 1000 kWh a year -> 4000 * price, 1000 * price
- facility 100 + maintenance 50 + staff 50 = 200 a year for both
- depreciation: capex / 5 (a 200, b 400); opex = energy + 200
- tco_usd after year 5 = capex + 5 * (energy + 200):
  a: 3000, 4000, 6000 and b: 3250, 3500, 4000 at 0.05, 0.1, 0.2 USD/kWh
- cost per million tokens = (depreciation + opex) / 1e9 tokens * 1e6 (a year):
  a: 0.6, 0.8, 1.2 and b: 0.65, 0.7, 0.8
- ttft_s: a 0.5, b 0.2; accelerators: a 8, b 4; utilisation: a 0.5, b 0.6

Every other registry variable is filled with 1.0 (0.0 for tco_component lines added to the
registry later, so the TCO lines keep adding up).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

import fleetsim.analysis

HARDWARE = ["a", "b", "c"]
MODEL = ["m"]
PRICES = [0.05, 0.1, 0.2]
YEARS = [1, 2, 3, 4, 5]
FLAG_MEANINGS = (
    "feasible weights_do_not_fit context_too_long kv_does_not_fit tpot_unreachable "
    "ttft_unreachable rack_power_exceeded zero_demand"
)

_CAPEX_YEAR1 = {"a": 1000.0, "b": 2000.0}
_KWH_PER_YEAR = {"a": 4000.0, "b": 1000.0}
_PER_HARDWARE = {
    "ttft_s": {"a": 0.5, "b": 0.2},
    "accelerators": {"a": 8.0, "b": 4.0},
    "utilisation": {"a": 0.5, "b": 0.6},
    "facility_power_w": {"a": 8000.0, "b": 3000.0},
}


def _registry() -> dict:
    path = Path(fleetsim.analysis.__file__).parents[1] / "variables.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _coords() -> dict[str, xr.DataArray]:
    return {
        "hardware": xr.DataArray(HARDWARE, dims="hardware", attrs={"long_name": "accelerator"}),
        "model": xr.DataArray(MODEL, dims="model", attrs={"long_name": "model"}),
        "electricity_usd_per_kwh": xr.DataArray(
            PRICES,
            dims="electricity_usd_per_kwh",
            attrs={"long_name": "electricity price", "units": "kW-1 h-1", "currency": "USD"},
        ),
        "year": xr.DataArray(YEARS, dims="year", attrs={"long_name": "year", "units": "1"}),
    }


def _hand_values(name: str, hardware: str, price: float) -> np.ndarray | float | None:
    """Value of ``name`` for one feasible scenario: per-year array, scalar, or None (filler)."""
    years = np.array(YEARS, dtype=float)
    capex = np.where(years == 1, _CAPEX_YEAR1[hardware], 0.0)
    energy = np.full(len(YEARS), _KWH_PER_YEAR[hardware] * price)
    opex = energy + 200.0
    depreciation = np.full(len(YEARS), _CAPEX_YEAR1[hardware] / 5)
    values = {
        "capex_usd": capex,
        "hardware_capex_usd": capex,
        "energy_cost_usd": energy,
        "facility_cost_usd": np.full(len(YEARS), 100.0),
        "maintenance_cost_usd": np.full(len(YEARS), 50.0),
        "staff_cost_usd": np.full(len(YEARS), 50.0),
        "opex_usd": opex,
        "depreciation_usd": depreciation,
        "tco_usd": np.cumsum(capex + opex),
        "generated_tokens": np.full(len(YEARS), 1e9),
        "cost_per_million_output_tokens_usd": (depreciation + opex) / 1e9 * 1e6,
    }
    if name in values:
        return values[name]
    if name in _PER_HARDWARE:
        return _PER_HARDWARE[name][hardware]
    return None


def _variable(name: str, spec: dict) -> xr.DataArray:
    dims = ["hardware", "model", "electricity_usd_per_kwh"] + (["year"] if spec["per_year"] else [])
    shape = [len(HARDWARE), len(MODEL), len(PRICES)] + ([len(YEARS)] if spec["per_year"] else [])
    filler = 0.0 if spec.get("tco_component", False) else 1.0
    data = np.full(shape, filler)
    for i, hardware in enumerate(HARDWARE):
        for k, price in enumerate(PRICES):
            if hardware == "c":
                data[i, :, k] = np.nan
                continue
            value = _hand_values(name, hardware, price)
            if value is not None:
                data[i, :, k] = value
    attrs = {"units": spec["units"], "long_name": spec["long_name"]}
    if "currency" in spec:
        attrs["currency"] = spec["currency"]
    return xr.DataArray(data.astype(spec["dtype"]), dims=dims, attrs=attrs)


def _status() -> xr.DataArray:
    codes = np.zeros((len(HARDWARE), len(MODEL), len(PRICES)), dtype=np.int8)
    codes[HARDWARE.index("c")] = 1
    return xr.DataArray(
        codes,
        dims=["hardware", "model", "electricity_usd_per_kwh"],
        attrs={
            "units": "1",
            "long_name": "scenario feasibility status",
            "flag_values": np.arange(8, dtype=np.int8),
            "flag_meanings": FLAG_MEANINGS,
        },
    )


def make_dataset() -> xr.Dataset:
    """Build the synthetic result described in the module docstring."""
    variables = {
        name: _variable(name, spec) for name, spec in _registry().items() if name != "status"
    }
    variables["status"] = _status()
    return xr.Dataset(
        variables,
        coords=_coords(),
        attrs={
            "Conventions": "CF-1.10",
            "title": "fleetsim synthetic test result",
            "fleetsim_version": "0.1.0",
            "config_yaml": "workload:\n  requests_per_s: 1.0\n",
            "catalog_sha256": "0" * 64,
            "created": "2026-01-01T00:00:00Z",
            "history": "2026-01-01T00:00:00Z tests/synthetic.py",
        },
    )


def add_samples(ds: xr.Dataset, factors: Sequence[float]) -> xr.Dataset:
    """Return ``ds`` with a ``sample`` dimension: float variables times each factor."""
    factor = xr.DataArray(list(factors), dims="sample", coords={"sample": np.arange(len(factors))})
    scaled = {
        name: (var * factor).assign_attrs(var.attrs) if var.dtype.kind == "f" else var
        for name, var in ds.data_vars.items()
    }
    return xr.Dataset(scaled, attrs=ds.attrs)
