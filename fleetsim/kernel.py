"""The kernel: evaluate scenarios ``lo .. hi-1`` of a sweep into preallocated arrays.

Each scenario is decoded from its flat index over the swept axes (C order, last axis fastest);
the Cartesian product of inputs is never materialised. A scenario's parameters are the base
vector (one value per :data:`fleetsim.config.FIELDS` entry, in SI) with the swept slots replaced
by that scenario's axis values. Physics per replica (DESIGN.md section 3) gives the operating
point; the fleet loop over years (section 4) sizes and prices it. Infeasible scenarios get a
status code from :mod:`fleetsim.status` and NaN outputs. No I/O, no Python objects.

Most axes leave the physics alone (prices, finance, demand: :mod:`fleetsim.physics_inputs`), and
the axes vary odometer-fashion, last fastest: a scenario whose physics axes did not move since
the previous one in its block keeps that one's operating point (``o``, the derated ``hw`` and the
physics status, left untouched by the fleet code) and only re-runs the fleet over the years.
A scenario whose physics axes did move, to values computed earlier in the same kernel call (a
neutral axis that is not innermost, such as demand before the token counts, or the next block),
takes the operating point from a small memo keyed by the physics axes' indices (:data:`MEMO`
entries). The result is the same bit for bit as evaluating it afresh; it is what makes sweeps
over physics-neutral axes cheap, wherever those axes are in the grid. The fleet over the years
splits likewise (:func:`fleetsim.fleet.years.fleet_sizes`, then ``fleet_costs``): a scenario of an
aggregated fleet whose physics and sizing axes (demand, growth, lifetimes, price decline, the
facility: ``axis_fleet``) did not move since the previous one keeps its sized fleet (the year
outputs :data:`fleetsim.fleet.years.SIZED` and the scratch ``q``) and only re-prices it.

Two compiled variants (:data:`fleetsim._jit.FULL`, :data:`~fleetsim._jit.AGGREGATED`): called
with None pool tables, Numba prunes the branches of mixes and disaggregated serving before it
types them, so a sweep with neither compiles without their code (a quarter of the first compile).

Threads: :func:`evaluate` runs on the calling thread without the GIL; ``sweep.call_kernel``
runs it on several threads over disjoint runs of blocks. (A ``prange`` loop here did the same
but doubled the first compile: Numba's parallel lowering compiled the whole kernel again.)

Layout (chosen for streaming, see ``fleetsim/sweep.py``): outputs are variable-major,
``out_scenario[j, column]`` and ``out_year[j, column, year]``, so each stored variable of a chunk
is one contiguous block that the NetCDF writer takes without a copy, and an in-memory sweep's
final arrays are written in place (no copy either); ``keep_*`` select which outputs are stored,
and the output dtype (float32 or float64) is the stored dtype. Every scenario is computed
into float64 scratch first (NaN-filled per block, so an output the physics never writes is
caught), then copied and checked: a servable scenario with an output (stored or not) that breaks
its rule in :mod:`fleetsim.invariants` (non-finite, negative, a utilisation above 1, a falling
cumulative TCO, ...), or a finite value its float32 store turns into inf, marks its block in
``out_bad`` (the sweep names the scenario and the rule and raises). The check runs without
branches over each value's bounds (:func:`fleetsim.invariants.check_terms`), so it vectorises.
"""

from __future__ import annotations

import numpy as np

from fleetsim import layout
from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.fleet.mix import (
    DISAGGREGATED,
    aggregated_physics,
    mix_scenario,
    pool_fleet,
    pool_physics,
    pool_sizes,
)
from fleetsim.fleet.years import N_SCRATCH, fleet_costs
from fleetsim.invariants import check_terms, never_falls, outputs_pass, rising_rows
from fleetsim.layout import P_HARDWARE, P_SERVING

#: block of consecutive scenarios one thread evaluates with one set of scratch arrays
BLOCK = 256
N_SCENARIO_OUTPUTS = len(layout.SCENARIO_OUTPUTS)
N_YEAR_OUTPUTS = len(layout.YEAR_OUTPUTS)
#: operating points one kernel call remembers (by the physics axes' indices, modulo MEMO)
MEMO = 64


@jit
def _set_axis(p, k, i, axis_param, axis_offset, axis_values, multi_start, multi_slots):
    """Set the parameter slot(s) of axis ``k`` to its ``i``-th value."""
    slot = axis_param[k]
    if slot >= 0:
        p[slot] = axis_values[axis_offset[k] + i]
    else:  # a multi-slot axis (the Monte Carlo sample): several slots per index
        g = -slot - 1
        first, width = multi_start[g], multi_start[g + 1] - multi_start[g]
        at = axis_offset[k] + i * width
        for j in range(width):
            p[multi_slots[first + j]] = axis_values[at + j]


@jit
def _narrow(values, row) -> bool:
    """Copy ``values`` into ``row`` in its dtype; return whether a finite value became inf."""
    overflow = False
    for i in range(values.shape[0]):
        value = values[i]
        row[i] = value
        overflow |= (abs(row[i]) == np.inf) & (abs(value) < np.inf)
    return overflow


@jit
def _store(o, oy, flat, keep_scenario, keep_year, every_year, row_s, row_y) -> bool:
    """Store a scenario's kept outputs in its rows of the block buffers (their dtype).

    ``row_y`` holds the kept year outputs one after the other, ``years`` values each; with
    ``every_year`` (all of them, in order) that is ``flat`` (``oy`` raveled), converted in one
    pass. Return whether a finite value overflowed the store.
    """
    overflow = False
    for j in range(keep_scenario.shape[0]):
        value = o[keep_scenario[j]]
        row_s[j] = value
        overflow |= (abs(row_s[j]) == np.inf) & (abs(value) < np.inf)
    if every_year:
        return _narrow(flat, row_y) | overflow
    years = oy.shape[1]
    for j in range(keep_year.shape[0]):
        overflow |= _narrow(oy[keep_year[j]], row_y[j * years : (j + 1) * years])
    return overflow


@jit
def _fill_nan(row_s, row_y):
    """Fill a scenario's rows of the block buffers with NaN (an unservable scenario)."""
    for j in range(row_s.shape[0]):
        row_s[j] = np.nan
    for j in range(row_y.shape[0]):
        row_y[j] = np.nan


@jit
def _copy_out(block_s, block_y, rows, first, out_s, out_y):
    """Copy a block's first ``rows`` scenarios into output columns ``first ..``, per variable."""
    years = out_y.shape[2]
    for j in range(out_s.shape[0]):
        for r in range(rows):
            out_s[j, first + r] = block_s[r, j]
    for j in range(out_y.shape[0]):
        for r in range(rows):
            for y in range(years):
                out_y[j, first + r, y] = block_y[r, j * years + y]


@jit
def evaluate(
    lo, hi, base, axis_param, axis_offset, axis_length, axis_values, multi_start, multi_slots,
    axis_physics, axis_fleet, years, hardware, models, fabrics, cooling, dtype_bytes,
    compute_column, pool_hardware, pool_share, keep_scenario, keep_year, scenario_rules,
    year_rules, narrow, at,
    out_scenario32, out_year32, out_scenario64, out_year64, out_status, out_bad,
):  # fmt: skip
    """Evaluate flat scenario indices ``lo <= i < hi`` into column ``at + i - lo`` of the outputs.

    Parameters
    ----------
    lo, hi : int
        Flat index range of the sweep to evaluate.
    base : ndarray
        float64 ``(n_fields,)`` scenario parameters in SI (indexes: :data:`fleetsim.config.FIELDS`).
    axis_param, axis_offset, axis_length : ndarray
        int64 ``(n_axes,)``: parameter slot, offset into ``axis_values`` and length of each axis.
        A negative slot ``-(g + 1)`` marks a multi-slot axis: index ``i`` sets the slots
        ``multi_slots[multi_start[g]:multi_start[g + 1]]`` from ``width`` consecutive values at
        ``axis_offset + i * width``.
    axis_values : ndarray
        float64, all axes' values (SI, or integer codes for catalog ids and labels), concatenated.
    multi_start, multi_slots : ndarray
        int64: where each multi-slot axis's slots start in ``multi_slots`` (plus an end), and the
        slots (``multi_start=[0]`` and empty ``multi_slots`` when there is none).
    axis_physics : ndarray
        bool ``(n_axes,)``: whether the axis sets a slot the physics reads
        (:func:`fleetsim.physics_inputs.physics_slots`). A scenario whose physics axes equal the
        previous scenario's (in the block, without a mix) reuses its operating point.
    axis_fleet : ndarray
        bool ``(n_axes,)``: whether the axis sets a slot the physics or the fleet's sizes read
        (:func:`fleetsim.physics_inputs.fleet_slots`). A scenario of an aggregated fleet whose
        such axes equal the previous scenario's reuses its sized fleet and re-prices it.
    years : int
        Horizon in years.
    hardware, models, fabrics, cooling : ndarray
        Catalog tables in the column order of :mod:`fleetsim.layout`'s ``*_COLUMNS`` (SI).
    dtype_bytes : ndarray
        Bytes per element by dtype code (:data:`fleetsim.precision.BYTES_PER_ELEMENT`).
    compute_column : ndarray
        int64 hardware column of the peak FLOP/s that computes each weight dtype.
    pool_hardware, pool_share : ndarray or None
        The mix table ``(n_mixes, n_pools)``: hardware rows and traffic shares of each mix's
        pools; ``(0, 0)`` without a mix. None: no mix and no disaggregated scenario; Numba then
        compiles the kernel without their code (:data:`fleetsim._jit.AGGREGATED`, a first
        compile about a quarter shorter).
    keep_scenario, keep_year : ndarray
        int64 indexes into ``SCENARIO_OUTPUTS`` / ``YEAR_OUTPUTS`` of the outputs to store.
    scenario_rules, year_rules : ndarray
        float64 ``(len(SCENARIO_OUTPUTS), 3)`` and ``(len(YEAR_OUTPUTS), 3)``: each output's
        rule (:class:`fleetsim.invariants.Rules`).
    narrow : bool
        Store into the float32 arrays (``out_*32``); else into the float64 ones (``out_*64``).
        Both dtypes go through one compiled signature (the unused pair is empty), so a float32
        and a float64 sweep share one compile.
    at : int
        Output column of scenario ``lo`` (0 for a chunk buffer; ``lo`` when the outputs hold
        the whole sweep, so the kernel writes straight into the final arrays).
    out_scenario32, out_scenario64 : ndarray
        float32 / float64 ``(len(keep_scenario), >= at + hi - lo)``, columns
        ``at .. at + hi - lo - 1`` written (the other dtype's pair may be empty).
    out_year32, out_year64 : ndarray
        Same dtypes, ``(len(keep_year), >= at + hi - lo, years)``, written likewise.
    out_status : ndarray
        int8 ``(>= at + hi - lo,)``, written with :mod:`fleetsim.status` codes.
    out_bad : ndarray
        int64 ``(ceil((hi - lo) / BLOCK),)``, written: the first row of each block with a
        servable scenario that breaks a rule or overflows its store, or -1.
    """
    n_axes = axis_param.shape[0]
    n_keep_s, n_keep_y = keep_scenario.shape[0], keep_year.shape[0]
    p = np.empty_like(base)
    hw = np.empty(hardware.shape[1])
    o = np.empty(N_SCENARIO_OUTPUTS)
    oy = np.empty((N_YEAR_OUTPUTS, years))
    o_pool = np.empty(N_SCENARIO_OUTPUTS)
    oy_pool = np.empty((N_YEAR_OUTPUTS, years))
    weights = np.empty((3, years))
    q = np.empty((N_SCRATCH, years))  # the fleet's scratch (fleetsim.fleet.years)
    no_pool = np.zeros(years)  # accelerators of another pool on the fabric: none
    index = np.empty(n_axes, dtype=np.int64)
    # recent operating points, by the indices of the physics axes (mixed radix): a scenario whose
    # physics was computed before in this call, in another block or between neutral axes that
    # are not innermost (demand before the token counts), is served from here bit for bit
    physics_stride = np.zeros(n_axes, dtype=np.int64)
    stride = 1
    for k in range(n_axes - 1, -1, -1):
        if axis_physics[k]:
            physics_stride[k] = stride
            stride *= axis_length[k]
    memo_key = np.empty(MEMO, dtype=np.int64)
    for m in range(MEMO):
        memo_key[m] = -1
    memo_code = np.empty(MEMO, dtype=np.int64)
    memo_o = np.empty((MEMO, N_SCENARIO_OUTPUTS))
    memo_hw = np.empty((MEMO, hardware.shape[1]))
    # a block's stored outputs in cache, one row per scenario (its year outputs one contiguous
    # run: converted in one vectorised pass), copied out one variable at a time (storing each
    # scenario straight into the outputs touched one cache line per output in arrays far larger
    # than the cache)
    wide32 = BLOCK if narrow else 0
    block_s32 = np.empty((wide32, n_keep_s), dtype=np.float32)
    block_y32 = np.empty((wide32, n_keep_y * years), dtype=np.float32)
    block_s64 = np.empty((BLOCK - wide32, n_keep_s))
    block_y64 = np.empty((BLOCK - wide32, n_keep_y * years))
    every_year = n_keep_y == N_YEAR_OUTPUTS  # all year outputs stored, in order
    # every output's rule as bounds per value (fleetsim.invariants.check_terms)
    scenario_terms = check_terms(scenario_rules, 1)
    year_terms = check_terms(year_rules, years)
    rising = rising_rows(year_rules)
    flat = oy.reshape(-1)  # the year outputs raveled (a view)
    for j in range(n_keep_y):
        every_year = every_year and keep_year[j] == j
    n = hi - lo
    for block in range((n + BLOCK - 1) // BLOCK):
        # each block starts as if alone: base parameters, zeroed scratch, NaN-filled outputs
        start, stop = block * BLOCK, min(n, (block + 1) * BLOCK)
        for k in range(p.shape[0]):  # (an array slice assignment would compile a shape check)
            p[k] = base[k]
        q[:, :] = 0.0
        rest = lo + start
        for k in range(n_axes - 1, -1, -1):  # decode the block's first scenario
            index[k] = rest % axis_length[k]
            rest //= axis_length[k]
            _set_axis(
                p, k, index[k], axis_param, axis_offset, axis_values, multi_start, multi_slots
            )
        o[:] = np.nan  # an output the physics never writes stays NaN and fails the check
        oy[:, :] = np.nan
        bad = -1
        fresh = True  # whether the scenario's physics differs from the last one computed
        physics_code = st.FEASIBLE
        sized = False  # whether oy's sized outputs and q hold this scenario's (fleet_sizes)
        sized_code = st.FEASIBLE
        for row in range(start, stop):
            if row > start:  # next scenario: advance the multi-index like an odometer
                k = n_axes - 1
                while k >= 0:
                    i = index[k] + 1
                    if i == axis_length[k]:
                        i = 0
                    index[k] = i
                    _set_axis(
                        p, k, i, axis_param, axis_offset, axis_values, multi_start, multi_slots
                    )
                    fresh = fresh or axis_physics[k]
                    sized = sized and not axis_fleet[k]
                    if i != 0:
                        break
                    k -= 1
            if pool_hardware is None or pool_hardware.shape[0] == 0:
                if fresh:  # else o and hw still hold this scenario's operating point
                    key = 0
                    for k in range(n_axes):
                        key += index[k] * physics_stride[k]
                    m = key % MEMO
                    if memo_key[m] == key:  # computed before: the physics writes only o and hw
                        for j in range(N_SCENARIO_OUTPUTS):
                            o[j] = memo_o[m, j]
                        for j in range(hw.shape[0]):
                            hw[j] = memo_hw[m, j]
                        physics_code = memo_code[m]
                    else:
                        if pool_hardware is None:  # aggregated serving only: compiled alone
                            physics_code = aggregated_physics(
                                p, int(p[P_HARDWARE]), hardware, models, fabrics, cooling,
                                dtype_bytes, compute_column, hw, o,
                            )  # fmt: skip
                        else:
                            physics_code = pool_physics(p, int(p[P_HARDWARE]), hardware, models,
                                                        fabrics, cooling, dtype_bytes,
                                                        compute_column, years, hw, o)  # fmt: skip
                        memo_key[m], memo_code[m] = key, physics_code
                        for j in range(N_SCENARIO_OUTPUTS):
                            memo_o[m, j] = o[j]
                        for j in range(hw.shape[0]):
                            memo_hw[m, j] = hw[j]
                    fresh = False
                    sized = False
                code = physics_code
                if (  # a disaggregated fleet is sized with its price
                    code == st.FEASIBLE
                    and pool_hardware is not None
                    and p[P_SERVING] == DISAGGREGATED
                ):
                    code = pool_fleet(p, int(p[P_HARDWARE]), hardware, fabrics, cooling, hw, o,
                                      oy, q)  # fmt: skip
                elif code == st.FEASIBLE:
                    if not sized:  # else oy's sized outputs and q still hold this scenario's
                        sized_code = pool_sizes(p, fabrics, cooling, hw, o, oy, q, no_pool)
                        sized = True
                    code = sized_code
                    if code != st.RACK_POWER_EXCEEDED:
                        fleet_costs(p, hw, o, oy, q)
            else:
                row_mix = int(p[P_HARDWARE])
                code = mix_scenario(p, pool_hardware[row_mix], pool_share[row_mix], hardware,
                                    models, fabrics, cooling, dtype_bytes, compute_column, hw, o,
                                    oy, o_pool, oy_pool, weights, q)  # fmt: skip
            r = row - start
            out_status[at + row] = code
            if code == st.FEASIBLE or code == st.ZERO_DEMAND:  # store, then check
                if narrow:  # whether a finite value the store (float32) cannot hold
                    overflow = _store(o, oy, flat, keep_scenario, keep_year, every_year,
                                      block_s32[r], block_y32[r])  # fmt: skip
                else:
                    overflow = _store(o, oy, flat, keep_scenario, keep_year, every_year,
                                      block_s64[r], block_y64[r])  # fmt: skip
                # the check: the verdict of invariants.first_violation, branch-free
                passed = (
                    outputs_pass(code, o, scenario_terms)
                    & outputs_pass(code, flat, year_terms)
                    & never_falls(oy, rising)
                )
                if (not passed or overflow) and bad < 0:
                    bad = row
            elif narrow:
                _fill_nan(block_s32[r], block_y32[r])
            else:
                _fill_nan(block_s64[r], block_y64[r])
        # the block's outputs, one variable at a time: contiguous runs the CPU streams out
        if narrow:
            _copy_out(block_s32, block_y32, stop - start, at + start, out_scenario32, out_year32)
        else:
            _copy_out(block_s64, block_y64, stop - start, at + start, out_scenario64, out_year64)
        out_bad[block] = bad
