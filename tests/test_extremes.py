"""Physically impossible but well-formed scenarios are flagged data, never a crash and never an
unflagged NaN or inf; the sweep names a servable scenario with a non-finite output."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import fleetsim
from fleetsim import api, catalog, invariants, layout, paths, sweep
from fleetsim import status as st
from fleetsim.registry import registry
from tests import oracle

TINY = Path(__file__).parent / "data" / "catalog"
#: per-token outputs, undefined without demand; outputs that may be NaN for a stated reason
PER_TOKEN = tuple(n for n, e in registry().items() if e.get("undefined_without_demand"))
OPTIONAL = tuple(n for n, e in registry().items() if e.get("nan_when"))


@pytest.fixture(autouse=True)
def _real_catalog(real_catalog_env):
    """Every test here runs on the bundled catalog unless it says otherwise."""


def _one(overrides: list[str]):
    ds = fleetsim.run(["finance.years=2", *overrides])
    assert ds["status"].size == 1
    return ds, int(ds["status"].values.item())


def _floats(ds):
    return [n for n, v in ds.data_vars.items() if np.issubdtype(v.dtype, np.floating)]


def _where(ds, name: str, codes) -> np.ndarray:
    """Boolean mask of ``ds[name]``'s shape: the scenario's status is one of ``codes``."""
    mask = ds["status"].isin(list(codes))
    return mask.broadcast_like(ds[name]).transpose(*ds[name].dims).values


def assert_flag_contract(ds) -> None:
    """feasible: all finite; zero_demand: finite except per-token; anything else: all NaN."""
    flags = {int(c) for c in ds["status"].attrs["flag_values"]}
    assert set(np.unique(ds["status"].values).tolist()) <= flags
    failed = flags - set(st.SERVABLE)
    for name in _floats(ds):
        values = ds[name].values
        feasible = values[_where(ds, name, [st.FEASIBLE])]
        if name in OPTIONAL:  # e.g. rent: NaN when the catalog has no rental price
            feasible = feasible[~np.isnan(feasible)]
        assert np.isfinite(feasible).all(), f"{name}: non-finite in a feasible scenario"
        assert np.isnan(values[_where(ds, name, failed)]).all(), f"{name}: value when infeasible"
        zero = values[_where(ds, name, [st.ZERO_DEMAND])]
        if name in PER_TOKEN:
            assert np.isnan(zero).all(), name
        elif name not in OPTIONAL:
            assert np.isfinite(zero).all(), name


def test_model_larger_than_memory_is_flagged():
    ds, code = _one(["model=deepseek-v3", "hardware=l4", "deployment.tp=1"])
    assert code == st.WEIGHTS_DO_NOT_FIT
    assert all(np.isnan(ds[n].values).all() for n in _floats(ds))


def test_zero_demand_gives_an_empty_fleet():
    ds, code = _one(["workload.requests_per_day=0"])
    assert code == st.ZERO_DEMAND
    assert (ds["accelerators"].values == 0).all()
    assert (ds["tco_usd"].values == 0).all()
    assert_flag_contract(ds)


def test_huge_demand_is_finite_and_feasible():
    ds, code = _one(["workload.requests_per_day=1e12"])
    assert code == st.FEASIBLE
    for name in _floats(ds):
        if name not in OPTIONAL:  # NaN for a stated reason (e.g. prefill pool: aggregated)
            assert np.isfinite(ds[name].values).all(), name
    assert (ds["accelerators"].values > 1e6).all()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["workload.tpot_slo_s=0.001"], st.TPOT_UNREACHABLE),
        (["workload.ttft_slo_s=1e-6"], st.TTFT_UNREACHABLE),
        (["workload.input_tokens=200000"], st.CONTEXT_TOO_LONG),
        (
            ["deployment.tp=2", "deployment.pp=1", "workload.input_tokens=100000"],
            st.KV_DOES_NOT_FIT,
        ),
    ],
    ids=["tpot", "ttft", "context", "kv"],
)
def test_unreachable_targets_are_flagged(overrides, expected):
    ds, code = _one(overrides)
    assert code == expected, st.MEANINGS[code][0]
    assert all(np.isnan(ds[n].values).all() for n in _floats(ds))


def test_rack_power_exceeded_is_flagged(tmp_path, monkeypatch):
    folder = tmp_path / "catalog"
    shutil.copytree(TINY, folder)
    path = folder / "cooling.csv"
    path.write_text(
        path.read_text().replace("air,rack_power_limit,40,kW", "air,rack_power_limit,1,kW")
    )
    monkeypatch.setenv("FLEETSIM_DATA_DIR", str(folder))
    catalog.load.cache_clear()
    ds, code = _one(["model=test-dense", "hardware=test-gpu", "facility.cooling=air"])
    assert code == st.RACK_POWER_EXCEEDED
    assert_flag_contract(ds)


def test_mixed_extreme_sweep_keeps_the_flag_contract():
    ds = fleetsim.run(
        [
            "finance.years=2",
            "model=[llama3.1-70b,deepseek-v3]",
            "hardware=[h100-sxm,l4]",
            "deployment.tp=[1,2,4]",
            "deployment.pp=1",
            "workload.requests_per_day=[0,5e6,1e12]",
            "workload.tpot_slo_s=[0.001,0.2,null]",
            "workload.ttft_slo_s=[1e-6,2.0]",
            "workload.input_tokens=[1024,100000,200000]",
            "sweep.chunk_size=97",
        ]
    )
    codes = set(np.unique(ds["status"].values).tolist())
    assert {st.FEASIBLE, st.WEIGHTS_DO_NOT_FIT, st.CONTEXT_TOO_LONG, st.KV_DOES_NOT_FIT,
            st.TPOT_UNREACHABLE, st.TTFT_UNREACHABLE, st.ZERO_DEMAND} <= codes  # fmt: skip
    assert_flag_contract(ds)
    for name in _floats(ds):
        assert not np.isinf(ds[name].values).any(), name
    flagged = ds.sel(model="deepseek-v3", hardware="l4", tp=1)
    assert (flagged["status"].values == st.WEIGHTS_DO_NOT_FIT).all()


# --------------------------------------------------------------------------- invariants
def _arrays(years: int = 3):
    return np.ones(len(layout.SCENARIO_OUTPUTS)), np.ones((len(layout.YEAR_OUTPUTS), years))


def _violation(code, o, oy) -> str | None:
    table = invariants.rules()
    index = invariants.first_violation(code, o, oy, table.scenario, table.year)
    return None if index < 0 else invariants.describe(index, o, oy)


def _year(name: str) -> int:
    return layout.YEAR_OUTPUTS.index(name)


@pytest.mark.parametrize(
    ("name", "year", "value", "message"),
    [
        # tco_usd may be NaN (no purchase price known: nan_when); it_power_w never is
        ("it_power_w", 1, np.nan, r"it_power_w=nan in year 2 \(allowed: 0 to inf\)"),
        ("accelerators", 2, -1.7e19, r"accelerators=-1.7e\+19 in year 3"),
        ("racks", 0, np.inf, "racks=inf in year 1"),
        ("utilisation", 1, 1.5, r"utilisation=1.5 in year 2 \(allowed: 0 to 1\)"),
        ("peak_utilisation", 0, -0.1, "peak_utilisation=-0.1"),
        ("energy_per_token_j", 0, 0.0, r"energy_per_token_j=0 in year 1 \(allowed: > 0\)"),
        ("tco_usd", 2, 0.5, "tco_usd=0.5 in year 3 is below 1 the year before"),
    ],
)
def test_each_rule_is_enforced_and_described(name, year, value, message):
    o, oy = _arrays()
    assert _violation(st.FEASIBLE, o, oy) is None
    oy[_year(name), year] = value
    assert re.search(message, _violation(st.FEASIBLE, o, oy))
    assert _violation(st.TPOT_UNREACHABLE, o, oy) is None  # flagged scenarios hold NaN anyway


def test_rounding_at_an_upper_bound_and_allowed_non_finite_values_pass():
    o, oy = _arrays()
    oy[_year("utilisation"), 0] = 1.0 + 2e-16
    oy[_year("rent_tco_usd"), :] = np.nan  # no rental price known
    o[layout.SCENARIO_OUTPUTS.index("ttft_s")] = np.inf  # prompts queue without bound
    assert _violation(st.FEASIBLE, o, oy) is None
    o[layout.SCENARIO_OUTPUTS.index("ttft_s")] = -np.inf
    assert "ttft_s=-inf" in _violation(st.FEASIBLE, o, oy)


def test_zero_demand_may_leave_per_token_outputs_undefined():
    o, oy = _arrays()
    for name in PER_TOKEN:
        oy[_year(name), :] = np.nan
    assert _violation(st.ZERO_DEMAND, o, oy) is None
    assert _violation(st.FEASIBLE, o, oy) is not None
    oy[_year("accelerators"), 0] = np.nan
    assert "accelerators=nan" in _violation(st.ZERO_DEMAND, o, oy)


def test_a_broken_rule_names_the_scenario_in_memory_and_streamed(monkeypatch, tmp_path):
    # a rule no fleet above 100 accelerators meets: the largest demand breaks it
    table = invariants.rules()
    year = table.year.copy()
    year[_year("accelerators"), 1] = 100.0
    monkeypatch.setattr(invariants, "rules", lambda: invariants.Rules(table.scenario, year))
    overrides = ["finance.years=2", "deployment.tp=[1,2,4]", "deployment.pp=1",
                 "workload.requests_per_day=[1e3,2e3,3e10]", "sweep.chunk_size=4"]  # fmt: skip
    with pytest.raises(sweep.SweepError, match=r"accelerators=\S+ in year 1 \(allowed: 0 to 100\)"
                       r" for a servable scenario \(.*tp=2, requests_per_day=30000000000.0\)"):  # fmt: skip
        fleetsim.run(overrides)
    with pytest.raises(sweep.SweepError, match=r"tp=2, requests_per_day=30000000000.0"):
        api.write(overrides, tmp_path / "out.nc")
    assert list(tmp_path.iterdir()) == []


def test_a_broken_rule_in_a_re_priced_fleet_is_found(monkeypatch):
    """The kernel keeps a sized fleet across prices and checks its running costs every time:
    a rule only the dearer electricity breaks names that scenario."""
    table = invariants.rules()
    year = table.year.copy()
    overrides = ["finance.years=2", "deployment.tp=[1,2]", "deployment.pp=1",
                 "workload.requests_per_day=[1e6,3e6]",
                 "finance.electricity_usd_per_kwh=[0.05,0.1,0.2]"]  # fmt: skip
    ds = fleetsim.run(overrides)
    energy = ds["energy_cost_usd"]  # every year: the fleet grows with demand
    # just above its maximum at 0.1 USD/kWh (the Dataset holds float32, the kernel checks float64)
    limit = 1.001 * float(energy.sel(electricity_usd_per_kwh=0.1).max())
    assert float(energy.max()) > limit
    year[_year("energy_cost_usd"), 1] = limit
    monkeypatch.setattr(invariants, "rules", lambda: invariants.Rules(table.scenario, year))
    with pytest.raises(sweep.SweepError, match=r"energy_cost_usd=\S+ in year \d .* for a "
                       r"servable scenario \(.*electricity_usd_per_kwh=0.2\)"):  # fmt: skip
        fleetsim.run(overrides)


def test_nothing_rechecks_what_the_kernel_checked(monkeypatch):
    """The kernel writes the final arrays in place and is the only check: values spoiled after
    it (servable scenarios' TCO set to NaN) reach the Dataset unchecked."""
    real = sweep.call_kernel
    calls = []

    def spoil(inputs, years, lo, hi, selection, out_scenario, out_year, out_status, *rest):
        bad = real(inputs, years, lo, hi, selection, out_scenario, out_year, out_status, *rest)
        calls.append((lo, hi))
        servable = np.flatnonzero(np.isin(out_status, st.SERVABLE))
        out_year[selection.year_names.index("tco_usd"), servable[:3], 0] = np.nan
        return bad

    monkeypatch.setattr(sweep, "call_kernel", spoil)
    ds = fleetsim.run(["finance.years=2", "hardware=[a100-sxm,h100-sxm,h200]",
                       "deployment.tp=[1,2,4]", "workload.requests_per_day=[0,1e6,3e6]",
                       "sweep.chunk_size=4"])  # fmt: skip
    tco = ds["tco_usd"].isel(year=0).values
    servable = np.isin(ds["status"].values, st.SERVABLE)
    assert calls == [(0, 27)]  # the whole sweep in one kernel call, into the final arrays
    assert np.isnan(tco[servable]).sum() == 3  # the spoiled values, kept


@pytest.mark.parametrize(
    "overrides",
    [
        ["finance.years=30", "workload.growth_per_year=[0,4,10]"],
        ["finance.years=100", "workload.growth_per_year=[0,0.5,10]"],
        [
            "finance.years=100",
            "workload.growth_per_year=-0.99",
            "workload.requests_per_day=[1,1e12]",
        ],
    ],
    ids=["30-years", "100-years", "shrinking"],
)
def test_long_horizons_and_fast_growth_never_wrap_around(overrides):
    # float64: a century of shrinking demand costs ~1e200 per token (beyond float32)
    ds = fleetsim.run(["model=[llama3.1-8b,llama3.1-70b]", "hardware=[h100-sxm,b200]", *overrides,
                       "output.float32=false"])  # fmt: skip
    assert (ds["status"] == st.FEASIBLE).any()
    assert oracle.invariant_violations(ds) == 0
    last = ds.isel(year=-1).where(ds["status"] == st.FEASIBLE)
    assert float(last["accelerators"].max()) > 0


def test_bundled_catalog_is_used():
    assert catalog.load().sha256 == catalog.load(paths._builtin_data_dir()).sha256


def test_saturated_replica_gives_an_unbounded_ttft_on_both_paths(tmp_path):
    # offline (no TTFT target) planned at full utilisation: no sequence slot ever frees for an
    # arrival and prompts queue without bound, which the registry allows (inf_when) in memory
    # and in a streamed file alike; below full utilisation the TTFT is finite
    overrides = ["workload=offline", "model=llama3.1-8b", "hardware=h200", "deployment.tp=1",
                 "deployment.step_token_budget=[100,8192]", "finance.years=1"]  # fmt: skip
    ds = fleetsim.run(overrides).squeeze()
    assert np.isposinf(float(ds.ttft_s.sel(step_token_budget=100)))
    assert np.isposinf(float(ds.ttft_s.sel(step_token_budget=8192)))
    busy = fleetsim.run([*overrides, "workload.max_utilisation=0.9"]).squeeze()
    assert np.isfinite(float(busy.ttft_s.sel(step_token_budget=8192)))
    path = api.write(overrides, tmp_path / "sweep.nc")
    with fleetsim.open_dataset(path) as back:
        assert np.isposinf(float(back.ttft_s.squeeze().sel(step_token_budget=100)))


def test_float32_store_refuses_a_value_it_cannot_hold(tmp_path):
    # shrinking demand for a century: cost per token ~1e200, finite in float64, inf in float32
    overrides = ["workload.growth_per_year=-0.99", "finance.years=100"]
    with pytest.raises(fleetsim.InputError, match=r"output.float32=True .*false for this sweep: "):
        api.write(overrides, tmp_path / "f32.nc")
    assert list(tmp_path.iterdir()) == []
    path = api.write([*overrides, "output.float32=false"], tmp_path / "f64.nc")
    with fleetsim.open_dataset(path) as ds:
        assert float(ds["cost_per_request_usd"].max()) > 3.5e38


def test_an_expert_parallel_degree_the_layout_cannot_hold_is_flagged_not_clamped(
    tiny_catalog_env,
):
    """ep=64 with tp=8 was silently run as ep=8: it is marked ``layout_not_divisible`` now."""
    ds = fleetsim.run(["model=test-moe", "hardware=test-gpu", "finance.years=1",
                       "deployment.tp=8", "deployment.ep=[8,64]"])  # fmt: skip
    ds = ds.squeeze()
    assert int(ds["status"].sel(ep=8)) == st.FEASIBLE
    assert int(ds["status"].sel(ep=64)) == st.LAYOUT_NOT_DIVISIBLE
    assert float(ds["expert_parallel"].sel(ep=8)) == 8


def test_the_kernels_check_agrees_with_first_violation():
    """The kernel's branch-free check (``outputs_pass`` on ``check_terms``, ``never_falls``)
    gives the verdict of ``first_violation``, value by value, for every rule: values at, just
    inside and just outside each bound, zero, negative zero, +-inf and NaN, feasible or not."""
    table = invariants.rules()
    years = 3
    scenario_terms = invariants.check_terms(table.scenario, 1)
    year_terms = invariants.check_terms(table.year, years)
    rising = invariants.rising_rows(table.year)
    assert {layout.YEAR_OUTPUTS[v] for v in rising} >= {"tco_usd", "rent_tco_usd"}

    def kernel_passes(code, o, oy):
        return (
            invariants.outputs_pass(code, o, scenario_terms)
            and invariants.outputs_pass(code, oy.reshape(-1), year_terms)
            and invariants.never_falls(oy, rising)
        )

    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, 3.5e38,
                -5e-324, np.finfo(np.float64).max]  # fmt: skip
    for code in (st.FEASIBLE, st.ZERO_DEMAND):
        for rules, kind in ((table.scenario, "scenario"), (table.year, "year")):
            for k, (low, high, _) in enumerate(rules):
                top = high + invariants.TOLERANCE * abs(high)
                edges = [low, np.nextafter(low, -np.inf), np.nextafter(low, np.inf), high, top,
                         np.nextafter(top, np.inf), np.nextafter(top, -np.inf)]  # fmt: skip
                for value in specials + edges:
                    for y in range(1 if kind == "scenario" else years):
                        o, oy = _arrays(years)
                        if kind == "scenario":
                            o[k] = value
                        else:
                            oy[k, y] = value
                        expected = invariants.first_violation(
                            code, o, oy, table.scenario, table.year
                        )
                        assert kernel_passes(code, o, oy) == (expected < 0), (kind, k, y, value)
