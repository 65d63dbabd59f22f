"""Sweep the extremes and count invariant violations in feasible cells (must be 0).

    python scripts/extremes.py            # every model x accelerator x 30/100 years x growth 0-10
    python scripts/extremes.py --quick    # two models x two accelerators

For each horizon (30 and 100 years) one in-memory sweep runs every catalog model x every
accelerator x ``workload.growth_per_year`` in {0, 0.5, 1, 2, 4, 10} (flat to 11x a year) x
``workload.requests_per_day`` in {1, 1e6, 1e12}; the feasible cells are checked, independently of
the kernel's own check (:mod:`fleetsim.invariants`), for: finite outputs, counts and costs >= 0,
0 <= utilisation <= 1, energy per token > 0, cumulative TCO and NPV non-decreasing. A kernel
check that fires is counted too (the sweep stops with a SweepError naming the scenario).

Then the inputs that used to hang or crash are timed until refused (a one-line error): giant
mix grids, a 1e25-scenario sweep with and without shards.

Asserts nothing; prints the counts, the times and the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fleetsim
from fleetsim import catalog
from fleetsim import status as st
from fleetsim.registry import registry
from fleetsim.sweep import SweepError

GROWTH = "[0,0.5,1,2,4,10]"
DEMAND = "[1,1e6,1e12]"
REFUSALS = {
    "mix.share_step=1e-300": ["mix.candidates=[h100-sxm,b200]", "mix.share_step=1e-300"],
    "mix.share_step=0.001, 3 pools": [
        "mix.candidates=[h100-sxm,b200,mi300x]",
        "mix.share_step=0.001",
    ],
    "mix.share_step=0.01, 6 pools": [
        "mix.candidates=[h100-sxm,b200,mi300x,h200,l4,gaudi3]",
        "mix.share_step=0.01",
    ],
    "mix.share_step=1e-6, 2 pools": ["mix.candidates=[h100-sxm,b200]", "mix.share_step=1e-6"],
    "5 x linspace 100000 (1e25)": [
        f"{key}=${{linspace:1,2,100000}}"
        for key in (
            "workload.requests_per_day",
            "finance.electricity_usd_per_kwh",
            "deployment.spare_frac",
            "workload.peak_to_mean",
            "facility.colocation_usd_per_kw_month",
        )
    ],
}


def violations(ds) -> dict[str, int]:
    """Count rule violations per output in feasible cells (plain numpy, not fleetsim.invariants)."""
    entries = registry()
    feasible = (ds["status"] == st.FEASIBLE).values
    counts: dict[str, int] = {}
    for name, variable in ds.data_vars.items():
        if name == "status":
            continue
        mask = np.broadcast_to(
            feasible.reshape(feasible.shape + (1,) * (variable.ndim - feasible.ndim)),
            variable.shape,
        )
        values = variable.values[mask]
        if entries[name].get("nan_when"):
            values = values[~np.isnan(values)]
        if entries[name].get("inf_when"):
            values = values[~np.isposinf(values)]
        bad = ~np.isfinite(values) | (values < entries[name].get("min", 0.0))
        if "max" in entries[name]:
            bad |= values > entries[name]["max"] * (1 + 1e-9)
        if entries[name].get("positive"):
            bad |= values <= 0
        count = int(bad.sum())
        if entries[name].get("non_decreasing"):
            steps = np.diff(variable.values, axis=variable.dims.index("year"))
            count += int((steps[mask[..., 1:]] < 0).sum())
        if count:
            counts[name] = count
    return counts


def extremes(models: list[str], hardware: list[str]) -> None:
    for years in (30, 100):
        overrides = [
            f"model=[{','.join(models)}]",
            f"hardware=[{','.join(hardware)}]",
            f"finance.years={years}",
            f"workload.growth_per_year={GROWTH}",
            f"workload.requests_per_day={DEMAND}",
            "sweep.chunk_size=4096",
            "output.float32=false",  # a century of 11x growth exceeds float32's range
        ]
        started = time.perf_counter()
        try:
            ds = fleetsim.run(overrides)
        except SweepError as error:
            print(f"{years:>3} years: the kernel's check fired: {error}")
            continue
        seconds = time.perf_counter() - started
        feasible = int((ds["status"] == st.FEASIBLE).sum())
        found = violations(ds)
        print(f"{years:>3} years: {ds['status'].size:,} scenarios, {feasible:,} feasible, "
              f"{sum(found.values())} invariant violations in feasible cells {found or ''} "
              f"({seconds:.1f} s)")  # fmt: skip


def refusals() -> None:
    for label, overrides in REFUSALS.items():
        started = time.perf_counter()
        try:
            fleetsim.run(overrides)
            outcome = "ran (not refused)"
        except fleetsim.InputError as error:
            outcome = f"refused: {str(error)[:110]}..."
        print(f"{time.perf_counter() - started:6.2f} s  {label}: {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two models x two accelerators")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    ids = catalog.load().ids()
    models, hardware = list(ids["models"]), list(ids["hardware"])
    if args.quick:
        models, hardware = models[:2], hardware[:2]
    fleetsim.run(["finance.years=1"])  # compile (or load) the kernel before timing anything
    print(f"{len(models)} models x {len(hardware)} accelerators x growth {GROWTH} x "
          f"requests/day {DEMAND}")  # fmt: skip
    extremes(models, hardware)
    refusals()
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
