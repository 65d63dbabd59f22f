"""The in-memory path (``fleetsim.run``): the kernel writes the final arrays in the stored dtype,
float32 and float64 runs agree to float32's precision, and the memory guard counts exactly what
is allocated."""

from __future__ import annotations

import numpy as np
import pytest

import fleetsim
from fleetsim import api, axes, catalog, config, layout, sweep

SWEEP = [
    "finance.years=3",
    "model=[test-dense,test-moe,test-mla]",
    "hardware=[test-gpu,test-small]",
    "deployment.tp=[1,2,4]",
    "workload.output_tokens=[128,256]",
    "workload.ttft_slo_s=[0.5,null]",
    "workload.requests_per_day=[0,1e6,3e7]",
    "sweep.chunk_size=7",
]


def _kernel_float64(overrides):
    """The kernel's float64 outputs of the whole grid in one call (what the old path copied)."""
    loaded = catalog.load()
    scenario = config.validate(api.compose(overrides), loaded.ids())
    grid = axes.build(scenario)
    inputs = sweep.kernel_inputs(scenario, loaded, grid)
    s, y, status = sweep.evaluate_range(inputs, scenario.years, 0, axes.size(grid))
    return axes.shape(grid), s, y, status


def test_float64_run_is_bit_identical_to_the_kernels_values(tiny_catalog_env):
    shape, s, y, status = _kernel_float64(SWEEP)
    ds = fleetsim.run([*SWEEP, "output.float32=false"])
    np.testing.assert_array_equal(ds["status"].values, status.reshape(shape))
    for j, name in enumerate(layout.SCENARIO_OUTPUTS):
        assert ds[name].dtype == np.float64
        np.testing.assert_array_equal(ds[name].values, s[:, j].reshape(shape), err_msg=name)
    for j, name in enumerate(layout.YEAR_OUTPUTS):
        assert ds[name].dtype == np.float64
        np.testing.assert_array_equal(ds[name].values, y[:, j].reshape(*shape, 3), err_msg=name)


def test_float32_run_is_the_float64_run_rounded_once(tiny_catalog_env):
    """float32 (the default) agrees with float64 to float32's precision: each value is the
    kernel's float64 value rounded to the nearest float32 (as a file stores it), no more."""
    wide = fleetsim.run([*SWEEP, "output.float32=false"])
    narrow = fleetsim.run(SWEEP)
    assert narrow["status"].dtype == np.int8
    np.testing.assert_array_equal(narrow["status"].values, wide["status"].values)
    for name in (*layout.SCENARIO_OUTPUTS, *layout.YEAR_OUTPUTS):
        assert narrow[name].dtype == np.float32, name
        np.testing.assert_array_equal(
            narrow[name].values, wide[name].values.astype(np.float32), err_msg=name
        )
        finite = np.isfinite(wide[name].values)
        np.testing.assert_allclose(
            narrow[name].values[finite], wide[name].values[finite], rtol=2.0**-24, atol=0.0
        )


@pytest.mark.parametrize("float32", [True, False])
def test_memory_guard_counts_what_is_allocated(tiny_catalog_env, float32):
    overrides = [
        *SWEEP,
        f"output.float32={str(float32).lower()}",
        "output.variables=[tco_usd,tpot_s]",
    ]
    ds = fleetsim.run(overrides)
    selection = sweep.Selection.of(["tco_usd", "tpot_s"])
    dtype = np.float32 if float32 else np.float64
    expected = sweep.output_bytes(ds["status"].size, 3, selection, dtype)
    assert sum(v.nbytes for v in ds.data_vars.values()) == expected


def test_memory_guard_refuses_float64_where_float32_fits(tiny_catalog_env, monkeypatch):
    n, everything = 3 * 2 * 3 * 2 * 2 * 3, sweep.everything()
    need32 = sweep.output_bytes(n, 3, everything, np.float32)
    need64 = sweep.output_bytes(n, 3, everything, np.float64)
    pages = (need32 + need64) // 4096  # half of this "machine" lies between the two needs
    assert need32 < pages * 4096 // 2 < need64
    monkeypatch.setattr(api.os, "sysconf", lambda name: pages if name == "SC_PHYS_PAGES" else 4096)
    assert fleetsim.run(SWEEP)["status"].size == n
    with pytest.raises(fleetsim.InputError, match="sweep.shards.*fit in memory"):
        fleetsim.run([*SWEEP, "output.float32=false"])


def test_a_sweep_without_pools_runs_the_kernel_compiled_without_them(tiny_catalog_env, monkeypatch):
    """No mix and no disaggregated scenario: the kernel variant whose pool tables are None
    (compiled without that code), bit for bit what the full kernel gives."""
    from fleetsim import _jit, kernel

    loaded = catalog.load()
    scenario = config.validate(api.compose(SWEEP), loaded.ids())
    grid = axes.build(scenario)
    inputs = sweep.kernel_inputs(scenario, loaded, grid)
    assert inputs.aggregated_only
    n, years = axes.size(grid), scenario.years
    everything = sweep.everything()

    def outputs(ready: bool):
        monkeypatch.setattr(_jit, "ready", lambda variant: ready)  # the full one compiled or not
        monkeypatch.setattr(_jit, "compiled", lambda variant, seconds: None)  # no records
        out = (np.empty((len(everything.scenario), n)), np.empty((len(everything.year), n, years)),
               np.empty(n, dtype=np.int8))  # fmt: skip
        assert sweep.call_kernel(inputs, years, 0, n, everything, *out) < 0
        return out

    alone, full = outputs(False), outputs(True)
    pools = [sig[k] for sig in kernel.evaluate.signatures for k in (18, 19)]  # the tables
    assert {str(t) for t in pools} >= {"none", "array(int64, 2d, C)"}
    for a, b in zip(alone, full, strict=True):
        np.testing.assert_array_equal(a, b)


def _aggregated_only(overrides) -> bool:
    loaded = catalog.load()
    scenario = config.validate(api.compose(overrides), loaded.ids())
    return sweep.kernel_inputs(scenario, loaded, axes.build(scenario)).aggregated_only


def test_a_sweep_with_disaggregated_scenarios_needs_the_full_kernel(tiny_catalog_env):
    assert not _aggregated_only([*SWEEP, "deployment.serving=[aggregated,disaggregated]"])


def test_a_mix_needs_the_full_kernel(real_catalog_env):
    assert _aggregated_only(["finance.years=1"])
    assert not _aggregated_only(["finance.years=1", "mix.candidates=[h100-sxm,mi300x]",
                                 "mix.shares=[[1,0]]"])  # fmt: skip
