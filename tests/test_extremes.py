"""Physically impossible but well-formed scenarios are flagged data, never a crash and never an
unflagged NaN or inf; the sweep names a servable scenario with a non-finite output."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import fleetsim
from fleetsim import api, axes, catalog, config, layout, paths, sweep
from fleetsim import status as st
from fleetsim.registry import registry

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
        assert np.isfinite(ds[name].values).all(), name
    assert (ds["accelerators"].values > 1e6).all()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["workload.tpot_slo_s=0.001"], st.TPOT_UNREACHABLE),
        (["workload.ttft_slo_s=1e-6"], st.TTFT_UNREACHABLE),
        (["workload.input_tokens=200000"], st.CONTEXT_TOO_LONG),
        (["deployment.tp=2", "workload.input_tokens=100000"], st.KV_DOES_NOT_FIT),
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


# --------------------------------------------------------------------------- check_outputs
def _grid():
    return (
        axes.Axis(config.FIELD_BY_KEY["model"], ("a", "b")),
        axes.Axis(config.FIELD_BY_KEY["hardware"], ("x", "y", "z")),
    )


def _arrays(n: int, years: int = 2):
    scenario = np.ones((n, len(layout.SCENARIO_OUTPUTS)))
    year = np.ones((n, len(layout.YEAR_OUTPUTS), years))
    status = np.zeros(n, dtype=np.int8)
    return scenario, year, status


def test_check_outputs_names_the_servable_scenario_with_a_nan():
    grid = _grid()
    scenario, year, status = _arrays(6)
    sweep.check_outputs(grid, 0, scenario, year, status)  # all finite: fine
    year[4, layout.YEAR_OUTPUTS.index("tco_usd"), 1] = np.nan  # flat 4 -> model b, hardware y
    with pytest.raises(sweep.SweepError, match=r"model='b', hardware='y'"):
        sweep.check_outputs(grid, 0, scenario, year, status)
    status[4] = st.TPOT_UNREACHABLE  # a flagged scenario may hold NaN
    sweep.check_outputs(grid, 0, scenario, year, status)


def test_check_outputs_uses_the_chunk_offset_and_inf():
    grid = _grid()
    scenario, year, status = _arrays(2)
    scenario[1, 0] = np.inf  # chunk starts at flat index 3 -> flat 4: model b, hardware y
    with pytest.raises(sweep.SweepError, match=r"model='b', hardware='y'"):
        sweep.check_outputs(grid, 3, scenario, year, status)


def test_check_outputs_zero_demand():
    grid = _grid()
    scenario, year, status = _arrays(6)
    status[:] = st.ZERO_DEMAND
    for name in PER_TOKEN:
        year[:, layout.YEAR_OUTPUTS.index(name), :] = np.nan
    sweep.check_outputs(grid, 0, scenario, year, status)  # undefined per-token cost is fine
    year[5, layout.YEAR_OUTPUTS.index("accelerators"), 0] = np.nan
    with pytest.raises(sweep.SweepError, match=r"model='b', hardware='z'"):
        sweep.check_outputs(grid, 0, scenario, year, status)


def test_sweep_checks_after_each_chunk(monkeypatch):
    real = sweep.evaluate_range

    def broken(inputs, years, lo, hi):
        s, y, code = real(inputs, years, lo, hi)
        if lo <= 5 < hi:
            code[5 - lo] = st.FEASIBLE
            s[5 - lo, 0] = np.nan
        return s, y, code

    monkeypatch.setattr(sweep, "evaluate_range", broken)
    with pytest.raises(sweep.SweepError, match=r"tp=2, requests_per_day=3000000.0"):
        fleetsim.run(
            ["finance.years=2", "deployment.tp=[1,2,4]", "workload.requests_per_day=[1e6,2e6,3e6]",
             "sweep.chunk_size=4"]
        )  # fmt: skip


def test_bundled_catalog_is_used():
    assert catalog.load().sha256 == catalog.load(paths._builtin_data_dir()).sha256


def test_saturated_prefill_path_gives_an_unbounded_ttft_on_both_paths(tmp_path):
    # offline (no TTFT target) with a step token budget so small it binds: prompts queue without
    # bound, which the registry allows (inf_when) in memory and in a streamed file alike
    overrides = ["workload=offline", "model=llama3.1-8b", "hardware=h200", "deployment.tp=1",
                 "deployment.step_token_budget=[100,8192]", "finance.years=1"]  # fmt: skip
    ds = fleetsim.run(overrides).squeeze()
    assert np.isposinf(float(ds.ttft_s.sel(step_token_budget=100)))
    assert np.isfinite(float(ds.ttft_s.sel(step_token_budget=8192)))
    path = api.write(overrides, tmp_path / "sweep.nc")
    with fleetsim.open_dataset(path) as back:
        assert np.isposinf(float(back.ttft_s.squeeze().sel(step_token_budget=100)))
