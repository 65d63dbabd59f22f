"""The layout search: which TP x PP replica, with which attention-DP and EP, serves a pool.

One search serves the three kinds of pool, each with its objective:

* an **aggregated** replica (:data:`AGGREGATED`, :func:`replica_operating_point`) keeps the
  layout with the most generated tokens/s per accelerator *at its planned utilisation* (full
  occupancy's rate times the utilisation the TTFT target and the ceiling allow): a layout that
  must idle to keep its queue short serves less per accelerator than its full-occupancy rate
  says (Llama 3.1 70B, 16,384-token prompts, 1 s TTFT on H200: TP4 x PP2 has the higher rate
  but may be 8 % busy, TP8 x PP4 serves several times more per accelerator). It does not
  depend on the demand, so aggregated operating points stay reusable across demand axes;
* a disaggregated fleet's **decode pool** (:data:`DECODE_POOL`) and **prefill pool**
  (:data:`PREFILL_POOL`) keep the layout whose fleet needs the fewest accelerators for the
  scenario's demand, summed over the horizon (:func:`fleetsim.fleet.years.accelerator_years`:
  whole replicas at the planned utilisation, spares, whole servers), ties going to the most
  tokens/s (decode) or prompts/s at the planned utilisation (prefill) per accelerator. At high
  demand that is the old per-accelerator choice (the whole-replica rounding vanishes); at low
  demand one small replica beats a large one mostly idle. The pools' accelerators are all of
  one type each, so fewer accelerators is a cheaper pool.

The demand-sized objective makes the pool layouts depend on the demand slots (requests, peak,
growth, spares), which :func:`fleetsim.physics_inputs.physics_slots` counts as physics inputs
in sweeps with disaggregated scenarios.
"""

from __future__ import annotations

import math

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.fleet.years import accelerator_years
from fleetsim.layout import (
    H_APS,
    H_DOMAIN,
    M_EXPERTS,
    M_LAYERS,
    P_ADP,
    P_EP,
    P_PP,
    P_TP,
    S_NREP,
    S_PF_NREP,
    S_PF_RATE,
    S_PF_UTIL,
    S_RATE,
    S_TOKS,
    S_UTIL,
)  # fmt: skip
from fleetsim.physics.operating_point import operating_point_at
from fleetsim.physics.prefill_pool import prefill_pool_at

#: largest tensor-parallel degree the layout search tries
MAX_SEARCHED_TP = 64.0
#: largest pipeline-parallel degree the layout search tries
MAX_SEARCHED_PP = 16.0
#: the pools a layout is searched for (module notes)
AGGREGATED, DECODE_POOL, PREFILL_POOL = 0, 1, 2


@jit
def _pool_at(pool, tp, pp, adp, ep, p, hw, md, md_draft, fb, dtype_bytes, compute_column, shared,
             decode_scaleout, o):  # fmt: skip
    """Evaluate one layout of ``pool`` into ``o``; return its status code."""
    if pool == PREFILL_POOL:
        return prefill_pool_at(tp, pp, adp, ep, p, hw, md, md_draft, fb, dtype_bytes,
                               compute_column, shared, decode_scaleout, o)  # fmt: skip
    return operating_point_at(tp, pp, adp, ep, p, hw, md, md_draft, fb, dtype_bytes,
                              compute_column, o)  # fmt: skip


@jit
def _objective(pool, p, hw, years, o) -> tuple[float, float]:
    """Return a feasible layout's ``(accelerators, rate)``: fewer first, then a higher rate.

    The accelerators of the pool's fleet over the horizon (0 for an aggregated replica: its
    search ranks by the rate alone, tokens/s per accelerator at the planned utilisation) and
    tokens/s (prompts/s for the prefill pool, at its planned utilisation) per accelerator
    (module notes).
    """
    if pool == AGGREGATED:
        return 0.0, o[S_TOKS] * o[S_UTIL]
    if pool == DECODE_POOL:
        needed = accelerator_years(p, o[S_RATE], o[S_UTIL], o[S_NREP], hw[H_APS], years)
        return needed, o[S_TOKS]
    rate, utilisation, n_rep = o[S_PF_RATE], o[S_PF_UTIL], o[S_PF_NREP]
    needed = accelerator_years(p, rate, utilisation, n_rep, hw[H_APS], years)
    return needed, utilisation * rate / n_rep


@jit
def search_layout(pool, p, hw, md, md_draft, fb, dtype_bytes, compute_column, shared,
                  decode_scaleout, years, o):  # fmt: skip
    """Find ``pool``'s layout and write its operating point into ``o``; return its status.

    With ``deployment.tp``, ``pp``, ``attention_dp`` and ``ep`` given, evaluate that layout.
    Each set to ``auto`` (stored as 0) is searched -- TP over 1, 2, 4, ... up to the scale-up
    domain, PP over 1, 2, 4, ... up to :data:`MAX_SEARCHED_PP` stages, and for MoE models
    attention data-parallelism with expert parallelism over the whole stage (``adp = ep = tp``,
    DeepSeek-style) beside plain tensor parallelism (``adp = ep = 1``) -- keeping the best by
    the pool's objective (module notes): what a serving engineer does on an 8-GPU node (e.g.
    4 replicas x TP2 rather than 1 x TP8), or across nodes for a model too large for one.

    Parameters
    ----------
    pool : int
        :data:`AGGREGATED`, :data:`DECODE_POOL` or :data:`PREFILL_POOL`.
    p, hw, md, md_draft, fb, dtype_bytes, compute_column, o : ndarray
        As in :func:`replica_operating_point` (the prefill pool's ``hw`` is the prefill
        hardware's row, and ``o`` holds the decode pool's operating point on entry).
    shared, decode_scaleout : bool, float
        For the prefill pool, as in :func:`fleetsim.physics.prefill_pool.prefill_pool_at`
        (ignored otherwise).
    years : int
        The horizon the pools' fleets are sized over (ignored for an aggregated replica).

    Returns
    -------
    int
        :mod:`fleetsim.status` code; for a search with no feasible layout, the code of the
        largest layout tried (the one with the most memory).
    """
    tp_lo = tp_hi = p[P_TP]
    if tp_lo <= 0.0:
        tp_lo, tp_hi = 1.0, min(hw[H_DOMAIN], MAX_SEARCHED_TP)
    pp_lo = pp_hi = p[P_PP]
    if pp_lo <= 0.0:
        pp_lo, pp_hi = 1.0, min(MAX_SEARCHED_PP, md[M_LAYERS])
    moe = md[M_EXPERTS] > 0.0
    search_moe = moe and (p[P_ADP] <= 0.0 or p[P_EP] <= 0.0)
    if tp_lo == tp_hi and pp_lo == pp_hi and not search_moe:
        adp = p[P_ADP] if p[P_ADP] > 0.0 else 1.0
        ep = p[P_EP] if p[P_EP] > 0.0 else 1.0
        return _pool_at(pool, tp_lo, pp_lo, adp, ep, p, hw, md, md_draft, fb, dtype_bytes,
                        compute_column, shared, decode_scaleout, o)  # fmt: skip
    best_tp, best_pp, best_adp, best_ep = 0.0, 0.0, 0.0, 0.0
    best_needed, best_rate = math.inf, -1.0
    code = st.FEASIBLE
    pp = pp_lo
    while pp <= pp_hi:
        tp = tp_lo
        while tp <= tp_hi:
            for plain in range(0 if search_moe else 1, 2):
                # adp and ep: as given, or -- searched -- tp (DP + EP) then 1 (tensor-parallel),
                # so a failed search reports the plain layout's reason
                adp = p[P_ADP] if p[P_ADP] > 0.0 else (1.0 if plain else tp)
                ep = p[P_EP] if p[P_EP] > 0.0 else (1.0 if plain else tp)
                if not plain and tp <= 1.0:
                    continue
                code = _pool_at(pool, tp, pp, adp, ep, p, hw, md, md_draft, fb, dtype_bytes,
                                compute_column, shared, decode_scaleout, o)  # fmt: skip
                if code != st.FEASIBLE:
                    continue
                needed, rate = _objective(pool, p, hw, years, o)
                if needed < best_needed or (needed == best_needed and rate > best_rate):
                    best_tp, best_pp, best_adp, best_ep = tp, pp, adp, ep
                    best_needed, best_rate = needed, rate
            tp *= 2.0
        pp *= 2.0
    if best_tp == 0.0:
        return code
    return _pool_at(pool, best_tp, best_pp, best_adp, best_ep, p, hw, md, md_draft, fb,
                    dtype_bytes, compute_column, shared, decode_scaleout, o)  # fmt: skip


@jit
def replica_operating_point(p, hw, md, md_draft, fb, dtype_bytes, compute_column, o):
    """Find an aggregated replica's operating point and write it into ``o``; return its status.

    The layout with the most generated tokens/s per accelerator at its planned utilisation that
    meets the latency targets (:func:`search_layout` with :data:`AGGREGATED`).

    Parameters
    ----------
    p : ndarray
        Scenario parameter vector (SI; slots in :mod:`fleetsim.layout`).
    hw, md, fb : ndarray
        This scenario's hardware, model and fabric catalog rows (``*_COLUMNS`` order).
    md_draft : ndarray
        The speculative-decoding draft model's row (ignored without ``deployment.draft_model``).
    dtype_bytes : ndarray
        Bytes per element by dtype code. [B]
    compute_column : ndarray
        Hardware column of the peak FLOP/s computing each weight dtype.
    o : ndarray
        Scenario outputs, written (``tensor_parallel``, ``pipeline_parallel``,
        ``attention_data_parallel`` and ``expert_parallel`` hold the chosen layout).

    Returns
    -------
    int
        :mod:`fleetsim.status` code (as :func:`search_layout`).
    """
    return search_layout(AGGREGATED, p, hw, md, md_draft, fb, dtype_bytes, compute_column, False,
                         0.0, 0, o)  # fmt: skip
