"""Benchmark the kernel: throughput on 1 core and all cores, compile and cold-start times, the
plain-Python oracle on a sample, and peak memory. Prints figures; asserts nothing.

    python scripts/bench_kernel.py            # ~1 M scenarios, 10-year horizon
    python scripts/bench_kernel.py --quick    # smaller grid, fewer repeats
    python scripts/bench_kernel.py --startup  # only the compile and start-up figures

The grid is the full physics: a 10-year horizon, TPOT targets (so the batch search runs), dense
and MoE models (mixtral-8x7b, deepseek-v3) on 8 accelerators, with demand and electricity-price
axes; the kernel evaluates an operating point once for the 100 scenarios that differ only in
those (physics-neutral) axes and sizes the fleet once for those that differ only in the price,
so the rate on :data:`PHYSICS_GRID`, where every scenario is a new operating point, is printed
beside it. Outputs go into reused float32 buffers, as in a streamed sweep. The machine is
shared: the load average is printed with each figure, each figure is the best of several
repeats, and the kernel's CPU time per scenario (the steadier figure when other jobs share the
cores) is printed with its rate.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: the benchmark grid (real catalog): 4 models incl. 2 MoE, 8 accelerators, batch search on
GRID = [
    "model=[llama3.1-8b,llama3.1-70b,mixtral-8x7b,deepseek-v3]",
    "hardware=[a100-sxm,h100-sxm,h200,b200,gb200,mi300x,mi355x,gaudi3]",
    "deployment.tp=[1,2,4,8]",
    "deployment.weight_dtype=[bf16,fp8]",
    "workload.input_tokens=[256,1024,4096]",
    "workload.output_tokens=[128,512]",
    "workload.tpot_slo_s=[0.02,0.05,0.1]",
    "workload.requests_per_day=[1e5,1e6,1e7,1e8]",
    "finance.years=10",
]
TINY_RUN = ["model=llama3.1-8b", "hardware=h100-sxm", "finance.years=2"]
#: the libraries a CLI run imports (their import alone bounds its start-up from below)
RUN_IMPORTS = ("numpy", "numba", "xarray", "netCDF4", "hydra.core.config_store", "omegaconf")
#: a grid whose every axis changes the serving physics (no physics-neutral axis such as prices or
#: demand, whose scenarios the kernel serves from one operating point)
PHYSICS_GRID = [
    *GRID[:4],
    "workload.input_tokens=[128,256,512,1024,2048,4096]",
    "workload.output_tokens=[64,128,256,512]",
    "workload.tpot_slo_s=[0.02,0.03,0.05,0.1]",
    "deployment.kv_dtype=[bf16,fp8]",
    "finance.years=10",
]


def grid_overrides(prices: int) -> list[str]:
    """Return :data:`GRID` with an electricity-price axis of ``prices`` values."""
    return [*GRID, f"finance.electricity_usd_per_kwh=${{linspace:0.04,0.20,{prices}}}"]


def _timed(command: list[str], env: dict | None = None) -> tuple[float, str]:
    return _timed_cpu(command, env)[::2]


def _timed_cpu(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run ``command``; return its wall time and CPU time (user + system) [s] and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, result.stdout


#: the first kernel call of a sweep without pools (the aggregated kernel); with the argument
#: ``full``, of the full kernel (a mix or disaggregated serving)
FIRST_CALL = """
import dataclasses, sys, time
t0 = time.perf_counter()
import numpy as np
from fleetsim import api, axes, catalog, config, sweep
loaded = catalog.load()
scenario = config.validate(api.compose(["model=mixtral-8x7b", "finance.years=10"]), loaded.ids())
grid = axes.build(scenario)
inputs = sweep.kernel_inputs(scenario, loaded, grid)
if sys.argv[1:] == ["full"]:
    inputs = dataclasses.replace(inputs, aggregated_only=False)
sel = sweep.everything()
t1 = time.perf_counter()
out = (np.empty((len(sel.scenario), 1), np.float32), np.empty((len(sel.year), 1, 10), np.float32),
       np.empty(1, np.int8))
c1 = time.process_time()
sweep.call_kernel(inputs, 10, 0, 1, sel, *out)
print(f"{t1 - t0:.3f} {time.perf_counter() - t1:.3f} {time.process_time() - c1:.3f}")
"""


#: fleetsim.run on GRID with 26 electricity prices (479,232 scenarios x 10 years) against the
#: kernel alone on the same grid, in a fresh process for its RSS: in 65,536-scenario chunks into
#: reused float32 chunk buffers (the reference of the target), and in one call over the sweep in
#: fleetsim.run's pieces into whole arrays already touched, and into fresh ones (a run's floor)
RUN_VS_KERNEL = """
import resource, sys, time
import numpy as np
import fleetsim
from fleetsim import api, axes, catalog, config, sweep
overrides = sys.argv[1:]
tiny = ["model=llama3.1-8b", "hardware=h100-sxm", "finance.years=10"]
fleetsim.run(tiny)  # loads the kernel (cache warm)
warm = []
for _ in range(7):
    t0 = time.perf_counter()
    fleetsim.run(tiny)
    warm.append(time.perf_counter() - t0)
loaded = catalog.load()
scenario = config.validate(api.compose(overrides), loaded.ids())
grid = axes.build(scenario)
n, years, selection = axes.size(grid), scenario.years, sweep.everything()
inputs = sweep.kernel_inputs(scenario, loaded, grid)
chunk = 65536
def arrays(m):
    return (np.empty((len(selection.scenario), m), np.float32),
            np.empty((len(selection.year), m, years), np.float32), np.empty(m, np.int8))
def kernel_alone():
    out = arrays(chunk)
    start = time.perf_counter()
    for lo in range(0, n, chunk):
        sweep.call_kernel(inputs, years, lo, min(n, lo + chunk), selection, *out)
    return time.perf_counter() - start
def one_call(out):
    t0, s0 = time.perf_counter(), system()
    sweep.call_kernel(inputs, years, 0, n, selection, *out, 0, sweep.piece_size(chunk))
    return time.perf_counter() - t0, system() - s0
def system():
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime
def memory():
    with open("/proc/self/status") as status:
        kib = {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in status)
               if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}
    return [kib[k] * 1024 for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")]
before = memory()
kernel, run = [], []
for _ in range(2):
    t0, s0 = time.perf_counter(), system()
    ds = fleetsim.run(overrides)
    run.append((time.perf_counter() - t0, system() - s0))
    nbytes = ds.nbytes
    del ds
    kernel.append(kernel_alone())
peak = memory()[3]
# the same kernel call as fleetsim.run's, into fresh whole arrays (each right after a free of
# the same size, as the second run above) and into whole arrays already touched
fresh = [one_call(arrays(n)) for _ in range(2)]
whole = arrays(n)
one_call(whole)
touched = [one_call(whole)[0] for _ in range(2)]
# what a run pays that the kernel alone into touched memory does not: the OS zero-fills each
# page of the returned arrays when the kernel first writes it (one write per 4 KiB page here);
# on a VM whose guest returns free memory to its host, memory freed a few seconds before must
# be backed again too: touched right after a free (as the second run above) and 3 s later
del whole
touch = []
for idle in (0.0, 3.0):
    time.sleep(idle)
    page = np.empty(nbytes // 4, np.float32)
    t0, s0 = time.perf_counter(), system()
    page[::1024] = 0.0
    touch += [time.perf_counter() - t0, system() - s0]
    del page
print(n, years, min(kernel), *run[0], *run[1], nbytes, *before, peak, sorted(warm)[len(warm) // 2],
      *touch, *min(fresh), min(touched))
"""


def run_vs_kernel() -> None:
    """Print fleetsim.run's rate against the kernel's, its peak RSS and a warm one-scenario call."""
    out = _timed([sys.executable, "-c", RUN_VS_KERNEL, *grid_overrides(26)])[1].split()
    n, years = int(out[0]), int(out[1])
    kernel, run1, sys1, run2, sys2, nbytes, rss, anon, files, high, peak, warm = map(
        float, out[2:14]
    )
    touch, touch_sys, idle, idle_sys, fresh, fresh_sys, touched = map(float, out[14:])
    run = min(run1, run2)
    print(f"fleetsim.run, {n:,} scenarios x {years} years (float32, all outputs): {run:.2f} s = "
          f"{n / run:,.0f} scenarios/s (best of 2: {run1:.2f} s with {sys1:.2f} s of system "
          f"CPU, {run2:.2f} s with {sys2:.2f} s); the kernel alone in 65,536-scenario chunks "
          f"into reused buffers {kernel:.2f} s = {n / kernel:,.0f}/s; run rate / kernel rate = "
          f"{kernel / run:.2f} (target >= 0.85; load {os.getloadavg()[0]:.2f})")  # fmt: skip
    print(f"  the kernel alone in fleetsim.run's one call (its threads take a chunk's pieces "
          f"with no wait at each chunk's end): {touched:.2f} s into whole arrays already "
          f"touched (run / that = {touched / run:.2f}), {fresh:.2f} s with {fresh_sys:.2f} s of "
          f"system CPU into fresh ones right after a free, the floor of any in-memory result "
          f"(run / that = {fresh / run:.2f})")  # fmt: skip
    print(f"  first touch of fresh memory of the Dataset's size, one thread (the OS zero-fills "
          f"each page): {touch:.2f} s ({touch_sys:.2f} s system) right after a free, {idle:.2f} "
          f"s ({idle_sys:.2f} s system) 3 s after one (a VM whose guest has handed the freed "
          f"memory back to its host)")  # fmt: skip
    print(f"  Dataset {nbytes / 2**30:.2f} GiB; peak RSS {peak / 2**30:.2f} GiB = "
          f"{peak / nbytes:.2f} x the Dataset (target <= 1.3); before the sweep "
          f"{rss / 2**30:.2f} GiB resident ({anon / 2**20:.0f} MiB anonymous, {files / 2**20:.0f} "
          f"MiB of mapped files: the interpreter, libraries, catalog, the loaded kernel; "
          f"{high / 2**30:.2f} GiB at most so far), so the sweep itself added "
          f"{(peak - rss) / nbytes:.2f} x the Dataset")  # fmt: skip
    print(f"warm one-scenario fleetsim.run in process: {warm * 1e3:.0f} ms median (target <= 50)")


def compile_times() -> tuple[float, float, float, float, float, float]:
    """Return (import+setup, first call with a cold cache, its CPU time, first call with the
    cache warm, first call of the full kernel with a cold cache and its CPU time) [s]."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        _, cold = _timed([sys.executable, "-c", FIRST_CALL], env)
        _, warm = _timed([sys.executable, "-c", FIRST_CALL], env)
        _, full = _timed([sys.executable, "-c", FIRST_CALL, "full"], env)
        # a first CLI run with a cold cache, on a machine that measured the compile above (as
        # after an upgrade: the estimate is kept beside the per-version cache folders)
        cli_cache = Path(cache) / "cli"
        cli_cache.mkdir()
        for record in Path(cache).glob("last_compile_seconds*"):
            (cli_cache / record.name).write_bytes(record.read_bytes())
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "fleetsim", *TINY_RUN, f"hydra.run.dir={out}"],
                capture_output=True, text=True, env=dict(env, NUMBA_CACHE_DIR=str(cli_cache)),
                cwd=ROOT, check=False,
            )  # fmt: skip
            took = time.perf_counter() - started
        said = [line for line in result.stderr.splitlines() if "compiling" in line]
        print(f"a first CLI run with a cold cache took {took:.1f} s wall and said: "
              f"{said[0] if said else '(nothing)'}")  # fmt: skip
    setup, first_cold, cold_cpu = map(float, cold.split())
    first_warm = float(warm.split()[1])
    full_cold, full_cpu = map(float, full.split()[1:])
    return setup, first_cold, cold_cpu, first_warm, full_cold, full_cpu


def kernel_rate(
    inputs, years: int, n: int, selection, threads: int, repeats: int
) -> tuple[float, float, tuple[float, float]]:
    """Return the best scenarios/s of evaluating flat indices 0..n-1 in 65536-scenario chunks,
    the least CPU time per scenario (all threads; on a shared machine the steadier figure), and
    the cores this process and the rest of the machine used during the best repeat (on shared
    cores, why 2 threads do not run at twice 1 thread's rate)."""
    from fleetsim import sweep

    numba.set_num_threads(threads)
    chunk = 65536
    s = np.empty((len(selection.scenario), chunk), np.float32)
    y = np.empty((len(selection.year), chunk, years), np.float32)
    status = np.empty(chunk, np.int8)
    n = (n // chunk) * chunk or n
    warm = min(n, 256)
    sweep.call_kernel(inputs, years, 0, warm, selection, s[:, :warm].copy(), y[:, :warm].copy(),
                      status[:warm])  # fmt: skip
    best, cpu, cores = 0.0, np.inf, (math.nan, math.nan)
    for _ in range(repeats):
        machine = _machine_busy()
        start, start_cpu = time.perf_counter(), time.process_time()
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            views = (
                (s, y, status[:m]) if m == chunk else (s[:, :m].copy(), y[:, :m].copy(), status[:m])
            )
            bad = sweep.call_kernel(inputs, years, lo, lo + m, selection, *views)
            assert bad < 0
        wall, used = time.perf_counter() - start, time.process_time() - start_cpu
        if n / wall > best:
            others = (_machine_busy() - machine) - used if machine >= 0 else math.nan
            cores = (used / wall, others / wall)
        best = max(best, n / wall)
        cpu = min(cpu, used / n)
    return best, cpu, cores


def _machine_busy() -> float:
    """Return the CPU seconds the whole machine has been busy (incl. steal), or -1 off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
    except OSError:
        return -1.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def shares(cores: tuple[float, float]) -> str:
    """Describe :func:`kernel_rate`'s cores: this process's and the rest of the machine's."""
    return f"this process used {cores[0]:.2f} cores, the rest of the machine {cores[1]:.2f}"


def oracle_rate(scenario, loaded, grid, samples: int, seed: int = 0) -> float:
    """Return scenarios/s of the plain-Python oracle (tests/oracle.py) on random scenarios."""
    sys.path.insert(0, str(ROOT))
    from fleetsim import axes
    from tests.oracle import evaluate

    rng = np.random.default_rng(seed)
    shape = axes.shape(grid)
    picks = rng.integers(0, axes.size(grid), samples)
    points = []
    for flat in picks:
        sc = {key: values[0] for key, values in scenario.values.items()}
        for axis, i in zip(grid, np.unravel_index(flat, shape), strict=True):
            sc[axis.field.key] = axis.labels[i]
        for key, value in sc.items():
            if isinstance(value, float) and np.isinf(value):
                sc[key] = None
        points.append(sc)
    start = time.perf_counter()
    for sc in points:
        evaluate(sc, loaded, scenario.years)
    return samples / (time.perf_counter() - start)


def cold_start(repeats: int = 3) -> dict[str, tuple[float, float]]:
    """Return the median (wall, CPU) times of ``fleetsim --help`` and of a tiny run (cache warm)
    [s], the two interleaved ``repeats`` times."""
    # (python -m fleetsim: the fleetsim of this checkout, as ``fleetsim`` runs the installed one)
    fleetsim = [sys.executable, "-m", "fleetsim"]
    times: dict[str, list[tuple[float, float]]] = {"fleetsim --help": [], "tiny CLI run": []}
    with tempfile.TemporaryDirectory() as out:
        for i in range(repeats):
            times["fleetsim --help"].append(_timed_cpu([*fleetsim, "--help"])[:2])
            run = [*fleetsim, *TINY_RUN, f"hydra.run.dir={out}/{i}"]
            times["tiny CLI run"].append(_timed_cpu(run)[:2])
    return {
        name: (float(np.median([w for w, _ in t])), float(np.median([c for _, c in t])))
        for name, t in times.items()
    }


def startup() -> None:
    """Print the first kernel call cold and warm, the first CLI run's message and cold starts."""
    setup, first_cold, cold_cpu, first_warm, full_cold, full_cpu = compile_times()
    print(f"first kernel call: {first_cold:.2f} s with a cold Numba cache (JIT compile, {cold_cpu:.1f} "
          f"s of CPU; target <= 20 s), {first_warm:.2f} s with it warm (import + setup "
          f"{setup:.2f} s; load {os.getloadavg()[0]:.2f}); the full kernel (a mix or "
          f"disaggregated serving) {full_cold:.2f} s cold, {full_cpu:.1f} s of CPU")  # fmt: skip
    # once first: the kernel in Numba's cache, the libraries' files in the page cache
    with tempfile.TemporaryDirectory() as out:
        _timed([sys.executable, "-m", "fleetsim", *TINY_RUN, f"hydra.run.dir={out}"])
    imports = [_timed_cpu([sys.executable, "-c", "import " + ", ".join(RUN_IMPORTS)])[:2]
               for _ in range(3)]  # fmt: skip
    print(f"importing what a run needs ({', '.join(RUN_IMPORTS)}), median of 3: "
          f"{np.median([w for w, _ in imports]):.2f} s wall, "
          f"{np.median([c for _, c in imports]):.2f} s CPU")  # fmt: skip
    for name, (wall, cpu) in cold_start().items():
        print(f"cold start, {name} (cache warm, median of 3): {wall:.2f} s wall, {cpu:.2f} s CPU"
              + (" (target <= 1.5 s)" if name.startswith("tiny") else "")
              + f"; load {os.getloadavg()[0]:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid, fewer repeats")
    parser.add_argument("--startup", action="store_true", help="only compile and start-up times")
    args = parser.parse_args()
    from fleetsim import api, axes, catalog, config, layout, sweep
    from fleetsim import status as st

    print(f"machine: os.cpu_count()={os.cpu_count()}, usable CPUs={api.available_cpus()}, "
          f"numba threads={numba.config.NUMBA_NUM_THREADS}, load average={os.getloadavg()[0]:.2f}")  # fmt: skip
    startup()
    if args.startup:
        return
    run_vs_kernel()

    loaded = catalog.load()
    scenario = config.validate(api.compose(grid_overrides(5 if args.quick else 25)), loaded.ids())
    grid = axes.build(scenario)
    n, years = axes.size(grid), scenario.years
    inputs = sweep.kernel_inputs(scenario, loaded, grid)
    everything = sweep.everything()
    repeats = 2 if args.quick else 4
    print(
        f"grid: {n:,} scenarios x {years} years; " + " x ".join(f"{a.name}({len(a)})" for a in grid)
    )
    codes, searched = np.zeros(len(st.MEANINGS), dtype=np.int64), 0
    for lo in range(0, n, 65536):
        s, _, status = sweep.evaluate_range(inputs, years, lo, min(n, lo + 65536))
        batch = s[:, layout.SCENARIO_OUTPUTS.index("batch_size")]
        bmax = s[:, layout.SCENARIO_OUTPUTS.index("max_batch_size")]
        searched += int(np.sum(np.isfinite(batch) & (batch < bmax)))
        codes += np.bincount(status, minlength=len(codes))[: len(codes)]
    print(f"status mix (codes 0-{len(codes) - 1}): {codes.tolist()}; the TPOT target bounds the batch "
          f"(batch search) in {searched / n:.0%} of scenarios")  # fmt: skip
    rates, cpus = {}, {}
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        rate, cpu, cores = kernel_rate(inputs, years, n, everything, threads, repeats)
        rates[threads], cpus[threads] = rate, cpu
        print(f"kernel, {threads} thread(s): {rate:,.0f} scenarios/s = {rate * years:,.0f} scenario-years/s "
              f"(all {len(layout.SCENARIO_OUTPUTS) + len(layout.YEAR_OUTPUTS)} outputs stored as float32; "
              f"{cpu * 1e6:.2f} us of CPU per scenario; load {os.getloadavg()[0]:.2f}; "
              f"{shares(cores)})")  # fmt: skip
    if len(rates) > 1:
        top = max(rates)
        print(f"  {top} threads / 1 thread = {rates[top] / rates[1]:.2f}x; target >= 1,000,000 "
              f"scenarios/s on 2 threads on an idle machine (load now {os.getloadavg()[0]:.2f}); "
              f"with {top} cores of its own at the CPU per scenario it had, {top} threads would "
              f"run at most at about {top / cpus[top]:,.0f}/s")  # fmt: skip
    physics = config.validate(api.compose(PHYSICS_GRID), loaded.ids())
    physics_grid = axes.build(physics)
    physics_inputs = sweep.kernel_inputs(physics, loaded, physics_grid)
    assert physics_inputs.axis_physics.all(), "PHYSICS_GRID must have no physics-neutral axis"
    physics_rates = {
        threads: kernel_rate(physics_inputs, years, axes.size(physics_grid), everything, threads,
                             repeats)[0]
        for threads in rates
    }  # fmt: skip
    print(f"kernel on a grid with no physics-neutral axis ({axes.size(physics_grid):,} scenarios, "
          f"every one a new operating point): "
          + ", ".join(f"{t} thread(s) {r:,.0f}/s" for t, r in physics_rates.items())
          + f"; the benchmark grid is {rates[1] / physics_rates[1]:.1f}x faster on 1 thread "
          f"(load {os.getloadavg()[0]:.2f})")  # fmt: skip
    none = sweep.Selection(np.zeros(0, np.int64), np.zeros(0, np.int64))
    compute, compute_cpu, _ = kernel_rate(inputs, years, n, none, 1, repeats)
    print(f"  of which nothing stored (physics, fleet, check), 1 thread: {compute:,.0f} scenarios/s, "
          f"{compute_cpu * 1e6:.2f} us of CPU per scenario; storing the outputs is "
          f"{1 / rates[1] - 1 / compute:.2e} s/scenario")  # fmt: skip
    no_slo = config.validate(
        api.compose([*grid_overrides(5), "workload.tpot_slo_s=null"]), loaded.ids()
    )
    no_slo_grid = axes.build(no_slo)
    no_slo_rate = kernel_rate(sweep.kernel_inputs(no_slo, loaded, no_slo_grid), years,
                              axes.size(no_slo_grid), none, 1, repeats)[0]  # fmt: skip
    print(f"  physics without a TPOT target (no batch search), 1 thread: {no_slo_rate:,.0f} "
          f"scenarios/s (load {os.getloadavg()[0]:.2f})")  # fmt: skip
    samples = 100 if args.quick else 300
    oracle = oracle_rate(scenario, loaded, grid, samples)
    print(f"plain-Python oracle (tests/oracle.py), {samples} random scenarios: {oracle:,.0f} scenarios/s; "
          f"kernel/oracle = {rates[1] / oracle:,.0f}x on 1 thread, "
          f"{max(rates.values()) / oracle:,.0f}x on all")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS of this process: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
