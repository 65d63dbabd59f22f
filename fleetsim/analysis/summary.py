"""A short, readable text summary of a fleetsim Dataset (printed by the CLI)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from fleetsim import status


def _money(value: float) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"${value / scale:,.2f}{suffix}"
    return f"${value:,.2f}"


def _count(n: float, noun: str) -> str:
    """Return ``"1 accelerator"`` or ``"4 accelerators"``."""
    return f"{n:.0f} {noun}" + ("" if n == 1 else "s")


def summarise(ds: xr.Dataset) -> str:
    """Return a few lines describing the sweep and its cheapest feasible scenario.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim output.

    Returns
    -------
    str
        Dimensions, feasibility counts, and for the cheapest scenario by final-year TCO: its
        coordinates, accelerators, TCO, cost per million output tokens, TTFT, TPOT and layout.
    """
    dims = {d: ds.sizes[d] for d in ds["status"].dims}
    n = int(np.prod(list(dims.values())))
    codes, counts = np.unique(ds["status"].values, return_counts=True)
    flags = ", ".join(
        f"{status.MEANINGS[int(c)][0]} {k}" for c, k in zip(codes, counts, strict=True)
    )
    lines = [
        f"scenarios: {n} over " + " x ".join(f"{d}({k})" for d, k in dims.items()) + f"; {flags}"
    ]
    final = ds["tco_usd"].isel(year=-1).where(ds["status"] == status.FEASIBLE)
    if not np.isfinite(final.values).any():
        lines.append("no feasible scenario (see the status variable for why)")
        return "\n".join(lines)
    best = {
        d: int(i)
        for d, i in zip(
            final.dims, np.unravel_index(int(np.nanargmin(final.values)), final.shape), strict=True
        )
    }
    point = ds.isel(best)
    years = ds.sizes["year"]
    where = ", ".join(f"{d}={point[d].values.item()}" for d in final.dims)
    lines += [
        f"cheapest: {where}" if n > 1 else f"scenario: {where}",
        f"  accelerators (year 1 -> {years}): {point['accelerators'].values[0]:,.0f} -> {point['accelerators'].values[-1]:,.0f}",
        f"  TCO over {years} years: {_money(float(point['tco_usd'].values[-1]))}",
        f"  cost per million output tokens (year 1): {_money(float(point['cost_per_million_output_tokens_usd'].values[0]))}",
        f"  TTFT {float(point['ttft_s']) * 1e3:,.0f} ms, TPOT {float(point['tpot_s']) * 1e3:,.1f} ms, "
        f"batch {float(point['batch_size']):,.0f}, {float(point['tokens_per_s_per_accelerator']):,.0f} tokens/s per accelerator",
        f"  replica layout: TP{float(point['tensor_parallel']):.0f} x PP{float(point['pipeline_parallel']):.0f}"
        f" ({_count(float(point['accelerators_per_replica']), 'accelerator')})",
    ]
    return "\n".join(lines)
