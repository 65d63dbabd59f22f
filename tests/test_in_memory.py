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


def test_the_datasets_arrays_are_the_kernels_output_buffers(tiny_catalog_env, monkeypatch):
    """No copy between the kernel and the Dataset: one kernel call writes the whole sweep, and
    every variable's data is that call's output array, viewed in the grid's shape."""
    real = sweep.call_kernel
    written = []

    def record(*args):
        written.append(args[5:8])
        return real(*args)

    monkeypatch.setattr(sweep, "call_kernel", record)
    ds = fleetsim.run(SWEEP)
    assert len(written) == 1
    out_scenario, out_year, out_status = written[0]
    pairs = [(ds["status"].data, out_status)]
    pairs += [(ds[name].data, out_scenario[j]) for j, name in enumerate(layout.SCENARIO_OUTPUTS)]
    pairs += [(ds[name].data, out_year[j]) for j, name in enumerate(layout.YEAR_OUTPUTS)]
    for data, kernel_out in pairs:
        assert isinstance(data, np.ndarray)
        assert data.dtype == kernel_out.dtype
        assert data.ctypes.data == kernel_out.ctypes.data
        assert data.nbytes == kernel_out.nbytes
    assert ds.nbytes - sum(c.nbytes for c in ds.coords.values()) == sum(
        a.nbytes for a in written[0]
    )


def test_the_kernel_threads_take_the_sweep_in_pieces_bit_for_bit_as_in_chunks(tiny_catalog_env):
    """One kernel call for the whole sweep, in pieces of whole blocks (a chunk's share per
    thread): progress after each piece, the values those of chunks cut elsewhere."""
    from fleetsim import kernel

    overrides = [*SWEEP, "finance.electricity_usd_per_kwh=[0.05,0.1,0.15]",
                 "output.float32=false", "sweep.threads=2"]  # fmt: skip
    loaded = catalog.load()
    scenario = config.validate(api.compose(overrides), loaded.ids())
    grid = axes.build(scenario)
    inputs, n = sweep.kernel_inputs(scenario, loaded, grid), axes.size(grid)
    api.set_threads(2)
    done = []
    arrays = sweep.run(scenario, loaded, grid, 7, done.append, sweep.everything(), np.float64)
    assert n == 648
    assert done == [kernel.BLOCK, kernel.BLOCK, 136]
    for lo in range(0, n, 100):  # chunks whose edges are not the pieces'
        s, y, status = sweep.evaluate_range(inputs, scenario.years, lo, min(n, lo + 100))
        np.testing.assert_array_equal(arrays.status[lo : lo + 100], status)
        np.testing.assert_array_equal(arrays.scenario[:, lo : lo + 100], s.T)
        np.testing.assert_array_equal(arrays.year[:, lo : lo + 100], y.transpose(1, 0, 2))


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


def test_an_interrupted_sweep_leaves_its_pieces_not_yet_started(tiny_catalog_env, monkeypatch):
    """Ctrl-C (here: the progress callback raising) while the kernel threads run a sweep: the
    pieces not yet started are cancelled instead of running on in the background."""
    import time

    from fleetsim import kernel

    real, started = kernel.evaluate, []

    def slow(*args):
        started.append(args[0])
        time.sleep(0.05)
        return real(*args)

    class Interrupted(Exception):
        pass

    def interrupt(count: int) -> None:
        raise Interrupted

    overrides = [*SWEEP, "finance.electricity_usd_per_kwh=${linspace:0.05,0.2,12}"]
    loaded = catalog.load()
    scenario = config.validate(api.compose(overrides), loaded.ids())
    grid = axes.build(scenario)
    assert axes.size(grid) > 10 * kernel.BLOCK
    api.set_threads(2)
    sweep.run(scenario, loaded, grid, 65536)  # the kernel compiled (or loaded) before
    monkeypatch.setattr(kernel, "evaluate", slow)
    with pytest.raises(Interrupted):
        sweep.run(scenario, loaded, grid, 1, interrupt)
    time.sleep(0.2)  # what still ran has finished
    assert len(started) <= 4  # of 11 pieces: the first, and what the threads had begun
