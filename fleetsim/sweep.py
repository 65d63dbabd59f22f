"""Orchestration: axes -> chunks -> kernel calls -> output arrays. No physics here.

The flat index space of the (shard's) grid is evaluated in chunks of at most ``sweep.chunk_size``
scenarios; every output of a scenario whose status says it is servable must be finite and within
its rules (:mod:`fleetsim.invariants`), checked by the kernel as it stores them (nothing checks
them again), otherwise :class:`SweepError` names the scenario's coordinates, the output and the
rule (never a silently written value).

Two ways to run: :func:`run` keeps every output in memory (``fleetsim.run``, notebooks), the
kernel threads writing the whole sweep straight into the final arrays in the stored dtype;
:func:`stream` hands each chunk to a consumer on one background thread (the NetCDF writer, which
compresses each chunk's variables on a pool of its own), so writing overlaps the next chunk's
kernel call and memory stays at a few chunks whatever the sweep's size. Stream chunks are
hyperslabs (:func:`plan`): whole trailing axes times a run of the axis before them, so each chunk
is one rectangular block of every variable.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from math import prod

import numba
import numpy as np

from fleetsim import _jit, invariants, kernel, layout
from fleetsim import axes as axes_mod
from fleetsim.catalog import Catalog, Table
from fleetsim.config import FIELDS, SERVING_MODES, Scenario
from fleetsim.efficiency import MODEL_CLASSES
from fleetsim.errors import ConfigError
from fleetsim.physics_inputs import fleet_slots, physics_slots
from fleetsim.precision import BYTES_PER_ELEMENT, COMPUTE_COLUMN


class SweepError(RuntimeError):
    """A servable scenario broke a rule of :mod:`fleetsim.invariants` (a modelling bug)."""


def _no_multi_start() -> np.ndarray:
    return np.zeros(1, dtype=np.int64)


def _no_multi_slots() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class KernelInputs:
    """Everything :func:`fleetsim.kernel.evaluate` reads, as contiguous arrays.

    ``multi_start``/``multi_slots`` describe multi-slot axes (the Monte Carlo ``sample`` axis,
    whose ``axis_param`` is negative); their defaults mean "none". ``axis_physics`` flags the
    axes that set a slot the physics reads, ``axis_fleet`` those that set a slot the physics or
    the fleet's sizes read (:mod:`fleetsim.physics_inputs`). ``aggregated_only``: no mix and
    no disaggregated scenario, so the kernel compiled without pools may run the sweep
    (:func:`call_kernel`).
    """

    base: np.ndarray
    axis_param: np.ndarray
    axis_offset: np.ndarray
    axis_length: np.ndarray
    axis_values: np.ndarray
    axis_physics: np.ndarray
    axis_fleet: np.ndarray
    hardware: np.ndarray
    models: np.ndarray
    fabrics: np.ndarray
    cooling: np.ndarray
    dtype_bytes: np.ndarray
    compute_column: np.ndarray
    multi_start: np.ndarray = field(default_factory=_no_multi_start)
    multi_slots: np.ndarray = field(default_factory=_no_multi_slots)
    pool_hardware: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    pool_share: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    aggregated_only: bool = False


@dataclass(frozen=True)
class Selection:
    """Which kernel outputs are stored: indexes into ``SCENARIO_OUTPUTS`` and ``YEAR_OUTPUTS``."""

    scenario: np.ndarray
    year: np.ndarray

    @classmethod
    def of(cls, names) -> Selection:
        """Return the selection of output ``names`` (``status`` is implied; order: kernel)."""
        return cls(
            np.array(
                [i for i, n in enumerate(layout.SCENARIO_OUTPUTS) if n in names], dtype=np.int64
            ),
            np.array([i for i, n in enumerate(layout.YEAR_OUTPUTS) if n in names], dtype=np.int64),
        )

    @property
    def scenario_names(self) -> tuple[str, ...]:
        """Names of the stored per-scenario outputs."""
        return tuple(layout.SCENARIO_OUTPUTS[i] for i in self.scenario)

    @property
    def year_names(self) -> tuple[str, ...]:
        """Names of the stored per-year outputs."""
        return tuple(layout.YEAR_OUTPUTS[i] for i in self.year)


def everything() -> Selection:
    """Return the selection of every kernel output."""
    return Selection.of((*layout.SCENARIO_OUTPUTS, *layout.YEAR_OUTPUTS))


@dataclass(frozen=True)
class SweepArrays:
    """Kernel outputs of a sweep, variable-major and flat over scenarios (C order of ``axes``).

    ``scenario[j]`` (shape ``(n,)``) is output ``scenario_names[j]``; ``year[j]`` (shape
    ``(n, years)``) is ``year_names[j]``.
    """

    axes: tuple
    years: int
    scenario: np.ndarray
    year: np.ndarray
    status: np.ndarray
    scenario_names: tuple[str, ...] = layout.SCENARIO_OUTPUTS
    year_names: tuple[str, ...] = layout.YEAR_OUTPUTS


def _columns(table: Table, columns: tuple[str, ...]) -> np.ndarray:
    order = [table.columns.index(c) for c in columns]
    return np.ascontiguousarray(table.values[:, order], dtype=np.float64)


def _class_codes(catalog: Catalog) -> np.ndarray:
    """Return each model's class code (``efficiency.MODEL_CLASSES`` index), model-table order."""
    return np.array([MODEL_CLASSES.index(c) for c in catalog.model_classes], dtype=np.float64)


def kernel_inputs(scenario: Scenario, catalog: Catalog, axes: tuple) -> KernelInputs:
    """Assemble the kernel's arrays for ``axes`` of a validated scenario."""
    slot = {spec.key: i for i, spec in enumerate(FIELDS)}
    values = [a.kernel_values(catalog) for a in axes]
    lengths = np.array([len(a) for a in axes], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in values])[:-1]]).astype(np.int64)
    base = axes_mod.base_vector(scenario, catalog)
    serving = {base[layout.P_SERVING]}.union(
        *(v for a, v in zip(axes, values, strict=True) if a.fields == (FIELDS[layout.P_SERVING],))
    )
    # a disaggregated fleet's pools are laid out for its demand (fleetsim.physics_inputs)
    disaggregated = float(SERVING_MODES.index("disaggregated")) in serving
    read, sized = physics_slots(disaggregated), fleet_slots(disaggregated)
    params, multi_start, multi_slots, physics, fleet = [], [0], [], [], []
    for axis in axes:
        if isinstance(axis, axes_mod.SampleAxis):
            params.append(-len(multi_start))
            slots = [slot[f.key] for f in axis.fields]
            multi_slots += slots
            multi_start.append(len(multi_slots))
        else:
            slots = [slot[axis.field.key]]
            params.append(slots[0])
        physics.append(not read.isdisjoint(slots))
        fleet.append(not sized.isdisjoint(slots))
    tables = catalog.tables
    return KernelInputs(
        base=base,
        axis_param=np.array(params, dtype=np.int64),
        axis_offset=offsets,
        axis_length=lengths,
        axis_values=np.ascontiguousarray(np.concatenate(values) if values else np.zeros(0)),
        axis_physics=np.array(physics, dtype=np.bool_),
        axis_fleet=np.array(fleet, dtype=np.bool_),
        hardware=np.ascontiguousarray(
            np.hstack(
                [
                    _columns(tables["hardware"], layout.CATALOG_HARDWARE_COLUMNS),
                    catalog.engine_scale.reshape(len(tables["hardware"].ids), -1),
                ]
            )
        ),
        models=np.ascontiguousarray(
            np.column_stack([tables["models"].values, _class_codes(catalog)]), dtype=np.float64
        ),
        fabrics=_columns(tables["fabrics"], layout.FABRIC_COLUMNS),
        cooling=_columns(tables["cooling"], layout.COOLING_COLUMNS),
        dtype_bytes=np.array(BYTES_PER_ELEMENT, dtype=np.float64),
        compute_column=np.array(
            [layout.HARDWARE_COLUMNS.index(c) for c in COMPUTE_COLUMN], dtype=np.int64
        ),
        multi_start=np.array(multi_start, dtype=np.int64),
        multi_slots=np.array(multi_slots, dtype=np.int64),
        aggregated_only=not disaggregated and scenario.run.get("mix") is None,
        **_pool_tables(scenario, catalog),
    )


def _pool_tables(scenario: Scenario, catalog: Catalog) -> dict[str, np.ndarray]:
    """Return the mix table for the kernel: hardware rows and shares of every mix's pools."""
    mix = scenario.run.get("mix")
    if mix is None:
        return {}
    rows = [catalog.tables["hardware"].ids.index(c) for c in mix.candidates]
    return {
        "pool_hardware": np.ascontiguousarray(np.tile(rows, (len(mix.shares), 1)), dtype=np.int64),
        "pool_share": np.ascontiguousarray(mix.shares, dtype=np.float64),
    }


def output_bytes(n: int, years: int, selection: Selection | None = None, dtype=np.float32) -> int:
    """Return the bytes :func:`run` allocates for the outputs of ``n`` scenarios.

    Parameters
    ----------
    n : int
        Number of scenarios.
    years : int
        Horizon in years.
    selection : Selection, optional
        Stored outputs (default: all).
    dtype : numpy dtype
        Stored floating-point dtype (float32 or float64).

    Returns
    -------
    int
        Per-scenario and per-year outputs in ``dtype`` plus the int8 status (:func:`run` makes
        no other copy). [B]
    """
    selection = everything() if selection is None else selection
    itemsize = np.dtype(dtype).itemsize
    per_scenario = itemsize * (len(selection.scenario) + len(selection.year) * years) + 1
    return int(n) * per_scenario


#: float32 and float64 stand-ins for the output pair a kernel call does not use
_UNUSED = {
    np.dtype(t): (np.zeros((0, 0), dtype=t), np.zeros((0, 0, 0), dtype=t))
    for t in (np.float32, np.float64)
}


def call_kernel(
    inputs: KernelInputs,
    years: int,
    lo: int,
    hi: int,
    selection: Selection,
    out_scenario: np.ndarray,
    out_year: np.ndarray,
    out_status: np.ndarray,
    at: int = 0,
    piece: int = 0,
    progress: Callable[[int], None] | None = None,
    nice: int = 0,
) -> int:
    """Run the kernel on flat indices ``lo .. hi-1`` into variable-major outputs.

    The kernel stores each output in the outputs' dtype and checks the scenario in the same
    pass (:mod:`fleetsim.invariants`); nothing checks the stored outputs again. A sweep with
    neither a mix nor disaggregated serving runs the kernel compiled without their code (no
    pool tables: a first compile about a quarter shorter) unless the full one is compiled
    already (:func:`fleetsim._jit.ready`), which serves every sweep.

    Parameters
    ----------
    inputs : KernelInputs
        Kernel arrays.
    years : int
        Horizon in years.
    lo, hi : int
        Flat index range.
    selection : Selection
        Outputs to store.
    out_scenario, out_year, out_status : ndarray
        C-contiguous ``(len(selection.scenario), m)``, ``(len(selection.year), m, years)``
        (float32 or float64, both alike) and int8 ``(m,)`` with ``m >= at + hi - lo``; columns
        ``at .. at + hi - lo - 1`` are written.
    at : int
        Column of scenario ``lo`` (0 for a chunk buffer, ``lo`` for whole-sweep arrays).
    piece : int
        Most scenarios the kernel threads take at a time (rounded up to whole blocks); 0: the
        range split into :data:`_PIECES_PER_THREAD` pieces per thread.
    progress : callable, optional
        Called on the calling thread with the number of scenarios of each finished piece.
    nice : int
        Nice increment of the kernel threads: :data:`KERNEL_NICE` when a writer waits on other
        threads (:func:`stream`), 0 otherwise.

    Returns
    -------
    int
        The first row (``0 .. hi - lo - 1``, relative to ``lo``) of a servable scenario that
        breaks a rule of :mod:`fleetsim.invariants` or holds a finite value its store cannot,
        or -1 (:func:`refuse` explains it).
    """
    dtype = out_scenario.dtype
    if dtype not in _UNUSED or out_year.dtype != dtype or out_status.dtype != np.int8:
        raise TypeError(f"outputs must be float32 or float64 (both alike) and int8, not "
                        f"{out_scenario.dtype}, {out_year.dtype}, {out_status.dtype}")  # fmt: skip
    columns = at + hi - lo
    if (
        out_scenario.shape[0] != len(selection.scenario)
        or out_year.shape[0] != len(selection.year)
        or min(out_scenario.shape[1], out_year.shape[1], out_status.shape[0]) < columns
        or out_year.shape[2] != years
    ):
        raise ValueError(f"output arrays too small for {columns} columns: {out_scenario.shape}, "
                         f"{out_year.shape}, {out_status.shape}")  # fmt: skip
    narrow = dtype == np.float32
    unused = _UNUSED[np.dtype(np.float64 if narrow else np.float32)]
    pairs = ((out_scenario, out_year), unused) if narrow else (unused, (out_scenario, out_year))
    rules = invariants.rules()
    aggregated = inputs.aggregated_only and not _jit.ready(_jit.FULL)
    variant = _jit.AGGREGATED if aggregated else _jit.FULL
    pools = (None, None) if aggregated else (inputs.pool_hardware, inputs.pool_share)
    fixed = (
        inputs.base, inputs.axis_param, inputs.axis_offset, inputs.axis_length,
        inputs.axis_values, inputs.multi_start, inputs.multi_slots, inputs.axis_physics,
        inputs.axis_fleet, years,
        inputs.hardware, inputs.models, inputs.fabrics, inputs.cooling, inputs.dtype_bytes,
        inputs.compute_column, *pools,
        selection.scenario, selection.year, rules.scenario, rules.year, narrow,
    )  # fmt: skip

    def evaluate(start: int, stop: int) -> int:
        """Evaluate rows ``start .. stop-1`` (relative to ``lo``); return the first bad one."""
        out_bad = np.empty((stop - start + kernel.BLOCK - 1) // kernel.BLOCK, dtype=np.int64)
        kernel.evaluate(lo + start, lo + stop, *fixed, at + start, *pairs[0], *pairs[1], out_status,
                        out_bad)  # fmt: skip
        bad = out_bad[out_bad >= 0]
        return start + int(bad.min()) if bad.size else -1

    def done(run: tuple[int, int], bad: int) -> int:
        """Report a finished piece; return its first bad row."""
        if progress is not None:
            progress(run[1] - run[0])
        return bad

    runs = _pieces(hi - lo, numba.get_num_threads(), piece)
    found = []
    if _jit.announce_compile(variant):  # the first piece compiles, on this thread
        started = time.perf_counter()
        with _jit.collector_paused():
            found.append(done(runs[0], evaluate(*runs[0])))
        _jit.compiled(variant, time.perf_counter() - started)
        runs = runs[1:]
    if len(runs) == 1:
        found.append(done(runs[0], evaluate(*runs[0])))
    elif runs:
        pool = _pool(numba.get_num_threads(), os.getpid(), nice)
        futures = [pool.submit(evaluate, *run) for run in runs]
        try:
            found += [done(run, f.result()) for run, f in zip(runs, futures, strict=True)]
        except BaseException:  # e.g. Ctrl-C: the pieces not yet started do not run
            for future in futures:
                future.cancel()
            raise
    found = [b for b in found if b >= 0]
    return min(found) if found else -1


def warm(scenario: Scenario, catalog: Catalog, axes: tuple) -> None:
    """Run the first scenario of ``axes`` through the full kernel, which serves every sweep.

    Compiles it, or loads it from Numba's cache (:data:`fleetsim._jit.FULL`).
    """
    inputs = replace(kernel_inputs(scenario, catalog, axes), aggregated_only=False)
    selection, years = everything(), scenario.years
    outputs = (
        np.empty((len(selection.scenario), 1), dtype=np.float32),
        np.empty((len(selection.year), 1, years), dtype=np.float32),
        np.empty(1, dtype=np.int8),
    )
    call_kernel(inputs, years, 0, 1, selection, *outputs)


#: blocks per run handed to a kernel thread at a time (small enough to balance the threads)
_PIECES_PER_THREAD = 4


def piece_size(chunk_size: int) -> int:
    """Return the most scenarios a kernel thread takes at a time in :func:`run`.

    A piece of a chunk as :func:`call_kernel` splits one: ``chunk_size`` / (threads x
    :data:`_PIECES_PER_THREAD`) (rounded up to whole blocks there), the whole chunk on one thread.
    """
    threads = numba.get_num_threads()
    return chunk_size if threads <= 1 else max(1, chunk_size // (threads * _PIECES_PER_THREAD))


def _pieces(n: int, threads: int, most: int = 0) -> list[tuple[int, int]]:
    """Split rows ``0 .. n-1`` into runs of whole blocks for ``threads`` kernel threads.

    ``most``: at most this many rows per run (rounded up to whole blocks); 0: about
    :data:`_PIECES_PER_THREAD` runs per thread.
    """
    blocks = (n + kernel.BLOCK - 1) // kernel.BLOCK
    per = n if threads <= 1 else kernel.BLOCK * max(1, -(-blocks // (threads * _PIECES_PER_THREAD)))
    if most > 0:
        per = min(per, kernel.BLOCK * -(-most // kernel.BLOCK))
    if blocks <= 1 or per >= n:
        return [(0, n)]
    return [(start, min(n, start + per)) for start in range(0, n, per)]


#: nice increment of a streamed sweep's kernel threads (Linux, per thread). The stream waits on
#: its writer and compression threads, never on the kernel, which has ``depth`` chunks of lead;
#: at equal priority the kernel threads took the cores from them. At +10 the OS runs the writer
#: first and the kernel in the gaps: the 3 M-scenario blosc_lz4 sweep of ``bench_sweep.py
#: --scale 0.3`` on 2 cores (3 interleaved pairs, load ~1) took 6.5 s wall instead of 7.0 (6.2
#: instead of 7.5 when netCDF-C compressed on the writer thread). In memory (``fleetsim.run``)
#: nothing waits on other threads and the kernel keeps its priority.
KERNEL_NICE = 10


def _lower_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux; no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):  # a sandbox may refuse; the order is only a preference
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)


@cache
def _pool(threads: int, pid: int, nice: int = 0) -> ThreadPoolExecutor:
    """Return process ``pid``'s pool of ``threads`` kernel threads (the kernel runs without the GIL).

    ``nice`` > 0: the threads run that much lower in priority (:func:`_lower_priority`; a pool
    of its own, since a thread cannot take its priority back). Keyed by the process id: a forked
    child inherits the cache but not the threads.
    """
    initializer = (lambda: _lower_priority(nice)) if nice else None
    return ThreadPoolExecutor(threads, thread_name_prefix="fleetsim-kernel",
                              initializer=initializer)  # fmt: skip


def evaluate_range(inputs: KernelInputs, years: int, lo: int, hi: int):
    """Run the kernel on flat indices ``lo .. hi-1``; return (scenario, year, status) arrays.

    Every output in float64, indexed by scenario first: ``scenario[i, j]`` is
    ``SCENARIO_OUTPUTS[j]`` and ``year[i, j, y]`` is ``YEAR_OUTPUTS[j]`` in year ``y`` of flat
    index ``lo + i`` (views of the kernel's variable-major arrays).
    """
    n = hi - lo
    selection = everything()
    out_scenario = np.empty((len(layout.SCENARIO_OUTPUTS), n))
    out_year = np.empty((len(layout.YEAR_OUTPUTS), n, years))
    out_status = np.empty(n, dtype=np.int8)
    call_kernel(inputs, years, lo, hi, selection, out_scenario, out_year, out_status)
    return out_scenario.T, out_year.transpose(1, 0, 2), out_status


def _where(axes: tuple, flat: int) -> str:
    index = np.unravel_index(flat, axes_mod.shape(axes))
    return ", ".join(f"{a.name}={a.labels[i]!r}" for a, i in zip(axes, index, strict=True))


def refuse(inputs: KernelInputs, years: int, axes: tuple, flat: int) -> None:
    """Raise the error for scenario ``flat``, which :func:`call_kernel` reported as bad.

    The scenario is evaluated again alone, in float64 with every output, to say why.

    Raises
    ------
    SweepError
        If an output breaks its rule (a modelling bug: never a silently written value).
    ConfigError
        ``output.float32`` when every rule holds but a value exceeds float32's range.
    """
    s, y, code = evaluate_range(inputs, years, flat, flat + 1)
    o, oy = np.ascontiguousarray(s[0]), np.ascontiguousarray(y[0])
    rules = invariants.rules()
    index = invariants.first_violation(int(code[0]), o, oy, rules.scenario, rules.year)
    where = _where(axes, flat)
    if index >= 0:
        raise SweepError(
            f"{invariants.describe(index, o, oy)} for a servable scenario ({where}); "
            "please report this"
        )
    largest = float(np.finfo(np.float32).max)
    names = [n for n, v in zip(layout.SCENARIO_OUTPUTS, o, strict=True) if abs(v) > largest]
    names += [n for n, v in zip(layout.YEAR_OUTPUTS, oy, strict=True) if np.abs(v).max() > largest]
    raise ConfigError(
        "output.float32",
        True,
        f"false for this sweep: {', '.join(names)} exceeds float32's largest value "
        f"{largest:.3g} ({where}); float32 would store inf",
    )


def run(
    scenario: Scenario,
    catalog: Catalog,
    axes: tuple,
    chunk_size: int,
    progress: Callable[[int], None] | None = None,
    selection: Selection | None = None,
    dtype=np.float32,
) -> SweepArrays:
    """Evaluate every scenario of ``axes`` in one kernel call and return the outputs in memory.

    Parameters
    ----------
    scenario : Scenario
        Validated configuration.
    catalog : Catalog
        Loaded catalogs.
    axes : tuple of Axis
        The grid to evaluate (the whole sweep or one shard of it).
    chunk_size : int
        Scenarios per chunk: the kernel threads take the sweep in pieces of the size a chunk's
        would have (:func:`piece_size`), all in one call, so no thread waits for the other at
        the end of each chunk.
    progress : callable, optional
        Called with the number of scenarios finished after each piece.
    selection : Selection, optional
        Outputs to keep (default: all).
    dtype : numpy dtype
        Stored floating-point dtype (``output.float32``: float32, else float64). The kernel
        writes straight into the returned arrays and is the only check.

    Raises
    ------
    SweepError, ConfigError
        As :func:`refuse`, for the first servable scenario the kernel reports.
    """
    selection = everything() if selection is None else selection
    inputs = kernel_inputs(scenario, catalog, axes)
    n = axes_mod.size(axes)
    years = scenario.years
    # the final arrays, in the stored dtype: the kernel writes each chunk's columns in place
    out_scenario = np.empty((len(selection.scenario), n), dtype=dtype)
    out_year = np.empty((len(selection.year), n, years), dtype=dtype)
    out_status = np.empty(n, dtype=np.int8)
    bad = call_kernel(inputs, years, 0, n, selection, out_scenario, out_year, out_status, 0,
                      piece_size(chunk_size), progress)  # fmt: skip
    if bad >= 0:
        refuse(inputs, years, axes, bad)
    return SweepArrays(
        axes, years, out_scenario, out_year, out_status,
        selection.scenario_names, selection.year_names,
    )  # fmt: skip


# --------------------------------------------------------------------------- streaming
@dataclass(frozen=True)
class Slab:
    """One chunk of a streamed sweep: a flat index range that is a hyperslab of the grid.

    Parameters
    ----------
    lo, hi : int
        Flat index range (C order).
    start, count : tuple of int
        Per-axis start and length of the block the range covers.
    """

    lo: int
    hi: int
    start: tuple[int, ...]
    count: tuple[int, ...]

    def slices(self) -> tuple[slice, ...]:
        """Return the block as one slice per axis."""
        return tuple(slice(a, a + c) for a, c in zip(self.start, self.count, strict=True))


def plan(shape: tuple[int, ...], target: int) -> tuple[tuple[int, ...], Iterator[Slab]]:
    """Split a grid into hyperslab chunks of at most ``target`` scenarios (at least one row).

    The trailing axes whose product fits in ``target`` are taken whole; the axis before them is
    cut into runs of ``m`` indices (``m`` times the trailing product <= ``target``); the leading
    axes advance one index at a time. Chunks come in flat (C) order and tile the grid exactly.

    Parameters
    ----------
    shape : tuple of int
        Grid shape.
    target : int
        Most scenarios per chunk.

    Returns
    -------
    tuple
        The chunk shape (also the NetCDF chunk shape of the scenario dimensions, so every
        write covers whole NetCDF chunks) and an iterator over the :class:`Slab` chunks.
    """
    target = max(1, int(target))
    k = len(shape)
    while k > 0 and prod(shape[k - 1 :]) <= target:
        k -= 1
    if k == 0:
        whole = tuple(shape)
        return whole, iter([Slab(0, prod(shape), (0,) * len(shape), whole)])
    cut = k - 1  # the axis cut into runs
    trailing = prod(shape[k:])
    run_length = max(1, min(shape[cut], target // trailing))
    chunk = (1,) * cut + (run_length,) + tuple(shape[k:])

    def slabs() -> Iterator[Slab]:
        for prefix in np.ndindex(*shape[:cut]):
            for first in range(0, shape[cut], run_length):
                rows = min(run_length, shape[cut] - first)
                start = (*prefix, first) + (0,) * (len(shape) - k)
                lo = int(np.ravel_multi_index(start, shape)) if shape else 0
                yield Slab(lo, lo + rows * trailing, start, (1,) * cut + (rows, *shape[k:]))

    return chunk, slabs()


@dataclass
class Chunk:
    """One evaluated chunk handed to a :func:`stream` consumer (its arrays are reused after)."""

    slab: Slab
    scenario: np.ndarray
    year: np.ndarray
    status: np.ndarray


class _Buffers:
    """Flat output buffers for one chunk, reshaped per chunk to C-contiguous arrays."""

    def __init__(self, size: int, selection: Selection, years: int, dtype) -> None:
        self.n_s, self.n_y, self.years = len(selection.scenario), len(selection.year), years
        self.scenario = np.empty(self.n_s * size, dtype=dtype)
        self.year = np.empty(self.n_y * size * years, dtype=dtype)
        self.status = np.empty(size, dtype=np.int8)

    def views(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            self.scenario[: self.n_s * m].reshape(self.n_s, m),
            self.year[: self.n_y * m * self.years].reshape(self.n_y, m, self.years),
            self.status[:m],
        )


def stream(
    scenario: Scenario,
    catalog: Catalog,
    axes: tuple,
    chunk_size: int,
    consume: Callable[[Chunk], None],
    selection: Selection | None = None,
    dtype=np.float32,
    progress: Callable[[int], None] | None = None,
    depth: int = 2,
) -> None:
    """Evaluate the grid chunk by chunk and hand each chunk to ``consume`` on one other thread.

    The kernel runs on its threads (Numba, without the GIL; at :data:`KERNEL_NICE`, since the
    stream waits on the consumer, never on them) while ``consume`` (the NetCDF writer, whose
    chunks are compressed on threads of its own) handles the previous chunks, in order, on a
    single background thread; at most ``depth`` evaluated chunks wait for it. Buffers are
    reused, so memory stays at ``depth + 1`` chunks whatever the sweep's size.

    Parameters
    ----------
    scenario, catalog, axes, chunk_size
        As for :func:`run`.
    consume : callable
        Called with each :class:`Chunk` in flat order, always from the same thread; the chunk's
        arrays are reused once it returns.
    selection : Selection, optional
        Outputs to compute into the chunks (default: all).
    dtype : numpy dtype
        Floating-point dtype of the chunk arrays (the stored dtype).
    progress : callable, optional
        Called with the number of scenarios of each chunk once it has been consumed.
    depth : int
        Evaluated chunks that may wait for ``consume``.

    Raises
    ------
    SweepError
        If a servable scenario has a non-finite output (nothing more is consumed).
    """
    selection = everything() if selection is None else selection
    inputs = kernel_inputs(scenario, catalog, axes)
    chunk_shape, slabs = plan(axes_mod.shape(axes), chunk_size)
    size = min(prod(chunk_shape), axes_mod.size(axes))
    free: queue.Queue = queue.Queue()
    for _ in range(depth + 1):
        free.put(_Buffers(size, selection, scenario.years, dtype))
    full: queue.Queue = queue.Queue()
    failure: list[BaseException] = []

    def writer() -> None:
        while (item := full.get()) is not None:
            buffers, chunk = item
            try:
                if not failure:
                    consume(chunk)
                    if progress is not None:
                        progress(chunk.slab.hi - chunk.slab.lo)
            except BaseException as error:  # handed to the calling thread, which re-raises
                failure.append(error)
            finally:
                free.put(buffers)

    thread = threading.Thread(target=writer, name="fleetsim-writer", daemon=True)
    thread.start()
    try:
        for slab in slabs:
            buffers = free.get()
            if failure:
                break
            s, y, code = buffers.views(slab.hi - slab.lo)
            bad = call_kernel(inputs, scenario.years, slab.lo, slab.hi, selection, s, y, code,
                              nice=KERNEL_NICE)  # fmt: skip
            if bad >= 0:
                refuse(inputs, scenario.years, axes, slab.lo + bad)
            full.put((buffers, Chunk(slab, s, y, code)))
    finally:
        full.put(None)
        thread.join()
    if failure:
        raise failure[0]
