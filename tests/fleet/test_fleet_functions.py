"""Hand-computed values for the fleet and money functions, and one fleet-year end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import fleetsim
from fleetsim import catalog
from fleetsim.fleet import demand, finance, network, sizing

TINY = Path(__file__).resolve().parents[1] / "data" / "catalog"


def test_demand_growth():
    # 100 req/s growing 50 %/year: year 3 (index 2) = 100 * 1.5^2 = 225
    assert demand.mean_request_rate(100.0, 0.5, 2.0) == pytest.approx(225.0)


def test_replicas_servers_racks():
    # peak 200 req/s, 10 req/s per replica at 80 % -> ceil(25) = 25, +10 % spares ceil(2.5) = 3 -> 28
    assert sizing.replicas_needed(200.0, 10.0, 0.8, 0.1) == 28
    # 2-accelerator replicas pack 4 to an 8-accelerator server: ceil(28 / 4) = 7 servers
    assert sizing.servers_needed(28.0, 2.0, 8.0) == 7
    # 16-accelerator replicas span 2 servers each
    assert sizing.servers_needed(3.0, 16.0, 8.0) == 6
    # 3-accelerator replicas: 2 per 8-accelerator server (2 accelerators idle)
    assert sizing.servers_needed(5.0, 3.0, 8.0) == 3
    # 10.2 kW servers in a 40 kW rack: 3 per rack; one in a 10 kW rack: none
    assert sizing.servers_per_rack(10_200.0, 40_000.0) == 3
    assert sizing.servers_per_rack(10_200.0, 10_000.0) == 0


def test_fat_tree():
    # 64-port switches: up to 64 endpoints on one switch
    assert network.fabric_tiers(64.0, 64.0) == 1
    assert network.fabric_switches(64.0, 64.0, 1.0) == 1
    # 512 endpoints: two tiers (2 * 32^2 = 2048 >= 512); 16 leaves + 8 spines = 3 * 512 / 64 = 24
    assert network.fabric_tiers(512.0, 64.0) == 2
    assert network.fabric_switches(512.0, 64.0, 2.0) == 24
    assert network.fabric_transceivers(512.0, 2.0) == 2048
    # 4096 endpoints exceed two tiers (2048): three tiers, 5 * 4096 / 64 = 320 switches
    assert network.fabric_tiers(4096.0, 64.0) == 3
    assert network.fabric_switches(4096.0, 64.0, 3.0) == 320
    assert network.fabric_tiers(1.0, 64.0) == 0


def test_prices_and_windows():
    # 10 % decline a year: 100 -> 81 in year 3
    assert finance.price_in_year(100.0, 0.1, 2.0) == pytest.approx(81.0)
    import numpy as np

    spend = np.array([10.0, 20.0, 30.0, 40.0])
    assert finance.window_sum(spend, -2, 1) == 30.0  # clipped at 0
    assert finance.window_sum(spend, 2, 1) == 0.0  # empty range
    assert finance.window_sum(spend, 1, 3) == 90.0


def test_one_fleet_year_by_hand(monkeypatch):
    """Year 1 of a test-gpu / test-dense fleet, recomputed by hand from the replica operating point."""
    monkeypatch.setenv("FLEETSIM_DATA_DIR", str(TINY))
    catalog.load.cache_clear()
    ds = fleetsim.run([
        "model=test-dense", "hardware=test-gpu", "deployment.tp=2", "deployment.pp=1", "deployment.spare_frac=0.1",
        "workload.requests_per_day=8640000", "workload.peak_to_mean=2", "workload.output_tokens=256",
        "finance.years=1", "finance.electricity_usd_per_kwh=0.1", "facility.colocation_usd_per_kw_month=100",
        "finance.maintenance_frac_per_year=0.05", "finance.staff_per_1000_accelerators=10",
        "finance.staff_cost_usd_per_year=100000", "finance.depreciation_years=4", "network.fabric=infiniband",
        "facility.cooling=air",
    ]).isel(model=0, hardware=0)  # fmt: skip
    lam, rho = float(ds.replica_requests_per_s), float(ds.target_utilisation)
    year = ds.isel(year=0)
    # mean 8.64e6 / 86400 = 100 req/s; peak 200 req/s
    replicas = math.ceil(200 / (lam * rho))
    replicas += math.ceil(0.1 * replicas)
    servers = math.ceil(replicas / 4)  # TP2 replicas, 4 per 8-GPU server
    accelerators = 8 * servers
    assert float(year.accelerators) == accelerators
    busy = 100 / lam * 2 / accelerators
    assert float(year.utilisation) == pytest.approx(busy)
    # fabric: 1 tier if <= 64 NICs (test catalog: 64-port IB switches at $40k, 1 kW;
    # transceivers $1000, 10 W; NICs $2000, 20 W); 2 transceivers per NIC per tier
    ends = accelerators if servers > 1 else 0
    tiers = 0 if ends == 0 else (1 if ends <= 64 else 2)
    switches = 0 if tiers == 0 else (1 if tiers == 1 else math.ceil(3 * ends / 64))
    net_w = switches * 1000 + 2 * ends * tiers * 10 + ends * 20
    net_usd = switches * 40_000 + 2 * ends * tiers * 1000 + ends * 2000
    # IT power: accelerators 100 W idle + 600 W x busy, servers 2 kW overhead; PUE 1.5 (air)
    it = accelerators * (100 + 600 * busy) + servers * 2000 + net_w
    assert float(year.it_power_w) == pytest.approx(it)
    assert float(year.facility_power_w) == pytest.approx(1.5 * it)
    # capex: accelerators at $25k + server $100k / 8 + network share
    capex = accelerators * 25_000 + servers * 100_000 + net_usd
    assert float(year.capex_usd) == pytest.approx(capex)
    assert float(year.depreciation_usd) == pytest.approx(capex / 4)
    hours = 8760
    energy = 1.5 * it / 1000 * hours * 0.1
    assert float(year.energy_cost_usd) == pytest.approx(energy)
    it_peak = accelerators * 700 + servers * 2000 + net_w
    assert float(year.facility_cost_usd) == pytest.approx(it_peak / 1000 * 100 * 12)
    assert float(year.maintenance_cost_usd) == pytest.approx(0.05 * capex)
    assert float(year.staff_cost_usd) == pytest.approx(10 * accelerators / 1000 * 100_000)
    opex = energy + it_peak / 1000 * 1200 + 0.05 * capex + accelerators * 1000
    assert float(year.tco_usd) == pytest.approx(capex + opex)
    tokens = 100 * 256 * hours * 3600
    # the replica spends prefill_share of its time on prompts (tests/physics: how the operating
    # point finds it): that share of the accrual cost (depreciation + opex) goes to input tokens
    input_share = float(ds.prefill_share)
    assert 0 < input_share < 1
    accrual = capex / 4 + opex
    assert float(year.cost_per_million_output_tokens_usd) == pytest.approx(
        accrual * (1 - input_share) / tokens * 1e6
    )
    prompts = 100 * 1024  # conf/workload/chat.yaml input_tokens
    assert float(year.cost_per_million_input_tokens_usd) == pytest.approx(
        accrual * input_share / (prompts * hours * 3600) * 1e6
    )
    assert float(year.cost_per_request_usd) == pytest.approx(accrual / (100 * hours * 3600))
