"""A disaggregated fleet: a prefill pool and a decode pool, each sized, powered and priced.

The decode pool's replicas carry the scenario's replica outputs (batch, TPOT, layout, tokens/s
per accelerator); the prefill pool's are in the ``prefill_*`` outputs, and TTFT is the prefill
pool's (:mod:`fleetsim.physics.disaggregated`). Each pool is a fleet of its own
(:func:`fleetsim.fleet.years.fleet_years`: servers, racks, fabric, power, money), with the
prefill pool's costs charged to input tokens and the decode pool's to output tokens. The fleet's
outputs are the two pools added up -- accelerators, servers, racks, power, capex, opex, TCO, and
per-token costs and energy (both pools serve the same requests and tokens) -- except the
generated tokens (the same for both), the utilisations (weighted by accelerators) and the
build-vs-rent break-even (weighted by rent). Both pools sit on one scale-out fabric (the KV cache
crosses it), sized for all their accelerators; each pool pays its endpoints' share of it.
"""

from __future__ import annotations

import numpy as np

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.fleet.years import fleet_servers, fleet_years
from fleetsim.layout import (
    H_APS,
    P_COOLING,
    P_FABRIC,
    S_NREP,
    S_PF_NREP,
    S_PF_RATE,
    S_PF_UTIL,
    S_PREFILL_SHARE,
    S_RATE,
    S_UTIL,
    Y_ACC,
    Y_BREAK_EVEN,
    Y_DC_ACC,
    Y_DC_IT,
    Y_DC_SERVERS,
    Y_DC_TCO,
    Y_DC_UTIL,
    Y_IT,
    Y_PD_RATIO,
    Y_PEAKUTIL,
    Y_PF_ACC,
    Y_PF_IT,
    Y_PF_SERVERS,
    Y_PF_TCO,
    Y_PF_UTIL,
    Y_POOLS,
    Y_RENT,
    Y_SERVERS,
    Y_TCO,
    Y_TOKENS,
    Y_UTIL,
)  # fmt: skip
from fleetsim.physics.disaggregated import prefill_hardware_row


@jit
def combine_pools(oy, oy_prefill):
    """Write the fleet of both pools into ``oy`` (holding the decode pool's years on entry).

    Parameters
    ----------
    oy : ndarray
        ``(len(YEAR_OUTPUTS), years)``: the decode pool's outputs; written with the fleet's.
    oy_prefill : ndarray
        The prefill pool's outputs, same shape.
    """
    for y in range(oy.shape[1]):
        decode, prefill = oy[Y_ACC, y], oy_prefill[Y_ACC, y]
        oy[Y_PF_ACC, y] = prefill
        oy[Y_DC_ACC, y] = decode
        oy[Y_PD_RATIO, y] = prefill / decode if decode > 0.0 else np.nan
        oy[Y_PF_SERVERS, y] = oy_prefill[Y_SERVERS, y]
        oy[Y_DC_SERVERS, y] = oy[Y_SERVERS, y]
        oy[Y_PF_UTIL, y] = oy_prefill[Y_UTIL, y]
        oy[Y_DC_UTIL, y] = oy[Y_UTIL, y]
        oy[Y_PF_IT, y] = oy_prefill[Y_IT, y]
        oy[Y_DC_IT, y] = oy[Y_IT, y]
        oy[Y_PF_TCO, y] = oy_prefill[Y_TCO, y]
        oy[Y_DC_TCO, y] = oy[Y_TCO, y]
        total = decode + prefill
        rent_d, rent_p = oy[Y_RENT, y], oy_prefill[Y_RENT, y]
        for v in range(oy.shape[0]):
            if v == Y_TOKENS or v in Y_POOLS:
                continue
            if v in (Y_UTIL, Y_PEAKUTIL):
                weighted = oy[v, y] * decode + oy_prefill[v, y] * prefill
                oy[v, y] = weighted / total if total > 0.0 else 0.0
            elif v == Y_BREAK_EVEN:
                weighted = oy[v, y] * rent_d + oy_prefill[v, y] * rent_p
                oy[v, y] = weighted / (rent_d + rent_p) if rent_d + rent_p > 0.0 else np.nan
            else:
                oy[v, y] += oy_prefill[v, y]


@jit
def disaggregated_fleet(p, hardware_index, hardware, fabrics, cooling, hw, o, oy, q):
    """Size and price both pools over the years into ``oy``; return the status code.

    Parameters
    ----------
    p : ndarray
        Scenario parameter vector (SI).
    hardware_index : int
        The decode pool's row of ``hardware`` (the prefill pool's too, without
        ``deployment.prefill_hardware``).
    hardware, fabrics, cooling : ndarray
        Catalog tables (the prefill pool's hardware row is taken from ``hardware``).
    hw, o : ndarray
        The decode pool's derated hardware row and both pools' operating points
        (:func:`fleetsim.physics.disaggregated.disaggregated_physics`).
    oy, q : ndarray
        As in :func:`fleetsim.fleet.years.fleet_years`.

    Returns
    -------
    int
        FEASIBLE, ZERO_DEMAND or RACK_POWER_EXCEEDED.
    """
    fb, cl = fabrics[int(p[P_FABRIC])], cooling[int(p[P_COOLING])]
    hw_prefill = np.empty(hardware.shape[1])
    prefill_hardware_row(p, hardware_index, hardware, cl, hw_prefill)
    # the prefill pool as a fleet of its own: its replicas, all of their time on prompts
    o_prefill = np.empty(o.shape[0])
    o_prefill[S_RATE] = o[S_PF_RATE]
    o_prefill[S_UTIL] = o[S_PF_UTIL]
    o_prefill[S_NREP] = o[S_PF_NREP]
    o_prefill[S_PREFILL_SHARE] = 1.0
    # both pools on one scale-out fabric (the KV cache crosses it): each pool's size per year
    years = oy.shape[1]
    decode_size, prefill_size = np.empty(years), np.empty(years)
    aps, aps_prefill = hw[H_APS], hw_prefill[H_APS]
    for y in range(years):
        decode_size[y] = fleet_servers(p, o[S_RATE], o[S_UTIL], o[S_NREP], aps, y) * aps
        prefill_size[y] = fleet_servers(p, o[S_PF_RATE], o[S_PF_UTIL], o[S_PF_NREP], aps_prefill,
                                        y) * aps_prefill  # fmt: skip
    code = fleet_years(p, hw, fb, cl, o, oy, q, prefill_size)
    if code != st.FEASIBLE and code != st.ZERO_DEMAND:
        return code
    oy_prefill = np.empty_like(oy)
    prefill_code = fleet_years(p, hw_prefill, fb, cl, o_prefill, oy_prefill, q, decode_size)
    if prefill_code != st.FEASIBLE and prefill_code != st.ZERO_DEMAND:
        return prefill_code
    combine_pools(oy, oy_prefill)
    return code
