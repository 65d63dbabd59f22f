"""A fleet made of several accelerator pools, each serving a share of the traffic.

Each pool is sized on its own physics (its replica operating point, servers, racks, fabric,
power and money) with its share of the requests; the fleet is the sum of the pools. Additive
outputs (accelerators, power, costs, TCO) add up; ratios are re-weighted: utilisation by
accelerators, per-token and per-request costs and energy by generated tokens, the build-vs-rent
break-even by rent. The replica outputs of a mix are share-weighted means over its pools, except
TTFT and TPOT, which are the worst pool's (every request must meet the targets). With
``deployment.serving=disaggregated`` each pool of the mix is a disaggregated fleet of its own
(:mod:`fleetsim.fleet.disaggregated`: prefill on ``deployment.prefill_hardware`` or the pool's
type, laid out for the pool's share of the demand); their prefill and decode accelerators,
servers, power and TCO add up, each pool's utilisation is weighted by its accelerators and the
prefill:decode ratio is that of the sums.
"""

from __future__ import annotations

import numpy as np

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.config import SERVING_MODES
from fleetsim.fleet.disaggregated import disaggregated_fleet
from fleetsim.fleet.facility import derate_for_rack_density
from fleetsim.fleet.years import fleet_costs, fleet_sizes
from fleetsim.layout import (
    P_COOLING,
    P_DRAFT,
    P_FABRIC,
    P_MODEL,
    P_RATE,
    P_SERVING,
    S_CLOCK,
    S_PREFILL_POOL,
    S_TPOT,
    S_TPOT_P99,
    S_TTFT,
    S_TTFT_P99,
    Y_ACC,
    Y_BREAK_EVEN,
    Y_CPM,
    Y_CPM_IN,
    Y_CPR,
    Y_DC_ACC,
    Y_DC_UTIL,
    Y_EPT,
    Y_PD_RATIO,
    Y_PEAKUTIL,
    Y_PF_ACC,
    Y_PF_UTIL,
    Y_POOLS,
    Y_RENT,
    Y_TOKENS,
    Y_UTIL,
)
from fleetsim.physics.disaggregated import disaggregated_physics
from fleetsim.physics.layout_search import replica_operating_point

_BY_ACCELERATORS = (Y_UTIL, Y_PEAKUTIL)
_BY_TOKENS = (Y_EPT, Y_CPM, Y_CPM_IN, Y_CPR)
_BY_RENT = (Y_BREAK_EVEN,)
#: kernel code of ``deployment.serving=disaggregated``
DISAGGREGATED = float(SERVING_MODES.index("disaggregated"))


@jit
def _per(weighted: float, total: float) -> float:
    """Return an accelerator-weighted sum over its accelerators: 0 for none, NaN stays NaN."""
    if total > 0.0:
        return weighted / total
    return 0.0 if total == 0.0 else np.nan


@jit
def pool_physics(p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes, compute_column,
                 years, hw, o):  # fmt: skip
    """Evaluate one replica's physics on one accelerator type; return its status code.

    What it reads of ``p`` is :func:`fleetsim.physics_inputs.physics_slots` (found in this
    function's source and the physics modules): scenarios equal in those slots get the same
    ``hw``, ``o`` and code, which the kernel reuses.

    Parameters
    ----------
    p : ndarray
        Scenario parameter vector (SI).
    hardware_index : int
        Row of ``hardware`` to use.
    hardware, models, fabrics, cooling : ndarray
        Catalog tables (``fleetsim.layout`` column order).
    dtype_bytes, compute_column : ndarray
        Bytes per dtype code; hardware column computing each weight dtype.
    years : int
        Horizon in years (a disaggregated fleet's pools are laid out for its demand).
    hw : ndarray
        Scratch hardware row, written (derated for rack density).
    o : ndarray
        Scenario outputs, written (the replica's operating point and clock scale).
    """
    if p[P_SERVING] == DISAGGREGATED:  # a prefill pool and a decode pool
        return disaggregated_physics(p, hardware_index, hardware, models, fabrics, cooling,
                                     dtype_bytes, compute_column, years, hw, o)  # fmt: skip
    return aggregated_physics(p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes,
                              compute_column, hw, o)  # fmt: skip


@jit
def aggregated_physics(p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes,
                       compute_column, hw, o):  # fmt: skip
    """Evaluate the physics of one replica that serves prompts and decoding; return its code.

    :func:`pool_physics` for aggregated serving (the kernel calls it directly when the sweep
    has no mix and no disaggregated scenario).

    Parameters
    ----------
    p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes, compute_column, hw, o
        As in :func:`pool_physics`.
    """
    for k in S_PREFILL_POOL:  # one pool serves prompts and decoding: no per-pool outputs
        o[k] = np.nan
    fb, cl = fabrics[int(p[P_FABRIC])], cooling[int(p[P_COOLING])]
    clock = derate_for_rack_density(p, hardware[hardware_index], cl, hw)
    if clock <= 0.0:
        return st.RACK_POWER_EXCEEDED
    model = models[int(p[P_MODEL])]
    draft = models[int(p[P_DRAFT])] if p[P_DRAFT] >= 0.0 else model
    code = replica_operating_point(p, hw, model, draft, fb, dtype_bytes, compute_column, o)
    o[S_CLOCK] = clock
    return code


@jit
def pool_scenario(p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes, compute_column,
                  hw, o, oy, q):  # fmt: skip
    """Evaluate one scenario on one accelerator type; return its status code.

    Parameters
    ----------
    p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes, compute_column, hw : ndarray
        As in :func:`pool_physics`.
    o, oy : ndarray
        Scenario and per-year outputs, written.
    q : ndarray
        Scratch ``(fleetsim.fleet.years.N_SCRATCH, years)``.
    """
    code = pool_physics(p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes,
                        compute_column, oy.shape[1], hw, o)  # fmt: skip
    if code == st.FEASIBLE:
        code = pool_fleet(p, hardware_index, hardware, fabrics, cooling, hw, o, oy, q)
    return code


@jit
def pool_fleet(p, hardware_index, hardware, fabrics, cooling, hw, o, oy, q):
    """Size and price the fleet of one pool over the years, after :func:`pool_physics`.

    Parameters
    ----------
    p, hardware_index, hardware, fabrics, cooling : ndarray
        As in :func:`pool_physics` (``hardware`` for a disaggregated fleet's prefill pool).
    hw, o : ndarray
        The derated hardware row and the operating point :func:`pool_physics` wrote.
    oy, q : ndarray
        As in :func:`pool_scenario`.
    """
    if p[P_SERVING] == DISAGGREGATED:
        return disaggregated_fleet(p, hardware_index, hardware, fabrics, cooling, hw, o, oy, q)
    # no other pool on the fabric (a scratch array, not a global constant: Numba would type a
    # global as a read-only array and compile fleet_sizes a second time)
    code = pool_sizes(p, fabrics, cooling, hw, o, oy, q, np.zeros(oy.shape[1]))
    if code != st.RACK_POWER_EXCEEDED:
        fleet_costs(p, hw, o, oy, q)
    return code


@jit
def pool_sizes(p, fabrics, cooling, hw, o, oy, q, shared):
    """Size an aggregated pool's fleet (:func:`fleetsim.fleet.years.fleet_sizes`).

    What it reads of ``p`` (with ``fleet_sizes``) is :func:`fleetsim.physics_inputs.fleet_slots`;
    the kernel keeps its results for the next scenario when none of those slots changed.

    Parameters
    ----------
    p, fabrics, cooling, hw, o : ndarray
        As in :func:`pool_fleet`.
    oy, q : ndarray
        As in :func:`pool_scenario`; the per-pool year outputs are set to NaN.
    shared : ndarray
        Accelerators of another pool on the scale-out fabric per year (zeros: none).
    """
    for v in Y_POOLS:
        oy[v, :] = np.nan
    fb, cl = fabrics[int(p[P_FABRIC])], cooling[int(p[P_COOLING])]
    return fleet_sizes(p, hw, fb, cl, o, oy, q, shared)


@jit
def mix_scenario(p, pool_hardware, pool_share, hardware, models, fabrics, cooling, dtype_bytes,
                 compute_column, hw, o, oy, o_pool, oy_pool, weights, q):  # fmt: skip
    """Evaluate one scenario served by a mix of accelerator pools; return its status code.

    Parameters
    ----------
    p : ndarray
        Scenario parameter vector; ``p[P_RATE]`` is the whole fleet's demand. Restored on return.
    pool_hardware : ndarray
        int64 hardware rows of the mix's pools (-1 = unused slot).
    pool_share : ndarray
        Share of the requests each pool serves (sums to 1 over the used slots). [1]
    hardware, models, fabrics, cooling, dtype_bytes, compute_column : ndarray
        As in :func:`pool_scenario`.
    hw, o_pool, oy_pool : ndarray
        Scratch: hardware row, one pool's scenario and per-year outputs.
    o, oy : ndarray
        The mix's scenario and per-year outputs, written.
    weights : ndarray
        Scratch ``(3, years)``: accelerators, tokens and rent summed over pools.
    q : ndarray
        As in :func:`pool_scenario`.

    Returns
    -------
    int
        FEASIBLE, ZERO_DEMAND, or the first failing pool's code.
    """
    rate = p[P_RATE]
    o[:] = 0.0
    oy[:, :] = 0.0
    weights[:, :] = 0.0
    code = st.FEASIBLE
    for j in range(pool_hardware.shape[0]):
        share = pool_share[j]
        if pool_hardware[j] < 0 or share <= 0.0:
            continue
        p[P_RATE] = rate * share
        pool_code = pool_scenario(p, pool_hardware[j], hardware, models, fabrics, cooling,
                                  dtype_bytes, compute_column, hw, o_pool, oy_pool, q)  # fmt: skip
        if pool_code != st.FEASIBLE and pool_code != st.ZERO_DEMAND:
            p[P_RATE] = rate
            return pool_code
        if pool_code == st.ZERO_DEMAND:
            code = st.ZERO_DEMAND
        for k in range(o.shape[0]):
            if k in (S_TTFT, S_TPOT, S_TTFT_P99, S_TPOT_P99):
                o[k] = max(o[k], o_pool[k])
            else:
                o[k] += share * o_pool[k]
        for y in range(oy.shape[1]):
            accelerators, tokens, rent = oy_pool[Y_ACC, y], oy_pool[Y_TOKENS, y], oy_pool[Y_RENT, y]
            weights[0, y] += accelerators
            weights[1, y] += tokens
            weights[2, y] += rent
            for v in range(oy.shape[0]):
                if v in _BY_ACCELERATORS:
                    oy[v, y] += oy_pool[v, y] * accelerators
                elif v == Y_PF_UTIL:  # a disaggregated pool's by its own accelerators
                    oy[v, y] += oy_pool[v, y] * oy_pool[Y_PF_ACC, y]
                elif v == Y_DC_UTIL:
                    oy[v, y] += oy_pool[v, y] * oy_pool[Y_DC_ACC, y]
                elif v == Y_PD_RATIO:  # from the sums, below
                    continue
                elif v in _BY_TOKENS:
                    if tokens > 0.0:
                        oy[v, y] += oy_pool[v, y] * tokens
                elif v in _BY_RENT:
                    oy[v, y] += oy_pool[v, y] * rent
                else:
                    oy[v, y] += oy_pool[v, y]
    p[P_RATE] = rate
    for y in range(oy.shape[1]):
        prefill, decode = oy[Y_PF_ACC, y], oy[Y_DC_ACC, y]  # NaN for aggregated serving
        oy[Y_PD_RATIO, y] = prefill / decode if decode > 0.0 else np.nan
        oy[Y_PF_UTIL, y] = _per(oy[Y_PF_UTIL, y], prefill)
        oy[Y_DC_UTIL, y] = _per(oy[Y_DC_UTIL, y], decode)
        for v in range(oy.shape[0]):
            if v in _BY_ACCELERATORS:
                oy[v, y] = oy[v, y] / weights[0, y] if weights[0, y] > 0.0 else 0.0
            elif v in _BY_TOKENS:
                oy[v, y] = oy[v, y] / weights[1, y] if weights[1, y] > 0.0 else np.nan
            elif v in _BY_RENT:
                oy[v, y] = oy[v, y] / weights[2, y] if weights[2, y] > 0.0 else np.nan
    return code
