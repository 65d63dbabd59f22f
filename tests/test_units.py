"""Units that tools parse: every variable and coordinate of a Dataset (and its NetCDF file) is
UDUNITS-valid for cf_units, quantifies with cf_xarray's pint registry, and money says its
currency in a ``currency`` attribute beside the rest of its unit."""

from __future__ import annotations

import cf_units
import cf_xarray.units
import pint_xarray
import pytest
import xarray as xr

import fleetsim
from fleetsim import api, units
from fleetsim.registry import registry

from .conftest import TINY_CATALOG

#: one swept key per unit suffix of the coordinates, and a Monte Carlo draw of a price
OVERRIDES = [
    "model=test-dense", "hardware=test-gpu", "finance.years=2",
    "finance.electricity_usd_per_kwh=[0.05,0.1]", "facility.grid_carbon_g_per_kwh=[100,400]",
    "facility.colocation_usd_per_kw_month=[150,200]", "facility.build_usd_per_kw=[8000,12000]",
    "finance.rental_usd_per_accelerator_hour=[2,3]", "finance.staff_cost_usd_per_year=[1e5,2e5]",
    "finance.software_usd_per_accelerator_year=[0,100]", "workload.ttft_slo_s=[1,2]",
    "sweep.samples=2", "uncertainty.workload.growth_per_year={dist:uniform,low:0.2,high:0.4}",
]  # fmt: skip


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """A streamed file of the sweep on the tiny catalog, read back."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLEETSIM_DATA_DIR", str(TINY_CATALOG))
        fleetsim.catalog.load.cache_clear()
        path = api.write(OVERRIDES, tmp_path_factory.mktemp("units") / "u.nc")
    fleetsim.catalog.load.cache_clear()
    with xr.open_dataset(path) as back:
        return back.load()


def _with_units(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    return {name: ds[name] for name in [*ds.data_vars, *ds.coords] if "units" in ds[name].attrs}


def test_every_unit_is_udunits_valid(ds):
    found = _with_units(ds)
    assert set(ds.data_vars) - {"status"} <= set(found)
    for variable in found.values():
        cf_units.Unit(variable.attrs["units"])  # raises ValueError if UDUNITS cannot parse it
    currencies = {n for n, v in found.items() if "currency" in v.attrs}
    assert {
        "tco_usd",
        "cost_per_million_output_tokens_usd",
        "electricity_usd_per_kwh",
    } <= currencies
    assert {v.attrs["currency"] for n, v in found.items() if n in currencies} == {"USD"}


def test_pint_quantify_works_with_cf_xarrays_registry(ds):
    registry_ = pint_xarray.setup_registry(cf_xarray.units.units)
    quantified = ds.drop_vars("status").pint.quantify(unit_registry=registry_)
    assert quantified["energy_per_token_j"].pint.units == registry_.joule
    assert quantified["weight_bytes"].pint.units == registry_.byte
    price = quantified["electricity_usd_per_kwh"].pint.units
    assert price == registry_.parse_units("kW-1 h-1")
    assert quantified["tokens_per_s_per_accelerator"].pint.units == registry_.parse_units("s-1")


@pytest.mark.parametrize(
    ("udunits", "currency", "shown"),
    [("1", "USD", "USD"), ("kW-1 h-1", "USD", "USD/kWh"), ("kW-1 month-1", "USD", "USD/(kW month)"),
     ("h-1", "USD", "USD/h"), ("g kW-1 h-1", None, "g/kWh"), ("s", None, "s"), ("1", None, ""),
     ("byte", None, "B")],
)  # fmt: skip
def test_units_are_displayed_as_people_write_them(udunits, currency, shown):
    assert units.display(udunits, currency) == shown


def test_every_registry_unit_is_udunits_valid():
    for name, entry in registry().items():
        cf_units.Unit(entry["units"])
        assert entry.get("currency") in (None, "USD"), name
        assert (entry.get("currency") == "USD") == name.endswith("_usd"), name
