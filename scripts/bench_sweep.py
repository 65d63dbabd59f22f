"""Benchmark a large sweep written to NetCDF: wall time, peak memory, and where the time goes.

    python scripts/bench_sweep.py                 # ~10 M scenarios x 10 years (many minutes)
    python scripts/bench_sweep.py --scale 0.2     # ~2 M scenarios

1. The ``fleetsim`` command end to end in a subprocess (default settings: its wall time, peak
   RSS and file size).
2. The same sweep in this process through ``fleetsim.api.write_config`` with timers on the kernel
   calls (main thread) and the NetCDF writes (writer thread: compression and disk; wall and
   that thread's CPU time, the compression pool's threads not included), for each
   ``output.compression`` (zlib-1 was the default before blosc-lz4) and for blosc-lz4 compressed
   by netCDF-C on the writer thread (before ``fleetsim.chunk_codecs``); then the kernel alone
   (writes skipped).
3. The disk's raw speed for the same bytes (``numpy.tofile``, page cache).

Prints kernel, writer, tofile and total side by side with the target ratios (writer <= kernel,
total <= 1.3 x kernel, file <= 1.2 x the zlib file, peak RSS <= 1 GiB), and the floor the cores
put under total/kernel: the writer is one thread, and the kernel's threads share the cores with
it, so total >= max(writer CPU, process CPU / cores). Asserts nothing; the
machine is shared, so the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def grid(scale: float) -> list[str]:
    """Return the sweep's overrides: ~10.1 M scenarios at ``scale=1``, 10-year horizon."""
    prices = max(1, round(10 * scale))
    return [
        "model=[llama3.1-8b,llama3.1-70b,mixtral-8x7b,deepseek-v3]",
        "hardware=[a100-sxm,h100-sxm,h200,b200,gb200,mi300x,mi355x,gaudi3]",
        "deployment.tp=[1,2,4,8]",
        "deployment.weight_dtype=[bf16,fp8]",
        "workload.requests_per_day=${linspace:1e5,1e8,10}",
        "workload.input_tokens=[256,1024,2048,4096]",
        "workload.output_tokens=[128,256,512]",
        "workload.tpot_slo_s=[0.02,0.05,0.1]",
        "workload.growth_per_year=${linspace:0,1,11}",
        f"finance.electricity_usd_per_kwh=${{linspace:0.04,0.20,{prices}}}",
        "finance.years=10",
    ]


class Timer:
    """Thread-safe accumulated wall and thread-CPU seconds of a wrapped callable."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, function):
        def timed(*args, **kwargs):
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds += time.perf_counter() - start
                    self.cpu += time.thread_time() - cpu
                    self.calls += 1

        return timed


def instrumented(overrides: list[str], path: Path, write: bool = True) -> dict[str, float]:
    """Run ``api.write_config`` with timers; return the seconds per stage and the file size.

    ``write=False`` skips the writer's writes (the file keeps its fill values): the kernel
    alone on the cores, for the same chunks and buffers.
    """
    from fleetsim import api, io, sweep

    timers = {name: Timer() for name in ("kernel", "write", "create", "commit")}
    originals = (sweep.call_kernel, io.StreamWriter.write, io.StreamWriter.__init__,
                 io.StreamWriter.commit)  # fmt: skip
    sweep.call_kernel = timers["kernel"].wrap(originals[0])
    io.StreamWriter.write = timers["write"].wrap(originals[1] if write else lambda *a: None)
    io.StreamWriter.__init__ = timers["create"].wrap(originals[2])
    io.StreamWriter.commit = timers["commit"].wrap(originals[3])
    try:
        cfg = api.compose([*overrides, f"output.path={path}", "output.overwrite=true"])
        start, cpu = time.perf_counter(), time.process_time()
        written = api.write_config(cfg, progress=False)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        (sweep.call_kernel, io.StreamWriter.write, io.StreamWriter.__init__,
         io.StreamWriter.commit) = originals  # fmt: skip
    result = {name: t.seconds for name, t in timers.items()}
    result.update(write_cpu=timers["write"].cpu, total=total, cpu=cpu, bytes=path.stat().st_size,
                  scenarios=written.scenarios)  # fmt: skip
    path.unlink()
    return result


#: in-process runs: label, extra overrides, whether netCDF-C compresses (on the writer thread,
#: as before fleetsim.chunk_codecs) instead of the compression threads
CASES = [
    ("blosc_lz4", ["output.compression=blosc_lz4"], False),
    ("blosc_lz4 netCDF-C", ["output.compression=blosc_lz4"], True),
    ("zstd", ["output.compression=zstd"], False),
    ("zlib", ["output.compression=zlib"], False),
    ("none", ["output.compression=none"], False),
]


@contextlib.contextmanager
def _netcdf_c_compresses(on: bool):
    """With ``on``, keep netCDF-C writing the file (no h5py direct chunk writes) in the block."""
    from fleetsim import io

    original = io.StreamWriter._reopen_with_h5py
    if on:
        io.StreamWriter._reopen_with_h5py = lambda self, threads: None
    try:
        yield
    finally:
        io.StreamWriter._reopen_with_h5py = original


def raw_write(nbytes: int, folder: Path, fsync: bool) -> float:
    """Return seconds to write ``nbytes`` with numpy.tofile (optionally fsync'd)."""
    data = np.random.default_rng(0).integers(0, 255, size=min(nbytes, 2**28), dtype=np.uint8)
    target = folder / "raw.bin"
    os.sync()  # earlier runs' dirty pages are not charged to this write
    start = time.perf_counter()
    with open(target, "wb") as handle:
        left = nbytes
        while left > 0:
            part = data[: min(left, data.size)]
            part.tofile(handle)
            left -= part.size
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


#: filters compared by ``--filters``: label -> netCDF4 ``createVariable`` options
FILTERS = {
    "zlib-1, shuffle": {"compression": "zlib", "complevel": 1, "shuffle": True},
    **{
        f"lz4-{level}, {name} shuffle": {
            "compression": "blosc_lz4",
            "complevel": level,
            "blosc_shuffle": code,
            "shuffle": False,
        }
        for level in (1, 5, 9)
        for code, name in ((1, "byte"), (2, "bit"))
    },
    "blosc zstd-1, byte shuffle": {
        "compression": "blosc_zstd",
        "complevel": 1,
        "blosc_shuffle": 1,
        "shuffle": False,
    },
    "none": {},
}


def filters(overrides: list[str], folder: Path) -> None:
    """Write 8 stream chunks of the sweep (all variables) with each of :data:`FILTERS`; print
    the CPU seconds of each write (compression and page cache) and its size against zlib-1."""
    import netCDF4
    import xarray as xr

    from fleetsim import api

    path = folder / "source.nc"
    api.write_config(api.compose([*overrides, f"output.path={path}", "output.overwrite=true"]),
                     progress=False)  # fmt: skip
    cut = {"model": [0, -1], "hardware": [1, 5], "tp": [1, 3], "weight_dtype": [-1]}
    with xr.open_dataset(path, engine="netcdf4") as source:
        values = source.isel(cut).load()
    path.unlink()
    nbytes = sum(v.nbytes for v in values.data_vars.values())
    print(f"{nbytes / 2**20:.0f} MiB of values ({len(values.data_vars)} variables, 8 chunks of "
          f"the stream), written alone; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    sizes = {}
    for label, options in FILTERS.items():
        target = folder / "filter.nc"
        handle = netCDF4.Dataset(target, "w")
        for dim, n in values.sizes.items():
            handle.createDimension(dim, n)
        cpu = time.process_time()
        for name, da in values.data_vars.items():
            chunks = tuple(1 if d in cut else values.sizes[d] for d in da.dims)
            floating = da.dtype.kind == "f"
            variable = handle.createVariable(
                name, da.dtype, da.dims, chunksizes=chunks,
                fill_value=da.dtype.type(np.nan) if floating else None,
                **(options if floating else FILTERS["zlib-1, shuffle"]),
            )  # fmt: skip
            variable.set_var_chunk_cache(size=1, nelems=1, preemption=1.0)
            variable.set_auto_maskandscale(False)
            variable[...] = da.values
        handle.close()
        cpu = time.process_time() - cpu
        sizes[label] = target.stat().st_size
        target.unlink()
        print(f"  {label:28s} CPU {cpu:5.2f} s ({nbytes / 2**20 / cpu:5.0f} MiB/s), "
              f"{sizes[label] / 2**20:6.1f} MiB = {sizes[label] / sizes['zlib-1, shuffle']:.2f}x "
              "zlib-1")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 10 M grid")
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--filters", action="store_true",
                        help="only compare compression filters on 8 real chunks of the sweep")  # fmt: skip
    args = parser.parse_args()
    overrides = grid(args.scale)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="fleetsim-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"machine: os.cpu_count()={os.cpu_count()}, load average={os.getloadavg()[0]:.2f}, "
          f"free disk {shutil.disk_usage(folder).free / 2**30:.0f} GiB at {folder}")  # fmt: skip
    try:
        if args.filters:
            filters(overrides, folder)
            return
        # 1. the CLI end to end (compiles first if the cache is cold: warm it with one tiny run)
        subprocess.run([sys.executable, "-m", "fleetsim", "model=llama3.1-8b", "finance.years=2",
                        f"hydra.run.dir={folder}/warm"], check=True, capture_output=True)  # fmt: skip
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "fleetsim", *overrides, f"output.path={folder}/cli.nc",
             f"hydra.run.dir={folder}/cli"],
            capture_output=True, text=True, check=False, cwd=ROOT,
        )  # fmt: skip
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        size = (folder / "cli.nc").stat().st_size
        n = int(result.stdout.split("scenarios: ")[1].split()[0].replace(",", ""))
        print(f"fleetsim CLI (defaults: blosc_lz4, float32, all {_n_outputs()} variables): "
              f"{n:,} scenarios x 10 years in {wall:.1f} s wall ({n / wall:,.0f} scenarios/s "
              f"end to end, all cores), peak RSS {rss:.2f} GiB, file {size / 2**30:.2f} GiB")  # fmt: skip
        (folder / "cli.nc").unlink()

        # 2. where the time goes, per compression
        from fleetsim import layout

        raw_bytes = n * 4 * (len(layout.SCENARIO_OUTPUTS) + 10 * len(layout.YEAR_OUTPUTS)) + n
        runs = {}
        for label, extra, netcdf_c in CASES:
            with _netcdf_c_compresses(netcdf_c):
                t = instrumented([*overrides, *extra], folder / "x.nc")
            t["tofile"] = raw_write(int(t["bytes"]), folder, fsync=False)
            runs[label] = t
        alone = instrumented(overrides, folder / "x.nc", write=False)["total"]
        print(
            f"{raw_bytes / 2**30:.2f} GiB of values; seconds (writer: wall on its thread, "
            "overlapping the kernel, and that thread's CPU):"
        )
        print(f"  {'compression':19s} {'kernel':>7s} {'writer':>7s} {'w. CPU':>7s} "
              f"{'tofile':>7s} {'total':>7s} {'file GiB':>8s}  writer/kernel total/kernel "
              "file/zlib")  # fmt: skip
        for name, t in runs.items():
            print(f"  {name:19s} {t['kernel']:7.1f} {t['write']:7.1f} {t['write_cpu']:7.1f} "
                  f"{t['tofile']:7.1f} {t['total']:7.1f} {t['bytes'] / 2**30:8.2f}  "
                  f"{t['write'] / t['kernel']:13.2f} {t['total'] / t['kernel']:12.2f} "
                  f"{t['bytes'] / runs['zlib']['bytes']:9.2f}")  # fmt: skip
        print(
            "targets (default compression): writer/kernel <= 1, total/kernel <= 1.3, "
            "file/zlib <= 1.2, CLI peak RSS <= 1 GiB"
        )
        lz4 = runs["blosc_lz4"]
        print(f"kernel alone (same sweep, writes skipped): {alone:.1f} s wall; the default "
              f"run's total is {lz4['total'] / alone:.2f} x that (its kernel calls took "
              f"{lz4['kernel']:.1f} s sharing the cores)")  # fmt: skip
        cores = len(os.sched_getaffinity(0))
        print(f"floor of total/kernel on {cores} cores: the writer thread is serial (the "
              "compression pool aside) and every thread shares the cores, so total >= "
              "max(writer thread CPU, process CPU / cores)")  # fmt: skip
        for name, t in runs.items():
            floor = max(t["write_cpu"], t["cpu"] / cores)
            print(f"  {name:19s} process CPU {t['cpu']:7.1f} s (kernel, main and compression threads "
                  f"{t['cpu'] - t['write_cpu']:.1f}, writer thread {t['write_cpu']:.1f}): floor "
                  f"{floor:.1f} s = {floor / t['kernel']:.2f} x kernel")  # fmt: skip
        print(
            f"peak RSS of this process (in-process runs): "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB; "
            f"load average now {os.getloadavg()[0]:.2f}"
        )
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


def _n_outputs() -> int:
    """Number of output variables (status included), from the kernel layout."""
    from fleetsim import layout

    return len(layout.SCENARIO_OUTPUTS) + len(layout.YEAR_OUTPUTS) + 1


if __name__ == "__main__":
    main()
