"""Physical and economic monotonicity, checked on random scenarios (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as hs

from fleetsim import api, axes, catalog, config, layout, sweep

TINY = Path(__file__).resolve().parent / "data" / "catalog"
# Each example composes a Hydra config (~0.1 s); shrinking traces that pure-Python code and
# takes minutes, so failures are reported unshrunk (the failing draw is printed).
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

scenarios = hs.fixed_dictionaries(
    {
        "model": hs.sampled_from(["test-dense", "test-moe"]),
        "hardware": hs.sampled_from(["test-gpu", "test-small"]),
        "deployment.tp": hs.sampled_from([1, 2, 4, 8, "auto"]),
        "deployment.pp": hs.sampled_from([1, 2, "auto"]),
        "deployment.prefill": hs.sampled_from(["chunked", "whole"]),
        "deployment.step_token_budget": hs.integers(64, 16384),
        "deployment.weight_dtype": hs.sampled_from(["bf16", "fp8", "int4"]),
        "workload.input_tokens": hs.integers(16, 4000),
        "workload.output_tokens": hs.integers(1, 2000),
        "workload.tpot_slo_s": hs.one_of(hs.none(), hs.floats(0.005, 0.5)),
        "workload.ttft_slo_s": hs.one_of(hs.none(), hs.floats(0.05, 5.0)),
        "workload.ttft_quantile": hs.one_of(hs.none(), hs.floats(0.5, 0.999)),
        "workload.input_tokens_cv": hs.floats(0.0, 2.0),
        "workload.output_tokens_cv": hs.floats(0.0, 2.0),
        "workload.requests_per_day": hs.floats(1e3, 1e9),
        "workload.growth_per_year": hs.floats(-0.5, 3.0),
    }
)


def _overrides(draw: dict) -> list[str]:
    def fmt(v):
        return "null" if v is None else str(v)

    return [f"{k}={fmt(v)}" for k, v in draw.items()] + ["finance.years=4"]


def _run(monkeypatch, overrides):
    monkeypatch.setenv("FLEETSIM_DATA_DIR", str(TINY))
    catalog.load.cache_clear()
    float64 = [*overrides, "output.float32=false"]  # properties of the kernel's float64 values
    return api.run_config(api.compose(float64), progress=False)


def _is_monotone(values: np.ndarray, axis: int) -> bool:
    """Non-decreasing along ``axis`` wherever neighbours are both finite (infeasible = NaN)."""
    diffs = np.diff(values, axis=axis)
    finite = np.isfinite(diffs)
    if not finite.any():
        return True
    scale = np.abs(values[np.isfinite(values)]).max()
    return bool(np.all(diffs[finite] >= -1e-9 * scale))


def _monotone_along(ds, name: str, dim: str) -> bool:
    """``ds[name]`` is non-decreasing along ``dim`` in every scenario and year."""
    values = ds[name].transpose(..., dim, "year").values
    return _is_monotone(values, values.ndim - 2)


#: a draw whose layout search (pp=auto) switches from PP16 to PP8 as the bandwidth grows: the
#: planned rate rises (9.7 -> 16.2 tokens/s per accelerator) while the full-occupancy rate of the
#: layout kept falls (38.6 -> 36.1), which a check of the kept layout's rates alone took for a
#: slowdown
LAYOUT_SWITCH = {
    "workload.input_tokens": 3785, "deployment.step_token_budget": 1319,
    "workload.tpot_slo_s": 0.2579265557606438, "deployment.weight_dtype": "bf16",
    "deployment.prefill": "whole", "deployment.pp": "auto",
    "workload.requests_per_day": 894968685.7432945, "workload.input_tokens_cv": 0.6311374750126096,
    "workload.output_tokens_cv": 1.4691797967754157, "deployment.tp": 1,
    "workload.growth_per_year": -0.0, "workload.output_tokens": 446, "model": "test-moe",
    "workload.ttft_quantile": None, "hardware": "test-small", "workload.ttft_slo_s": 3.790510379027075,
}  # fmt: skip
LAYOUT = ("tensor_parallel", "pipeline_parallel", "attention_data_parallel", "expert_parallel")


@SETTINGS
@example(draw=LAYOUT_SWITCH, factors=[1.1287032973416606, 1.467383385451601, 4.639755884693116])
@given(draw=scenarios, factors=hs.lists(hs.floats(0.2, 5.0), min_size=3, max_size=3, unique=True))
def test_more_memory_bandwidth_is_never_slower(monkeypatch, draw, factors):
    """The layout search's rate never falls with bandwidth; a layout kept never gets slower.

    The search keeps the layout with the most tokens/s per accelerator at its planned
    utilisation (:mod:`fleetsim.physics.layout_search`), so that rate is what more bandwidth may
    not lower; the full-occupancy rates (at the TPOT-feasible batch and at the largest batch)
    are compared only between neighbours that kept their layout.
    """
    monkeypatch.setenv("FLEETSIM_DATA_DIR", str(TINY))
    catalog.load.cache_clear()
    loaded = catalog.load()
    scenario = config.validate(api.compose(_overrides(draw)), loaded.ids())
    grid = axes.build(scenario)
    inputs = sweep.kernel_inputs(scenario, loaded, grid)
    column = layout.HARDWARE_COLUMNS.index("hbm_bandwidth")
    names = ("max_tokens_per_s_per_accelerator", "tokens_per_s_per_accelerator",
             "target_utilisation", *LAYOUT)  # fmt: skip
    rows = []
    for factor in sorted(factors):
        scaled = inputs.hardware.copy()
        scaled[:, column] *= factor
        s, _, _ = sweep.evaluate_range(
            sweep.KernelInputs(**{**inputs.__dict__, "hardware": scaled}), 4, 0, 1
        )
        rows.append({n: s[0, layout.SCENARIO_OUTPUTS.index(n)] for n in names})
    planned = np.array([r["tokens_per_s_per_accelerator"] * r["target_utilisation"] for r in rows])
    assert _is_monotone(planned, 0)
    for before, after in zip(rows, rows[1:], strict=False):
        if all(before[n] == after[n] for n in LAYOUT):
            for n in names[:2]:
                assert _is_monotone(np.array([before[n], after[n]]), 0), (n, before, after)


@SETTINGS
@given(draw=scenarios)
def test_higher_electricity_price_is_never_cheaper(monkeypatch, draw):
    ds = _run(monkeypatch, [*_overrides(draw), "finance.electricity_usd_per_kwh=[0.02,0.08,0.3]"])
    assert _monotone_along(ds, "tco_usd", "electricity_usd_per_kwh")


@SETTINGS
@given(draw=scenarios)
def test_more_demand_never_needs_fewer_accelerators(monkeypatch, draw):
    draw = dict(draw)
    draw.pop("workload.requests_per_day")
    ds = _run(monkeypatch, [*_overrides(draw), "workload.requests_per_day=[1e3,1e5,1e7,1e9]"])
    assert _monotone_along(ds, "accelerators", "requests_per_day")
    assert _monotone_along(ds, "tco_usd", "requests_per_day")


@SETTINGS
@given(draw=scenarios)
def test_more_growth_is_never_cheaper(monkeypatch, draw):
    draw = dict(draw)
    draw.pop("workload.growth_per_year")
    ds = _run(monkeypatch, [*_overrides(draw), "workload.growth_per_year=[-0.2,0,0.5,2]"])
    assert _monotone_along(ds, "tco_usd", "growth_per_year")


@SETTINGS
@given(draw=scenarios)
def test_tco_is_the_sum_of_its_annual_lines(monkeypatch, draw):
    ds = _run(monkeypatch, _overrides(draw))
    lines = ds["capex_usd"] + ds["opex_usd"]
    np.testing.assert_allclose(
        ds["tco_usd"].values, lines.cumsum("year", skipna=False).values, rtol=1e-12
    )
    parts = (
        ds["energy_cost_usd"]
        + ds["facility_cost_usd"]
        + ds["maintenance_cost_usd"]
        + ds["staff_cost_usd"]
    )
    np.testing.assert_allclose(ds["opex_usd"].values, parts.values, rtol=1e-12)
