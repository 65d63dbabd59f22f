"""Orchestration: axes -> chunks -> kernel calls -> output arrays. No physics here.

The flat index space of the (shard's) grid is evaluated in chunks of ``sweep.chunk_size``
scenarios; after each chunk every output of a scenario whose status says it is servable must be
finite, otherwise :class:`SweepError` names the scenario's coordinates (never a silent NaN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fleetsim import axes as axes_mod
from fleetsim import kernel, layout
from fleetsim import status as st
from fleetsim.catalog import Catalog, Table
from fleetsim.config import FIELDS, Scenario
from fleetsim.precision import BYTES_PER_ELEMENT, COMPUTE_COLUMN


class SweepError(RuntimeError):
    """The kernel produced a non-finite value for a scenario flagged as servable (a bug)."""


@dataclass(frozen=True)
class KernelInputs:
    """Everything :func:`fleetsim.kernel.evaluate` reads, as contiguous arrays."""

    base: np.ndarray
    axis_param: np.ndarray
    axis_offset: np.ndarray
    axis_length: np.ndarray
    axis_values: np.ndarray
    hardware: np.ndarray
    models: np.ndarray
    fabrics: np.ndarray
    cooling: np.ndarray
    dtype_bytes: np.ndarray
    compute_column: np.ndarray


@dataclass(frozen=True)
class SweepArrays:
    """Raw kernel outputs of a sweep, flat over scenarios (C order of ``axes``)."""

    axes: tuple[axes_mod.Axis, ...]
    years: int
    scenario: np.ndarray
    year: np.ndarray
    status: np.ndarray


def _columns(table: Table, columns: tuple[str, ...]) -> np.ndarray:
    order = [table.columns.index(c) for c in columns]
    return np.ascontiguousarray(table.values[:, order], dtype=np.float64)


def kernel_inputs(
    scenario: Scenario, catalog: Catalog, axes: tuple[axes_mod.Axis, ...]
) -> KernelInputs:
    """Assemble the kernel's arrays for ``axes`` of a validated scenario."""
    slot = {spec.key: i for i, spec in enumerate(FIELDS)}
    values = [a.kernel_values(catalog) for a in axes]
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    tables = catalog.tables
    return KernelInputs(
        base=axes_mod.base_vector(scenario, catalog),
        axis_param=np.array([slot[a.field.key] for a in axes], dtype=np.int64),
        axis_offset=offsets,
        axis_length=lengths,
        axis_values=np.ascontiguousarray(np.concatenate(values) if values else np.zeros(0)),
        hardware=_columns(tables["hardware"], layout.HARDWARE_COLUMNS),
        models=np.ascontiguousarray(tables["models"].values, dtype=np.float64),
        fabrics=_columns(tables["fabrics"], layout.FABRIC_COLUMNS),
        cooling=_columns(tables["cooling"], layout.COOLING_COLUMNS),
        dtype_bytes=np.array(BYTES_PER_ELEMENT, dtype=np.float64),
        compute_column=np.array(
            [layout.HARDWARE_COLUMNS.index(c) for c in COMPUTE_COLUMN], dtype=np.int64
        ),
    )


def output_bytes(n: int, years: int) -> int:
    """Return the bytes :func:`run` allocates for the outputs of ``n`` scenarios.

    Parameters
    ----------
    n : int
        Number of scenarios.
    years : int
        Horizon in years.

    Returns
    -------
    int
        float64 per-scenario and per-year outputs plus the int8 status. [B]
    """
    per_scenario = 8 * (len(layout.SCENARIO_OUTPUTS) + len(layout.YEAR_OUTPUTS) * years) + 1
    return int(n) * per_scenario


def evaluate_range(inputs: KernelInputs, years: int, lo: int, hi: int):
    """Run the kernel on flat indices ``lo .. hi-1``; return (scenario, year, status) arrays."""
    n = hi - lo
    out_scenario = np.empty((n, len(layout.SCENARIO_OUTPUTS)))
    out_year = np.empty((n, len(layout.YEAR_OUTPUTS), years))
    out_status = np.empty(n, dtype=np.int8)
    kernel.evaluate(
        lo, hi, inputs.base, inputs.axis_param, inputs.axis_offset, inputs.axis_length,
        inputs.axis_values, years, inputs.hardware, inputs.models, inputs.fabrics, inputs.cooling,
        inputs.dtype_bytes, inputs.compute_column, out_scenario, out_year, out_status,
    )  # fmt: skip
    return out_scenario, out_year, out_status


def check_outputs(
    axes: tuple[axes_mod.Axis, ...], lo: int, out_scenario, out_year, out_status
) -> None:
    """Raise :class:`SweepError` if a servable scenario has a non-finite output.

    Zero-demand scenarios legitimately have NaN cost and energy per token; every other output
    of a servable scenario must be finite.
    """
    year_ok = np.isfinite(out_year)
    per_token = [
        layout.YEAR_OUTPUTS.index(n)
        for n in ("energy_per_token_j", "cost_per_million_output_tokens_usd")
    ]
    zero_demand = out_status == st.ZERO_DEMAND
    year_ok[np.ix_(zero_demand, per_token)] = True
    finite = np.isfinite(out_scenario).all(axis=1) & year_ok.all(axis=(1, 2))
    servable = np.isin(out_status, st.SERVABLE)
    bad = np.flatnonzero(servable & ~finite)
    if bad.size:
        index = np.unravel_index(lo + bad[0], axes_mod.shape(axes))
        where = ", ".join(f"{a.name}={a.labels[i]!r}" for a, i in zip(axes, index, strict=True))
        raise SweepError(f"non-finite output for a servable scenario ({where}); please report this")


def run(
    scenario: Scenario,
    catalog: Catalog,
    axes: tuple[axes_mod.Axis, ...],
    chunk_size: int,
    progress: Callable[[int], None] | None = None,
) -> SweepArrays:
    """Evaluate every scenario of ``axes`` in chunks and return the flat output arrays.

    Parameters
    ----------
    scenario : Scenario
        Validated configuration.
    catalog : Catalog
        Loaded catalogs.
    axes : tuple of Axis
        The grid to evaluate (the whole sweep or one shard of it).
    chunk_size : int
        Scenarios per kernel call.
    progress : callable, optional
        Called with the number of scenarios finished after each chunk.
    """
    inputs = kernel_inputs(scenario, catalog, axes)
    n = axes_mod.size(axes)
    years = scenario.years
    out_scenario = np.empty((n, len(layout.SCENARIO_OUTPUTS)))
    out_year = np.empty((n, len(layout.YEAR_OUTPUTS), years))
    out_status = np.empty(n, dtype=np.int8)
    for lo in range(0, n, chunk_size):
        hi = min(n, lo + chunk_size)
        s, y, code = evaluate_range(inputs, years, lo, hi)
        check_outputs(axes, lo, s, y, code)
        out_scenario[lo:hi], out_year[lo:hi], out_status[lo:hi] = s, y, code
        if progress is not None:
            progress(hi - lo)
    return SweepArrays(axes, years, out_scenario, out_year, out_status)
