"""Benchmark a large sweep written to NetCDF: wall time, peak memory, and where the time goes.

    python scripts/bench_sweep.py                 # ~10 M scenarios x 10 years (a few minutes)
    python scripts/bench_sweep.py --scale 0.2     # ~2 M scenarios

1. The ``fleetsim`` command end to end in a subprocess (its wall time and peak RSS).
2. The same sweep in this process through ``fleetsim.api.write_config`` with timers on the kernel
   calls (main thread), the NetCDF writes (writer thread: quantisation, compression, disk) and
   the file set-up; then uncompressed, to separate compression from disk.
3. The disk's raw speed for the same bytes (``numpy.tofile``, with and without fsync).

Asserts nothing; the machine is shared, so the load average is printed.
"""

from __future__ import annotations

import argparse
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
    """Thread-safe accumulated seconds of a wrapped callable."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds += time.perf_counter() - start
                    self.calls += 1

        return timed


def instrumented(overrides: list[str], path: Path) -> dict[str, float]:
    """Run ``api.write_config`` with timers; return the seconds per stage and the file size."""
    from fleetsim import api, io, sweep

    timers = {name: Timer() for name in ("kernel", "write", "create", "commit")}
    originals = (sweep.call_kernel, io.StreamWriter.write, io.StreamWriter.__init__,
                 io.StreamWriter.commit)  # fmt: skip
    sweep.call_kernel = timers["kernel"].wrap(originals[0])
    io.StreamWriter.write = timers["write"].wrap(originals[1])
    io.StreamWriter.__init__ = timers["create"].wrap(originals[2])
    io.StreamWriter.commit = timers["commit"].wrap(originals[3])
    try:
        cfg = api.compose([*overrides, f"output.path={path}", "output.overwrite=true"])
        start = time.perf_counter()
        written = api.write_config(cfg, progress=False)
        total = time.perf_counter() - start
    finally:
        (sweep.call_kernel, io.StreamWriter.write, io.StreamWriter.__init__,
         io.StreamWriter.commit) = originals  # fmt: skip
    result = {name: t.seconds for name, t in timers.items()}
    result.update(total=total, bytes=path.stat().st_size, scenarios=written.scenarios)
    return result


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 10 M grid")
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()
    overrides = grid(args.scale)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="fleetsim-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"machine: os.cpu_count()={os.cpu_count()}, load average={os.getloadavg()[0]:.2f}, "
          f"free disk {shutil.disk_usage(folder).free / 2**30:.0f} GiB at {folder}")  # fmt: skip
    try:
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
        print(f"fleetsim CLI: {n:,} scenarios x 10 years in {wall:.1f} s wall "
              f"({n / wall:,.0f} scenarios/s = {10 * n / wall:,.0f} scenario-years/s end to end, "
              f"all cores), peak RSS {rss:.2f} GiB, file {size / 2**30:.2f} GiB "
              f"(zlib 1, float32, all {_n_outputs()} variables)")  # fmt: skip
        (folder / "cli.nc").unlink()

        # 1b. one kernel thread, a tenth of the grid
        small = grid(args.scale / 10)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "fleetsim", *small, "sweep.threads=1",
             f"output.path={folder}/one.nc", f"hydra.run.dir={folder}/one"],
            capture_output=True, check=True, cwd=ROOT,
        )  # fmt: skip
        one = time.perf_counter() - start
        from fleetsim import api, axes, catalog, config

        m = axes.size(axes.build(config.validate(api.compose(small), catalog.load().ids())))
        print(f"fleetsim CLI with sweep.threads=1: {m:,} scenarios in {one:.1f} s wall "
              f"({m / one:,.0f} scenarios/s = {10 * m / one:,.0f} scenario-years/s; the writer "
              "thread still runs beside the kernel)")  # fmt: skip
        (folder / "one.nc").unlink()

        # 2. where the time goes
        from fleetsim import layout

        raw_bytes = n * 4 * (len(layout.SCENARIO_OUTPUTS) + 10 * len(layout.YEAR_OUTPUTS)) + n
        for level in (1, 0):
            t = instrumented([*overrides, f"output.compression_level={level}"], folder / "x.nc")
            print(f"compression_level={level}: total {t['total']:.1f} s = file set-up "
                  f"{t['create']:.2f} s + streaming; kernel {t['kernel']:.1f} s (main thread), "
                  f"NetCDF writes {t['write']:.1f} s (writer thread, overlapped), close+rename "
                  f"{t['commit']:.2f} s; {raw_bytes / 2**30:.2f} GiB of values -> "
                  f"{t['bytes'] / 2**30:.2f} GiB file ({raw_bytes / t['write'] / 2**20:,.0f} MiB/s "
                  "of values through the writer)")  # fmt: skip
            if level == 0:
                plain = t
            else:
                packed = t
        print(f"so: at level 1 the writer ({packed['write']:.1f} s) is the critical path and "
              f"nearly all CPU (zlib + shuffle; its {packed['bytes'] / 2**30:.2f} GiB reach the "
              f"disk in about a second, see below); at level 0 its {plain['write']:.1f} s are "
              f"HDF5 plus the page cache absorbing {plain['bytes'] / 2**30:.1f} GiB")  # fmt: skip
        # 3. the disk's raw speed for the same bytes
        for label, nbytes, netcdf in (("uncompressed", plain["bytes"], plain["write"]),
                                      ("compressed", packed["bytes"], packed["write"])):  # fmt: skip
            cached = raw_write(nbytes, folder, fsync=False)
            synced = raw_write(nbytes, folder, fsync=True)
            print(f"raw write of the {label} file's {nbytes / 2**30:.2f} GiB: numpy.tofile "
                  f"{cached:.1f} s (page cache), {synced:.1f} s with fsync; the NetCDF writer took "
                  f"{netcdf:.1f} s")  # fmt: skip
        print(
            f"peak RSS of this process (in-process runs): "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
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
