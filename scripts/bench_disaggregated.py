"""Benchmark the kernel on aggregated vs disaggregated sweeps of the same grid. Prints figures.

    python scripts/bench_disaggregated.py           # 25,920 scenarios per mode
    python scripts/bench_disaggregated.py --quick   # fewer

A disaggregated scenario searches two layouts (decode pool and prefill pool) and sizes two
fleets, so it costs more than an aggregated one; the grid is the physics part of
``scripts/bench_kernel.py`` (dense and MoE models, TPOT targets, tp searched). The machine is
shared: the load average is printed beside the figures, each the best of three runs of one
compiled kernel on every core (``sweep.evaluate_range``, no Dataset or file).
"""

from __future__ import annotations

import argparse
import os
import time

from fleetsim import api, axes, catalog, config, sweep

GRID = [
    "model=[llama3.1-8b,llama3.1-70b,mixtral-8x7b,deepseek-v3]",
    "hardware=[h100-sxm,h200,b200,gb200,mi300x]",
    "deployment.tp=[auto,2,8]",
    "deployment.weight_dtype=[bf16,fp8]",
    "workload.input_tokens=[256,512,1024,2048,4096,8192]",
    "workload.output_tokens=[128,256,512,1024]",
    "workload.tpot_slo_s=[0.02,0.05,0.1]",
    "workload.requests_per_day=[1e6,1e7,1e8]",
    "finance.years=10",
]
QUICK = [*GRID[:2], "deployment.tp=[auto,8]", *GRID[3:4], "finance.years=10"]


def rate(overrides: list[str], repeats: int) -> tuple[int, float]:
    """Return (scenarios, best kernel scenarios per second) over the whole grid, all cores."""
    loaded = catalog.load()
    scenario = config.validate(api.compose(overrides), loaded.ids())
    grid = axes.build(scenario)
    inputs = sweep.kernel_inputs(scenario, loaded, grid)
    n = axes.size(grid)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        sweep.evaluate_range(inputs, scenario.years, 0, n)
        best = max(best, n / (time.perf_counter() - start))
    return n, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    args = parser.parse_args()
    grid = QUICK if args.quick else GRID
    api.run([*grid[:2], "deployment.serving=[aggregated,disaggregated]", "finance.years=1"])
    print(f"load average before: {os.getloadavg()}")
    for serving in ("aggregated", "disaggregated"):
        n, per_s = rate([*grid, f"deployment.serving={serving}"], 3)
        print(f"{serving:14s} {n:9,d} scenarios  {per_s:12,.0f} scenarios/s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
