"""Liquid cooling never throttles more than air; build-vs-rent break-even by hand."""

from __future__ import annotations

import numpy as np
import pytest

import fleetsim


@pytest.mark.parametrize("hardware", ["h100-sxm", "b200", "mi300x"])
def test_liquid_cooling_never_throttles_more_than_air(hardware):
    ds = fleetsim.run([
        f"hardware={hardware}", "finance.years=2", "facility.cooling=[air,liquid]",
        "facility.servers_per_rack=[null,1,2,4,6,8,12]",
    ]).squeeze(drop=True)  # fmt: skip
    clock = ds["clock_scale"].fillna(0.0)  # an infeasible density counts as fully throttled
    assert (clock.sel(cooling="liquid") >= clock.sel(cooling="air")).all()
    tokens = ds["tokens_per_s_per_accelerator"].fillna(0.0)
    assert (tokens.sel(cooling="liquid") >= tokens.sel(cooling="air") * (1 - 1e-12)).all()


def test_break_even_utilisation_by_hand():
    ds = fleetsim.run([
        "hardware=h100-sxm", "finance.years=3", "finance.rental_usd_per_accelerator_hour=2.0",
        "finance.staff_per_1000_accelerators=5", "finance.staff_cost_usd_per_year=200000",
        "finance.software_usd_per_accelerator_year=1000",
    ]).squeeze(drop=True)  # fmt: skip
    hours = 8760.0
    accelerators = ds["accelerators"].values
    # renting the same fleet all year at $2/accelerator-hour
    rent = accelerators * hours * 2.0
    np.testing.assert_allclose(ds["rent_cost_usd"].values, rent, rtol=1e-12)
    # the renter still pays staff and software, not power, space or maintenance
    staff = 5 * accelerators / 1000 * 200_000
    software = accelerators * 1000.0
    np.testing.assert_allclose(
        ds["rent_tco_usd"].values, np.cumsum(rent + staff + software), rtol=1e-12
    )
    # owning costs depreciation + opex a year; renting only busy hours costs u x rent: equal at
    # u* = (depreciation + opex) / rent
    own = ds["depreciation_usd"].values + ds["opex_usd"].values
    np.testing.assert_allclose(ds["break_even_utilisation"].values, own / rent, rtol=1e-12)
    # and the answer a planner reads: owning wins where the fleet is busier than u*
    owning_wins = ds["utilisation"].values > ds["break_even_utilisation"].values
    renting_busy_hours = ds["utilisation"].values * rent
    assert ((renting_busy_hours > own) == owning_wins).all()


def test_rent_is_undefined_without_a_rental_price():
    ds = fleetsim.run(["hardware=gaudi3", "finance.years=2"]).squeeze(drop=True)
    assert int(ds["status"]) == 0
    assert np.isnan(ds["rent_cost_usd"].values).all()
    assert np.isfinite(ds["tco_usd"].values).all()


def test_owned_facility_and_floor_space_by_hand():
    ds = fleetsim.run([
        "hardware=h100-sxm", "finance.years=3", "facility.build_usd_per_kw=[null,11700]",
        "facility.building_life_years=20", "workload.growth_per_year=0.5",
    ]).squeeze(drop=True)  # fmt: skip
    colo, owned = ds.sel(build_usd_per_kw=np.inf), ds.sel(build_usd_per_kw=11700.0)
    # the same fleet either way: only how the building is paid for changes
    np.testing.assert_array_equal(colo["accelerators"].values, owned["accelerators"].values)
    # peak IT power (W) the building must supply, from the colocation fee: fee = kW x $/kW-month x 12
    peak_kw = colo["facility_cost_usd"].values / (184.06 * 12)  # conf/facility/air.yaml
    built = np.maximum.accumulate(peak_kw)
    new = np.diff(np.concatenate([[0.0], built]))
    np.testing.assert_allclose(owned["facility_capex_usd"].values, new * 11700, rtol=1e-9)
    assert (owned["facility_cost_usd"].values == 0).all()
    assert (colo["facility_capex_usd"].values == 0).all()
    # 300 sq ft (27.87 m2) of floor per rack, aisles included (data/cooling.csv)
    np.testing.assert_allclose(
        owned["floor_space_m2"].values, owned["racks"].values * 300 * 0.09290304
    )
    # building depreciation: construction spread over 20 years on top of the hardware's
    extra = np.cumsum(owned["facility_capex_usd"].values) / 20
    np.testing.assert_allclose(
        owned["depreciation_usd"].values - colo["depreciation_usd"].values, extra, rtol=1e-9
    )
