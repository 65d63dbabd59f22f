"""The compiled kernel agrees with the plain-Python oracle (tests/oracle.py) on random scenarios."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fleetsim import api, axes, catalog, config, invariants, kernel, layout, sweep
from fleetsim import status as st

from .oracle import evaluate

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "catalog"


def _random_overrides(rng: np.random.Generator, models, hardware) -> list[str]:
    def pick(values, k):
        return "[" + ",".join(str(v) for v in rng.choice(values, size=k, replace=False)) + "]"

    return [
        f"model={pick(models, 2)}",
        f"hardware={pick(hardware, 2)}",
        f"deployment.tp={pick(['auto', 1, 2, 4, 8, 16], 2)}",
        f"deployment.pp={rng.choice(['1', '2', 'auto'])}",  # scalars: at most 32 dimensions
        f"deployment.prefill={rng.choice(['chunked', 'whole'])}",
        f"deployment.step_token_budget={int(rng.integers(16, 16384))}",
        f"workload.input_tokens_cv={rng.uniform(0, 2):.3f}",
        f"workload.output_tokens_cv={rng.choice([0.0, round(rng.uniform(0, 2), 3)])}",
        f"deployment.ep={pick(['auto', 1, 2, 8], 2)}",
        f"deployment.attention_dp={pick(['auto', 1, 2, 8], 2)}",
        f"deployment.weight_dtype={pick(['bf16', 'fp8', 'int4', 'fp4'], 2)}",
        f"deployment.kv_dtype={pick(['bf16', 'fp8'], 1)}",
        # the vendor engine runs everywhere (a catalog without efficiency.csv has only it)
        f"deployment.engine=[vendor,{rng.choice(['vllm', 'sglang', 'trtllm'])}]",
        f"workload.input_tokens={pick([64, 512, 2000, 9000], 2)}",
        f"workload.output_tokens=[{int(rng.integers(1, 900))}]",
        f"workload.tpot_slo_s=[null,{rng.uniform(0.005, 0.2):.4f}]",
        f"workload.ttft_slo_s=[null,{rng.uniform(0.05, 3):.3f}]",
        f"workload.ttft_quantile={rng.choice(['null', '0.9', '0.99'])}",
        f"workload.tpot_quantile=[null,{rng.choice(['0.9', '0.99'])}]",
        f"workload.requests_per_day=[0,{rng.uniform(1e4, 1e8):.0f}]",
        f"workload.growth_per_year=[{rng.uniform(-0.5, 2):.3f}]",
        f"network.fabric={pick(['infiniband', 'roce'], 1)}",
        f"facility.cooling={pick(['air', 'liquid'], 1)}",
        f"finance.price_decline_per_year=[{rng.uniform(0, 0.3):.3f}]",
        f"finance.maintenance_frac_per_year=[{rng.uniform(0, 0.2):.3f}]",
        "finance.staff_per_1000_accelerators=2",
        "finance.staff_cost_usd_per_year=150000",
        f"finance.hardware_lifetime_years=[{int(rng.integers(1, 6))}]",
        f"finance.depreciation_years=[{int(rng.integers(1, 6))}]",
        f"facility.servers_per_rack=[null,{int(rng.integers(1, 9))}]",
        f"deployment.max_batch=[null,{int(rng.integers(1, 64))}]",
        f"deployment.prefix_cache_hit_rate=[0,{rng.uniform(0, 0.95):.3f}]",
        f"facility.build_usd_per_kw={rng.choice(['null', f'{rng.uniform(5000, 20000):.0f}'])}",
        f"deployment.draft_model=[null,{pick(models, 1)[1:-1]}]",
        f"deployment.draft_tokens=[{int(rng.integers(1, 8))}]",
        f"deployment.acceptance_rate=[{rng.uniform(0, 0.95):.3f}]",
        f"facility.building_life_years=[{int(rng.integers(1, 25))}]",
        f"facility.grid_carbon_g_per_kwh=[{rng.uniform(0, 800):.1f}]",
        f"finance.discount_rate=[{rng.uniform(0, 0.15):.3f}]",
        f"finance.software_usd_per_accelerator_year=[{rng.uniform(0, 5000):.0f}]",
        f"finance.rental_usd_per_accelerator_hour={rng.choice(['null', f'{rng.uniform(0.5, 8):.2f}'])}",
        "finance.years=6",
    ]


def _scenario_dict(scenario, ds_point) -> dict:
    values = {key: vals[0] for key, vals in scenario.values.items()}
    for spec in config.FIELDS:
        if (
            spec.name in ds_point.coords
            and spec.name in ds_point.dims
            or spec.name in ds_point.coords
        ):
            value = ds_point[spec.name].values.item()
            values[spec.key] = None if isinstance(value, float) and math.isinf(value) else value
    return values


@pytest.mark.parametrize(
    ("catalog_dir", "seed", "forced"),
    [
        (TINY, 1, []),
        (TINY, 2, []),
        (None, 3, []),
        (None, 4, []),
        # the joint layout search, and a step token budget small enough to cap the batch
        (None, 5, ["deployment.tp=auto", "deployment.pp=auto", "deployment.prefill=chunked",
                   "deployment.step_token_budget=300"]),
        # MoE and MLA models: the (attention_dp, ep) search beside fixed layouts
        (None, 6, ["model=[mixtral-8x7b,deepseek-v3]"]),
        (None, 7, ["model=[deepseek-r1,mixtral-8x22b]", "deployment.tp=auto",
                   "deployment.ep=[auto,8]", "deployment.attention_dp=[auto,1]"]),
        # serving engines: their efficiency scales, and one that does not run on AMD
        (None, 8, ["model=[llama3.1-70b,deepseek-r1]", "hardware=[h200,mi300x]",
                   "deployment.engine=[vendor,vllm,trtllm]"]),
    ],
)  # fmt: skip
def test_kernel_matches_oracle(monkeypatch, catalog_dir, seed, forced):
    if catalog_dir is not None:
        monkeypatch.setenv("FLEETSIM_DATA_DIR", str(catalog_dir))
    catalog.load.cache_clear()
    loaded = catalog.load()
    rng = np.random.default_rng(seed)
    overrides = _random_overrides(rng, loaded.tables["models"].ids, loaded.tables["hardware"].ids)
    overrides += [*forced, "output.float32=false"]  # the physics in float64, as computed
    cfg = api.compose(overrides)
    scenario = config.validate(cfg, loaded.ids())
    ds = api.run_config(cfg, progress=False)
    flat = ds.stack(scenario_index=ds["status"].dims)
    n = flat.sizes["scenario_index"]
    picks = rng.choice(n, size=min(n, 150), replace=False)
    compared = {code: 0 for code in st.MEANINGS}
    for i in picks:
        point = flat.isel(scenario_index=int(i))
        sc = _scenario_dict(scenario, point)
        for spec in config.FIELDS:  # a tp axis holding "auto" is stored as strings
            if spec.kind == "integer" and isinstance(sc[spec.key], str) and sc[spec.key] != "auto":
                sc[spec.key] = int(sc[spec.key])
        if sc["deployment.draft_model"] == "none":  # a null draft model is labelled "none"
            sc["deployment.draft_model"] = None
        for spec in config.FIELDS:  # null bounds come back from the Dataset as inf
            value = sc[spec.key]
            if spec.nullable and isinstance(value, float) and math.isinf(value):
                sc[spec.key] = None
        code, rep, per_year = evaluate(sc, loaded, scenario.years)
        assert int(point["status"]) == code, sc
        compared[code] += 1
        if code not in st.SERVABLE:
            assert np.isnan(point["tco_usd"].values).all()
            continue
        for name, expected in rep.items():
            assert float(point[name]) == pytest.approx(expected, rel=1e-9), (name, sc)
        for name, expected in per_year.items():
            np.testing.assert_allclose(
                point[name].values, expected, rtol=1e-9, err_msg=f"{name} {sc}"
            )
    assert compared[st.FEASIBLE] > 10, compared  # the draw must exercise the feasible path


def test_compiled_kernel_equals_python_kernel(monkeypatch):
    """``evaluate.py_func`` (the kernel run as Python) gives the compiled kernel's numbers."""
    monkeypatch.setenv("FLEETSIM_DATA_DIR", str(TINY))
    catalog.load.cache_clear()
    loaded = catalog.load()
    cfg = api.compose(
        [
            "model=[test-dense,test-moe]",
            "hardware=[test-gpu,test-small]",
            "deployment.tp=[1,2]",
            "finance.years=3",
        ]
    )
    scenario = config.validate(cfg, loaded.ids())
    grid = axes.build(scenario)
    inputs = sweep.kernel_inputs(scenario, loaded, grid)
    compiled = sweep.evaluate_range(inputs, 3, 0, axes.size(grid))
    n = axes.size(grid)
    python = (
        np.empty((len(layout.SCENARIO_OUTPUTS), n)),
        np.empty((len(layout.YEAR_OUTPUTS), n, 3)),
        np.empty(n, dtype=np.int8),
    )
    everything = sweep.everything()
    kernel.evaluate.py_func(
        0, n, inputs.base, inputs.axis_param, inputs.axis_offset, inputs.axis_length, inputs.axis_values,
        inputs.multi_start, inputs.multi_slots, inputs.axis_physics, inputs.axis_fleet, 3, inputs.hardware, inputs.models, inputs.fabrics,
        inputs.cooling, inputs.dtype_bytes, inputs.compute_column, inputs.pool_hardware, inputs.pool_share,
        everything.scenario, everything.year, invariants.rules().scenario, invariants.rules().year,
        False, 0, np.empty((0, 0), np.float32), np.empty((0, 0, 0), np.float32), *python,
        np.empty((n + kernel.BLOCK - 1) // kernel.BLOCK, dtype=np.int64),
    )  # fmt: skip
    python = (python[0].T, python[1].transpose(1, 0, 2), python[2])  # scenario-major, as compiled
    for got, expected in zip(python, compiled, strict=True):
        np.testing.assert_array_equal(got, expected)
