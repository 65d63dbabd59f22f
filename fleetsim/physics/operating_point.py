"""A replica's operating point: the largest batch meeting TPOT, its throughput, TTFT and utilisation.

DESIGN.md section 3: KV capacity bounds the batch; decode step time grows with the batch, so
the largest batch meeting the TPOT target is found by bisection; the planned utilisation is the
largest one whose M/D/1 prefill queue keeps TTFT within its target.
"""

from __future__ import annotations

import math

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.layout import (
    ACTIVATION_BYTES,
    F_EFF,
    H_BF16,
    H_BW,
    H_DOMAIN,
    H_ETA_C,
    H_ETA_M,
    H_HBM,
    H_SCALEOUT,
    H_SCALEUP,
    M_ACTIVE,
    M_ATTENTION,
    M_CONTEXT,
    M_DENSE,
    M_DMODEL,
    M_EXPERT,
    M_EXPERTS,
    M_KV,
    M_LAYERS,
    M_MOE_LAYERS,
    M_TOP_K,
    M_TOTAL,
    P_ACCEPTANCE,
    P_DRAFT,
    P_DRAFT_TOKENS,
    P_EP,
    P_IN,
    P_KVDTYPE,
    P_LATENCY,
    P_MAX_BATCH,
    P_OUT,
    P_OVERHEAD,
    P_PP,
    P_PREFIX,
    P_RESERVE,
    P_TP,
    P_TPOT,
    P_TTFT,
    P_UCAP,
    P_WDTYPE,
    S_BATCH,
    S_BMAX,
    S_KVTOK,
    S_MAXTOKS,
    S_NREP,
    S_PREFILL,
    S_RATE,
    S_TOKS,
    S_TP,
    S_TPOT,
    S_TTFT,
    S_UTIL,
    S_WBYTES,
)  # fmt: skip
from fleetsim.physics.memory import max_batch_size
from fleetsim.physics.queueing import time_to_first_token, utilisation_for_ttft
from fleetsim.physics.serving import decode_step_time, prefill_time
from fleetsim.physics.speculative import speculative_time_per_token


@jit
def _time_per_token(batch, context, md, md_draft, b_w, kv_token, kv_draft, tp, pp, ep, peak, bandwidth,
                    eta_c, eta_m, link, latency, overhead, k, a):  # fmt: skip
    """Return the mean time between a sequence's output tokens at ``batch`` concurrent sequences.

    Plain decoding (``k = 0``) is one decode step. Speculative decoding verifies ``k + 1`` tokens
    per sequence in one target step (the KV cache is read once for them) after ``k`` draft
    steps, and yields :func:`fleetsim.physics.speculative.expected_tokens_per_step` tokens. [s]
    """
    step = decode_step_time(batch * (k + 1.0), context, md[M_ACTIVE], md[M_ATTENTION], md[M_DENSE] * b_w, md[M_EXPERT] * b_w,
                            md[M_MOE_LAYERS], md[M_EXPERTS], md[M_TOP_K], kv_token / (k + 1.0), md[M_LAYERS], md[M_DMODEL],
                            ACTIVATION_BYTES, tp, pp, ep, peak, bandwidth, eta_c, eta_m, link, latency,
                            overhead)  # fmt: skip
    if k <= 0.0:
        return step
    draft = decode_step_time(batch, context, md_draft[M_ACTIVE], md_draft[M_ATTENTION], md_draft[M_DENSE] * b_w,
                             md_draft[M_EXPERT] * b_w, md_draft[M_MOE_LAYERS], md_draft[M_EXPERTS], md_draft[M_TOP_K], kv_draft,
                             md_draft[M_LAYERS], md_draft[M_DMODEL], ACTIVATION_BYTES, tp, pp, ep, peak, bandwidth,
                             eta_c, eta_m, link, latency, overhead)  # fmt: skip
    return speculative_time_per_token(step, draft, k, a)


@jit
def _operating_point_at(tp, p, hw, md, md_draft, fb, dtype_bytes, compute_column, o):
    """Find the operating point of a replica with tensor-parallel degree ``tp``; write it into ``o``.

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
        Scenario outputs, written.

    Returns
    -------
    int
        :mod:`fleetsim.status` code: FEASIBLE, or the first reason the replica cannot serve.
    """
    pp = p[P_PP]
    ep = min(p[P_EP], tp)  # experts are spread over (at most) the tensor-parallel group
    o[S_TP] = tp
    n_rep = tp * pp
    w_code = int(p[P_WDTYPE])
    b_w, b_kv = dtype_bytes[w_code], dtype_bytes[int(p[P_KVDTYPE])]
    peak = hw[compute_column[w_code]]
    if peak <= 0.0:  # no tensor cores for this format: weight-only, computed in BF16
        peak = hw[H_BF16]
    total, active, layers, d_model = md[M_TOTAL], md[M_ACTIVE], md[M_LAYERS], md[M_DMODEL]
    kv_elements, attention, dense_params, expert_params = (
        md[M_KV],
        md[M_ATTENTION],
        md[M_DENSE],
        md[M_EXPERT],
    )
    moe_layers, experts, top_k, max_context = (
        md[M_MOE_LAYERS],
        md[M_EXPERTS],
        md[M_TOP_K],
        md[M_CONTEXT],
    )
    prompt, output = p[P_IN], p[P_OUT]

    # speculative decoding: a draft model proposes k tokens, accepted with probability a each
    k = p[P_DRAFT_TOKENS] if p[P_DRAFT] >= 0.0 else 0.0
    a = p[P_ACCEPTANCE]
    kv_token = kv_elements * b_kv
    kv_draft = md_draft[M_KV] * b_kv if k > 0.0 else 0.0
    weights = total * b_w + (md_draft[M_TOTAL] * b_w if k > 0.0 else 0.0)
    o[S_NREP] = n_rep
    o[S_WBYTES] = weights
    o[S_KVTOK] = kv_token + kv_draft
    b_max = max_batch_size(
        n_rep * hw[H_HBM], p[P_RESERVE], weights, (prompt + output) * (kv_token + kv_draft)
    )
    if b_max < 0.0:
        return st.WEIGHTS_DO_NOT_FIT
    if prompt + output > max_context:
        return st.CONTEXT_TOO_LONG
    if b_max < 1.0:
        return st.KV_DOES_NOT_FIT
    b_max = min(b_max, p[P_MAX_BATCH])  # an engine's max-batch setting caps the KV-limited batch
    o[S_BMAX] = b_max

    # tensor parallelism beyond the scale-up domain goes over the scale-out fabric
    link = hw[H_SCALEUP] if tp <= hw[H_DOMAIN] else hw[H_SCALEOUT] * fb[F_EFF]
    context = prompt + 0.5 * output
    eta_c, eta_m, bandwidth = hw[H_ETA_C], hw[H_ETA_M], hw[H_BW]
    dense_bytes, expert_bytes = dense_params * b_w, expert_params * b_w

    # largest batch whose time per token meets the TPOT target (it grows with the batch)
    lo_b, hi_b = 1.0, b_max
    step_hi = _time_per_token(hi_b, context, md, md_draft, b_w, kv_token, kv_draft, tp, pp, ep, peak,
                              bandwidth, eta_c, eta_m, link, p[P_LATENCY], p[P_OVERHEAD], k, a)  # fmt: skip
    step_max_batch = step_hi
    if step_hi > p[P_TPOT]:
        step_lo = _time_per_token(1.0, context, md, md_draft, b_w, kv_token, kv_draft, tp, pp, ep, peak,
                                  bandwidth, eta_c, eta_m, link, p[P_LATENCY], p[P_OVERHEAD], k, a)  # fmt: skip
        if step_lo > p[P_TPOT]:
            return st.TPOT_UNREACHABLE
        while hi_b - lo_b > 1.0:  # invariant: step(lo_b) meets the target, step(hi_b) does not
            mid = math.floor(0.5 * (lo_b + hi_b))
            step_mid = _time_per_token(mid, context, md, md_draft, b_w, kv_token, kv_draft, tp, pp, ep,
                                       peak, bandwidth, eta_c, eta_m, link, p[P_LATENCY],
                                       p[P_OVERHEAD], k, a)  # fmt: skip
            if step_mid <= p[P_TPOT]:
                lo_b, step_lo = mid, step_mid
            else:
                hi_b = mid
        batch, step = lo_b, step_lo
    else:
        batch, step = b_max, step_hi

    cached = prompt * p[P_PREFIX]
    t_prefill = prefill_time(prompt, cached, active, attention, dense_bytes, expert_bytes, moe_layers,
                             experts, top_k, layers, d_model, ACTIVATION_BYTES, tp, pp, ep, peak,
                             bandwidth, eta_c, eta_m, link, p[P_LATENCY])  # fmt: skip
    if k > 0.0:  # the draft model prefills the prompt too
        t_prefill += prefill_time(prompt, cached, md_draft[M_ACTIVE], md_draft[M_ATTENTION], md_draft[M_DENSE] * b_w,
                                  md_draft[M_EXPERT] * b_w, md_draft[M_MOE_LAYERS], md_draft[M_EXPERTS], md_draft[M_TOP_K],
                                  md_draft[M_LAYERS], md_draft[M_DMODEL], ACTIVATION_BYTES, tp, pp, ep, peak,
                                  bandwidth, eta_c, eta_m, link, p[P_LATENCY])  # fmt: skip
    service = t_prefill + output * step / batch
    replica_rate = 1.0 / service
    utilisation = utilisation_for_ttft(p[P_TTFT], t_prefill, service, p[P_UCAP])
    if utilisation < 0.0:
        return st.TTFT_UNREACHABLE
    o[S_BATCH] = batch
    o[S_PREFILL] = t_prefill
    o[S_TPOT] = step
    o[S_TTFT] = time_to_first_token(utilisation, t_prefill, service)
    o[S_RATE] = replica_rate
    o[S_UTIL] = utilisation
    o[S_TOKS] = output * replica_rate / n_rep
    o[S_MAXTOKS] = output / (t_prefill + output * step_max_batch / b_max) / n_rep

    return st.FEASIBLE


#: largest tensor-parallel degree the layout search tries
MAX_SEARCHED_TP = 64.0


@jit
def replica_operating_point(p, hw, md, md_draft, fb, dtype_bytes, compute_column, o):
    """Find one replica's operating point and write it into ``o`` (see ``SCENARIO_OUTPUTS``).

    With ``deployment.tp`` given, evaluate that layout. With ``deployment.tp=auto`` (stored as 0)
    search the tensor-parallel degrees 1, 2, 4, ... up to the scale-up domain and keep the one
    with the most generated tokens/s per accelerator that meets the latency targets -- what a
    serving engineer does on an 8-GPU node (e.g. 4 replicas x TP2 rather than 1 x TP8).

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
        Scenario outputs, written (``tensor_parallel`` holds the chosen degree).

    Returns
    -------
    int
        :mod:`fleetsim.status` code; for a search with no feasible degree, the code of the
        largest degree tried (the one with the most memory).
    """
    if p[P_TP] > 0.0:
        return _operating_point_at(p[P_TP], p, hw, md, md_draft, fb, dtype_bytes, compute_column, o)
    best_tp, best_rate = 0.0, -1.0
    tp, code = 1.0, st.FEASIBLE
    while tp <= min(hw[H_DOMAIN], MAX_SEARCHED_TP):
        code = _operating_point_at(tp, p, hw, md, md_draft, fb, dtype_bytes, compute_column, o)
        if code == st.FEASIBLE and o[S_TOKS] > best_rate:
            best_tp, best_rate = tp, o[S_TOKS]
        tp *= 2.0
    if best_tp == 0.0:
        return code
    return _operating_point_at(best_tp, p, hw, md, md_draft, fb, dtype_bytes, compute_column, o)
