"""Streamed NetCDF output: hyperslab chunks, the streamed file equals the in-memory write, output
variable selection, errors leave nothing behind, and the writer never holds the whole sweep."""

from __future__ import annotations

import os
import sys
from math import prod

import netCDF4
import numpy as np
import pytest
import xarray as xr

import fleetsim
from fleetsim import api, io, layout, sweep
from fleetsim import status as st

SWEEP = [
    "finance.years=3",
    "model=[test-dense,test-moe,test-mla]",
    "hardware=[test-gpu,test-small]",
    "deployment.tp=[1,2,4]",
    "workload.output_tokens=[128,256]",
    "workload.ttft_slo_s=[0.5,null]",
    "workload.requests_per_day=[0,1e6,3e7]",
]
#: attributes that record when a file was made (differ between any two runs)
WHEN = ("created", "history")


def _stream(overrides, path, **kwargs):
    return api.write_config(api.compose([*overrides, f"output.path={path}"]), **kwargs)


# --------------------------------------------------------------------------- chunk plan
@pytest.mark.parametrize(
    ("shape", "target"),
    [((3, 4, 5), 7), ((3, 4, 5), 20), ((3, 4, 5), 1000), ((2, 1, 7, 3), 5), ((5, 300), 64),
     ((4, 3, 2), 1), ((1, 1), 1)],
)  # fmt: skip
def test_plan_tiles_the_grid_with_hyperslabs_in_flat_order(shape, target):
    chunk, slabs = sweep.plan(shape, target)
    seen = np.zeros(shape, dtype=int)
    flat = np.arange(prod(shape)).reshape(shape)
    expected_lo = 0
    for slab in slabs:
        assert slab.lo == expected_lo
        assert slab.hi - slab.lo <= max(target, 1)
        block = flat[slab.slices()]
        # the flat range is exactly this rectangular block, in C order
        np.testing.assert_array_equal(block.ravel(), np.arange(slab.lo, slab.hi))
        # ... and lies inside one NetCDF chunk of the chunk shape (whole chunks per write)
        assert all(c <= k for c, k in zip(slab.count, chunk, strict=True))
        assert all(s % k == 0 for s, k in zip(slab.start, chunk, strict=True))
        seen[slab.slices()] += 1
        expected_lo = slab.hi
    assert expected_lo == prod(shape)
    assert (seen == 1).all()


# --------------------------------------------------------------------------- same file
@pytest.mark.parametrize(
    "options",
    [["output.float32=false"], ["output.significant_digits=3"], ["sweep.chunk_size=7"]],
    ids=["float64", "quantised", "small-chunks"],
)
def test_streamed_file_equals_the_in_memory_write(tiny_catalog_env, tmp_path, options):
    overrides = [*SWEEP, *options]
    written = _stream(overrides, tmp_path / "streamed.nc")
    assert not written.skipped
    assert written.scenarios == 3 * 2 * 3 * 2 * 2 * 3
    cfg = api.compose(overrides)
    run = fleetsim.run([*overrides, f"output.path={tmp_path / 'streamed.nc'}"])  # same config
    out = cfg.output
    io.write(run, tmp_path / "memory.nc", float32=out.float32,
             significant_digits=out.significant_digits)  # fmt: skip
    streamed = xr.open_dataset(tmp_path / "streamed.nc")
    memory = xr.open_dataset(tmp_path / "memory.nc")
    assert list(streamed.data_vars) == list(memory.data_vars)
    assert dict(streamed.sizes) == dict(memory.sizes)
    assert {k: v for k, v in streamed.attrs.items() if k not in WHEN} == {
        k: v for k, v in memory.attrs.items() if k not in WHEN
    }
    xr.testing.assert_identical(streamed.drop_attrs(deep=False), memory.drop_attrs(deep=False))
    for name in streamed.variables:
        for key in ("dtype", "_FillValue", "zlib", "complevel", "shuffle"):
            left, right = streamed[name].encoding.get(key), memory[name].encoding.get(key)
            assert left == right or (np.isnan(left) and np.isnan(right)), (name, key)
    with (
        netCDF4.Dataset(tmp_path / "streamed.nc") as a,
        netCDF4.Dataset(tmp_path / "memory.nc") as b,
    ):
        assert set(a.variables) == set(b.variables)  # (coordinates come first in the stream)
        for name in b.variables:
            assert set(a[name].ncattrs()) == set(b[name].ncattrs()), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.nc", "streamed.nc"]


def test_streamed_chunks_are_the_netcdf_chunks(tiny_catalog_env, tmp_path):
    _stream([*SWEEP, "sweep.chunk_size=10"], tmp_path / "out.nc")
    with netCDF4.Dataset(tmp_path / "out.nc") as handle:
        chunking = handle["tco_usd"].chunking()
        sizes = [len(handle.dimensions[d]) for d in handle["tco_usd"].dimensions]
    shape = tuple(sizes[:-1])
    expected, _ = sweep.plan(shape, 10)
    assert tuple(chunking) == (*expected, 3)


def test_output_variables_select_what_is_written(tiny_catalog_env, tmp_path):
    overrides = [*SWEEP, "output.variables=[tco_usd,tpot_s]"]
    _stream(overrides, tmp_path / "out.nc")
    ds = fleetsim.open_dataset(tmp_path / "out.nc", chunks=None)
    assert list(ds.data_vars) == ["tpot_s", "tco_usd", "status"]
    full = fleetsim.run(SWEEP)
    subset = fleetsim.run(overrides)
    assert list(subset.data_vars) == ["tpot_s", "tco_usd", "status"]
    xr.testing.assert_identical(subset["tco_usd"], full["tco_usd"])
    np.testing.assert_allclose(ds["tco_usd"], full["tco_usd"], rtol=2e-7)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("[tco]", "did you mean 'tco_usd'"), ("[]", "non-empty list"), ("some", "'all' or")],
)
def test_bad_output_variables(tiny_catalog_env, value, fragment):
    with pytest.raises(fleetsim.InputError, match=f"output.variables.*{fragment}"):
        fleetsim.run([*SWEEP, f"output.variables={value}"])


def test_non_finite_servable_output_stops_the_stream(tiny_catalog_env, tmp_path, monkeypatch):
    """A NaN the kernel produces for a feasible scenario (here: a NaN server power; a NaN price
    is allowed, it means "no price known") is a SweepError naming the scenario, and no file is
    left behind."""
    real = sweep.kernel_inputs

    def nan_power(scenario, catalog, axes):
        inputs = real(scenario, catalog, axes)
        hardware = inputs.hardware.copy()
        hardware[1, layout.HARDWARE_COLUMNS.index("server_overhead_power")] = np.nan  # test-small
        return sweep.KernelInputs(**{**inputs.__dict__, "hardware": hardware})

    monkeypatch.setattr(sweep, "kernel_inputs", nan_power)
    with pytest.raises(sweep.SweepError, match="hardware='test-small'"):
        _stream(SWEEP, tmp_path / "out.nc")
    assert list(tmp_path.iterdir()) == []


def test_consumer_failure_is_raised_and_leaves_nothing(tiny_catalog_env, tmp_path, monkeypatch):
    calls = []

    def failing_write(self, slices, arrays):
        calls.append(slices)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.StreamWriter, "write", failing_write)
    with pytest.raises(OSError, match="No space left"):
        _stream([*SWEEP, "sweep.chunk_size=10"], tmp_path / "out.nc")
    assert len(calls) == 2  # nothing more is consumed after the failure
    assert list(tmp_path.iterdir()) == []


def test_interrupt_leaves_nothing(tiny_catalog_env, tmp_path, monkeypatch):
    real = sweep.call_kernel
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep, "call_kernel", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _stream([*SWEEP, "sweep.chunk_size=10"], tmp_path / "out.nc")
    assert list(tmp_path.iterdir()) == []


def test_stream_reuses_a_few_buffers(tiny_catalog_env):
    """Memory stays at depth + 1 chunk buffers, whatever the number of chunks."""
    cfg = api.compose([*SWEEP, "sweep.chunk_size=6"])
    loaded, scenario, _, grid = api.prepare(cfg)
    buffers, order = set(), []

    def consume(chunk):
        buffers.add(chunk.status.ctypes.data)  # each buffer's status starts at a fixed address
        order.append(chunk.slab.lo)

    seen = []
    sweep.stream(scenario, loaded, grid, 6, consume, progress=seen.append, depth=2)
    assert order == sorted(order)
    assert len(order) > 10
    assert sum(seen) == 3 * 2 * 3 * 2 * 2 * 3
    assert len(buffers) == 3


def test_status_and_values_match_the_kernel(tiny_catalog_env, tmp_path):
    _stream([*SWEEP, "output.float32=false"], tmp_path / "out.nc")
    ds = fleetsim.open_dataset(tmp_path / "out.nc", chunks=None)
    codes = set(np.unique(ds["status"].values))
    assert st.FEASIBLE in codes
    assert st.ZERO_DEMAND in codes
    assert (ds["tco_usd"].attrs["units"], ds["tco_usd"].attrs["currency"]) == ("1", "USD")
    assert "flag_meanings" in ds["status"].attrs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_a_streamed_sweeps_kernel_threads_yield_the_cores_to_the_writer(tiny_catalog_env,
                                                                        tmp_path, monkeypatch):  # fmt: skip
    """Streamed: KERNEL_NICE above the thread that made them (the writer's level); in memory
    (fleetsim.run) the kernel threads keep that level."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    seen = {}
    real = sweep._pool

    def spy(threads, pid, nice=0):
        pool = real(threads, pid, nice)
        seen[nice] = {pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result() for _ in range(4)}
        return pool

    monkeypatch.setattr(sweep, "_pool", spy)
    overrides = [*SWEEP, "workload.requests_per_day=${linspace:1e5,1e8,600}", "sweep.threads=2"]
    fleetsim.run(overrides)
    _stream([*overrides, "sweep.chunk_size=4000"], tmp_path / "s.nc")
    assert seen == {0: {own}, sweep.KERNEL_NICE: {min(19, own + sweep.KERNEL_NICE)}}
