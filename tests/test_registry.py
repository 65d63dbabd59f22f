"""The output registry (variables.yaml) matches the kernel's outputs, the Dataset and UDUNITS."""

from __future__ import annotations

import cf_units
import cf_xarray.units
import pytest

import fleetsim
from fleetsim import config, dataset, layout


def test_registry_lists_exactly_the_kernel_outputs():
    registry = dataset.registry()
    assert set(registry) == {*layout.SCENARIO_OUTPUTS, *layout.YEAR_OUTPUTS, "status"}
    for name in layout.YEAR_OUTPUTS:
        assert registry[name]["per_year"] is True, name
    for name in (*layout.SCENARIO_OUTPUTS, "status"):
        assert registry[name]["per_year"] is False, name


@pytest.mark.parametrize("name", sorted(dataset.registry()))
def test_every_variable_has_parseable_units_and_a_long_name(name):
    entry = dataset.registry()[name]
    assert entry["long_name"]
    cf_units.Unit(entry["units"])  # UDUNITS (money: the currency is an attribute of its own)
    cf_xarray.units.units.parse_units(entry["units"])


def test_dimension_names_never_collide_with_variable_names():
    dims = {spec.name for spec in config.FIELDS} | {"year"}
    assert not dims & set(dataset.registry())
    assert len(dims) == len(config.FIELDS) + 1  # dimension names are unique


def test_dataset_variables_carry_registry_metadata():
    ds = fleetsim.run(["finance.years=2"])
    registry = dataset.registry()
    for name, variable in ds.data_vars.items():
        assert variable.attrs["units"] == registry[name]["units"]
        assert variable.attrs.get("currency") == registry[name].get("currency")
        assert variable.attrs["long_name"] == registry[name]["long_name"]
        assert ("year" in variable.dims) == registry[name]["per_year"]
    assert ds["status"].attrs["flag_meanings"].split()[0] == "feasible"
    for key in (
        "Conventions",
        "fleetsim_version",
        "config_yaml",
        "catalog_sha256",
        "created",
        "history",
    ):
        assert ds.attrs[key]
