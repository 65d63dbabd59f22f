"""A replica's operating point: the largest batch meeting TPOT, its throughput, TTFT and utilisation.

DESIGN.md section 3: KV capacity (and, with chunked prefill, the step token budget) bounds the
batch; the time per output token grows with the batch, so the largest batch meeting the TPOT
target is found by a bracketing search; the planned utilisation is the largest one whose M/G/1 prefill
queue keeps TTFT within its target.

Steady state at full occupancy: ``B`` sequences decode, and as each needs ``O`` tokens, ``B/O``
new prompts must be prefilled per output-token period. With ``deployment.prefill=chunked`` their
tokens ride in the decode steps (sharing the weight reads); with ``whole`` each prompt runs in
steps of its own while the batch waits. Either way the time per output token (TPOT) includes
the prompts' share, as a measured TPOT does.

Length distributions (``workload.*_tokens_cv``): a sequence found in the batch is length-biased
(long outputs stay longer), so its mean context is :math:`S + O (1 + c_O^2)/2` and the KV it
holds (reserved at admission for its whole length) :math:`S + O (1 + c_O^2)`; prompt attention
costs :math:`E[S^2] = S^2 (1 + c_S^2)`; the prefill queue is M/G/1 with the prompt's spread.
"""

from __future__ import annotations

import math

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.config import PREFILL_MODES
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
    P_BUDGET,
    P_DRAFT,
    P_DRAFT_TOKENS,
    P_EP,
    P_IN,
    P_IN_CV,
    P_KVDTYPE,
    P_LATENCY,
    P_MAX_BATCH,
    P_OUT,
    P_OUT_CV,
    P_OVERHEAD,
    P_PP,
    P_PREFILL,
    P_PREFIX,
    P_RESERVE,
    P_TP,
    P_TPOT,
    P_TTFT,
    P_TTFT_Q,
    P_UCAP,
    P_WDTYPE,
    S_BATCH,
    S_BMAX,
    S_KVTOK,
    S_MAXTOKS,
    S_NREP,
    S_PP,
    S_PREFILL,
    S_PREFILL_SHARE,
    S_RATE,
    S_TOKS,
    S_TP,
    S_TPOT,
    S_TTFT,
    S_UTIL,
    S_WBYTES,
)  # fmt: skip
from fleetsim.physics.memory import max_batch_size
from fleetsim.physics.model_shapes import prefill_flops
from fleetsim.physics.queueing import (
    length_quantile_ratio,
    time_to_first_token,
    utilisation_for_ttft,
)
from fleetsim.physics.serving import decode_step_time, prefill_time
from fleetsim.physics.speculative import expected_tokens_per_step

#: kernel code of ``deployment.prefill=chunked``
PREFILL_CHUNKED = float(PREFILL_MODES.index("chunked"))


@jit
def _time_per_token(batch, chunked, computed, f_target, f_draft, output, context, md, md_draft, b_w, kv_token,
                    kv_draft, tp, pp, ep, peak, bandwidth, eta_c, eta_m, link, stage_link, latency, overhead,
                    k, a, prefill_occupancy):  # fmt: skip
    """Return the mean time between a sequence's output tokens at ``batch`` concurrent sequences.

    One cycle is a target step over ``k + 1`` tokens per sequence (the KV cache is read once for
    them) after ``k`` draft steps (``k = 0``: plain decoding); it yields
    :func:`fleetsim.physics.speculative.expected_tokens_per_step` tokens per sequence (Leviathan
    et al. 2023). At full occupancy ``B E / O`` prompts are prefilled per cycle: chunked, their
    tokens and FLOPs ride in the target step (and the draft's in its ``k`` steps); whole, each
    stalls the batch for ``prefill_occupancy``. ``computed``, ``f_target`` and ``f_draft`` are a
    prompt's recomputed tokens and its FLOPs in the target and draft models. [s]
    """
    expected = expected_tokens_per_step(k, a)
    prompts = batch * expected / output if chunked else 0.0
    cycle = decode_step_time(batch * (k + 1.0), context, prompts * computed, prompts * f_target, md[M_ACTIVE],
                             md[M_ATTENTION], md[M_DENSE] * b_w, md[M_EXPERT] * b_w, md[M_MOE_LAYERS], md[M_EXPERTS], md[M_TOP_K],
                             kv_token / (k + 1.0), md[M_LAYERS], md[M_DMODEL], ACTIVATION_BYTES, tp, pp, ep, peak,
                             bandwidth, eta_c, eta_m, link, latency, stage_link, overhead)  # fmt: skip
    if k > 0.0:
        draft = decode_step_time(batch, context, prompts * computed / k, prompts * f_draft / k, md_draft[M_ACTIVE],
                                 md_draft[M_ATTENTION], md_draft[M_DENSE] * b_w, md_draft[M_EXPERT] * b_w, md_draft[M_MOE_LAYERS],
                                 md_draft[M_EXPERTS], md_draft[M_TOP_K], kv_draft, md_draft[M_LAYERS],
                                 md_draft[M_DMODEL], ACTIVATION_BYTES, tp, pp, ep, peak, bandwidth, eta_c, eta_m,
                                 link, latency, stage_link, overhead)  # fmt: skip
        cycle += k * draft
    if chunked:
        return cycle / expected
    return cycle / expected + batch * prefill_occupancy / output


@jit
def _operating_point_at(tp, pp, p, hw, md, md_draft, fb, dtype_bytes, compute_column, o):
    """Find the operating point of a replica of ``tp x pp`` accelerators; write it into ``o``.

    Parameters
    ----------
    tp, pp : float
        Tensor- and pipeline-parallel degree. [1]
    p, hw, md, md_draft, fb, dtype_bytes, compute_column, o : ndarray
        As in :func:`replica_operating_point`.

    Returns
    -------
    int
        :mod:`fleetsim.status` code: FEASIBLE, or the first reason the replica cannot serve.
    """
    ep = min(p[P_EP], tp)  # experts are spread over (at most) the tensor-parallel group
    o[S_TP] = tp
    o[S_PP] = pp
    if pp > md[M_LAYERS]:
        return st.MORE_STAGES_THAN_LAYERS
    n_rep = tp * pp
    w_code = int(p[P_WDTYPE])
    b_w, b_kv = dtype_bytes[w_code], dtype_bytes[int(p[P_KVDTYPE])]
    peak = hw[compute_column[w_code]]
    if peak <= 0.0:  # no tensor cores for this format: weight-only, computed in BF16
        peak = hw[H_BF16]
    prompt, output = p[P_IN], p[P_OUT]
    prompt_cv, biased = p[P_IN_CV], 1.0 + p[P_OUT_CV] ** 2  # E[O^2] / E[O]^2
    chunked = p[P_PREFILL] == PREFILL_CHUNKED

    # speculative decoding: a draft model proposes k tokens, accepted with probability a each
    k = p[P_DRAFT_TOKENS] if p[P_DRAFT] >= 0.0 else 0.0
    a = p[P_ACCEPTANCE]
    kv_token = md[M_KV] * b_kv
    kv_draft = md_draft[M_KV] * b_kv if k > 0.0 else 0.0
    weights = md[M_TOTAL] * b_w + (md_draft[M_TOTAL] * b_w if k > 0.0 else 0.0)
    o[S_NREP] = n_rep
    o[S_WBYTES] = weights
    o[S_KVTOK] = kv_token + kv_draft
    b_max = max_batch_size(
        n_rep * hw[H_HBM], p[P_RESERVE], weights, (prompt + output * biased) * (kv_token + kv_draft)
    )
    if b_max < 0.0:
        return st.WEIGHTS_DO_NOT_FIT
    if prompt + output > md[M_CONTEXT]:
        return st.CONTEXT_TOO_LONG
    if b_max < 1.0:
        return st.KV_DOES_NOT_FIT
    b_max = min(b_max, p[P_MAX_BATCH])  # an engine's max-batch setting caps the KV-limited batch
    cached = prompt * p[P_PREFIX]
    expected = expected_tokens_per_step(k, a)
    if chunked:  # a step carries B (k + 1) decode tokens and B E (S - C) / O prompt tokens
        budget_batch = p[P_BUDGET] / (k + 1.0 + expected * (prompt - cached) / output)
        b_max = min(b_max, math.floor(budget_batch) if budget_batch >= 1.0 else budget_batch)
    o[S_BMAX] = b_max

    # tensor parallelism (and pipeline stages) beyond the scale-up domain use the scale-out fabric
    scaleout = hw[H_SCALEOUT] * fb[F_EFF]
    link = hw[H_SCALEUP] if tp <= hw[H_DOMAIN] else scaleout
    stage_link = hw[H_SCALEUP] if n_rep <= hw[H_DOMAIN] else scaleout
    context = prompt + 0.5 * output * biased
    eta_c, eta_m, bandwidth = hw[H_ETA_C], hw[H_ETA_M], hw[H_BW]

    # a whole prompt's prefill, alone: its latency, and (pipelined) the replica time it occupies
    t_prefill = prefill_time(prompt, cached, prompt_cv, md[M_ACTIVE], md[M_ATTENTION], md[M_DENSE] * b_w,
                             md[M_EXPERT] * b_w, md[M_MOE_LAYERS], md[M_EXPERTS], md[M_TOP_K], md[M_LAYERS],
                             md[M_DMODEL], ACTIVATION_BYTES, tp, pp, ep, peak, bandwidth, eta_c, eta_m, link,
                             p[P_LATENCY], stage_link)  # fmt: skip
    if k > 0.0:  # the draft model prefills the prompt too
        t_prefill += prefill_time(prompt, cached, prompt_cv, md_draft[M_ACTIVE], md_draft[M_ATTENTION],
                                  md_draft[M_DENSE] * b_w, md_draft[M_EXPERT] * b_w, md_draft[M_MOE_LAYERS],
                                  md_draft[M_EXPERTS], md_draft[M_TOP_K], md_draft[M_LAYERS], md_draft[M_DMODEL],
                                  ACTIVATION_BYTES, tp, pp, ep, peak, bandwidth, eta_c, eta_m, link, p[P_LATENCY],
                                  stage_link)  # fmt: skip
    occupancy = t_prefill / pp
    computed = prompt - cached
    f_target = prefill_flops(md[M_ACTIVE], md[M_ATTENTION], prompt, cached, prompt_cv)
    f_draft = 0.0
    if k > 0.0:
        f_draft = prefill_flops(
            md_draft[M_ACTIVE], md_draft[M_ATTENTION], prompt, cached, prompt_cv
        )

    # largest batch whose time per token meets the TPOT target (it grows with the batch)
    lo_b, hi_b = 1.0, b_max
    step_hi = _time_per_token(hi_b, chunked, computed, f_target, f_draft, output, context, md, md_draft, b_w,
                              kv_token, kv_draft, tp, pp, ep, peak, bandwidth, eta_c, eta_m, link, stage_link,
                              p[P_LATENCY], p[P_OVERHEAD], k, a, occupancy)  # fmt: skip
    step_max_batch = step_hi
    if step_hi > p[P_TPOT]:
        if hi_b <= 1.0:
            return st.TPOT_UNREACHABLE
        step_lo = _time_per_token(1.0, chunked, computed, f_target, f_draft, output, context, md, md_draft, b_w,
                                  kv_token, kv_draft, tp, pp, ep, peak, bandwidth, eta_c, eta_m, link,
                                  stage_link, p[P_LATENCY], p[P_OVERHEAD], k, a, occupancy)  # fmt: skip
        if step_lo > p[P_TPOT]:
            return st.TPOT_UNREACHABLE
        # Bracketing search. Invariant: step(lo_b) meets the target, step(hi_b) does not, so it
        # ends at the same batch as bisection. The time per token is close to linear in the
        # batch, so the next probe is interpolated (regula falsi); a probe that fails to halve
        # the bracket makes the next one a bisection, which bounds the worst case.
        target, interpolate = p[P_TPOT], True
        while hi_b - lo_b > 1.0:
            width = hi_b - lo_b
            if interpolate:
                mid = math.floor(lo_b + width * (target - step_lo) / (step_hi - step_lo))
                mid = min(max(mid, lo_b + 1.0), hi_b - 1.0)
            else:
                mid = math.floor(0.5 * (lo_b + hi_b))
            step_mid = _time_per_token(mid, chunked, computed, f_target, f_draft, output, context, md, md_draft,
                                       b_w, kv_token, kv_draft, tp, pp, ep, peak, bandwidth, eta_c, eta_m,
                                       link, stage_link, p[P_LATENCY], p[P_OVERHEAD], k, a,
                                       occupancy)  # fmt: skip
            if step_mid <= target:
                lo_b, step_lo = mid, step_mid
            else:
                hi_b, step_hi = mid, step_mid
            interpolate = hi_b - lo_b <= 0.5 * width
        batch, step = lo_b, step_lo
    else:
        batch, step = b_max, step_hi

    service = output * step / batch  # replica time per request at full occupancy
    decode_only = _time_per_token(batch, False, computed, f_target, f_draft, output, context, md, md_draft, b_w,
                                  kv_token, kv_draft, tp, pp, ep, peak, bandwidth, eta_c, eta_m, link, stage_link,
                                  p[P_LATENCY], p[P_OVERHEAD], k, a, 0.0)  # fmt: skip
    # a TTFT quantile target meets the prompt at that quantile (prefill ~ its length) and the
    # queue's wait at that quantile
    quantile = p[P_TTFT_Q]
    longer = length_quantile_ratio(prompt_cv, quantile)
    if chunked:  # prompt tokens flow through the budget the decode tokens leave in each cycle
        cycle = step * expected
        spare = p[P_BUDGET] - batch * (k + 1.0)
        prefill_service = computed * cycle / spare
        prefill_duration = max(cycle, prefill_service)
        duration_at_target = max(cycle, prefill_service * longer)
    else:
        prefill_service, prefill_duration = occupancy, t_prefill
        duration_at_target = t_prefill * longer
    utilisation = utilisation_for_ttft(p[P_TTFT], duration_at_target, prefill_service, service,
                                       prompt_cv, quantile, p[P_UCAP])  # fmt: skip
    if utilisation < 0.0:
        return st.TTFT_UNREACHABLE
    o[S_BATCH] = batch
    o[S_PREFILL] = prefill_duration
    o[S_TPOT] = step
    o[S_TTFT] = time_to_first_token(
        utilisation, duration_at_target, prefill_service, service, prompt_cv, quantile
    )
    o[S_RATE] = 1.0 / service
    o[S_UTIL] = utilisation
    o[S_PREFILL_SHARE] = 1.0 - decode_only / step
    o[S_TOKS] = batch / step / n_rep
    o[S_MAXTOKS] = b_max / step_max_batch / n_rep

    return st.FEASIBLE


#: largest tensor-parallel degree the layout search tries
MAX_SEARCHED_TP = 64.0
#: largest pipeline-parallel degree the layout search tries
MAX_SEARCHED_PP = 16.0


@jit
def replica_operating_point(p, hw, md, md_draft, fb, dtype_bytes, compute_column, o):
    """Find one replica's operating point and write it into ``o`` (see ``SCENARIO_OUTPUTS``).

    With ``deployment.tp`` and ``deployment.pp`` given, evaluate that layout. Either set to
    ``auto`` (stored as 0) is searched -- TP over 1, 2, 4, ... up to the scale-up domain, PP over
    1, 2, 4, ... up to :data:`MAX_SEARCHED_PP` stages -- keeping the layout with the most
    generated tokens/s per accelerator that meets the latency targets: what a serving engineer
    does on an 8-GPU node (e.g. 4 replicas x TP2 rather than 1 x TP8), or across nodes for a
    model too large for one.

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
        Scenario outputs, written (``tensor_parallel`` and ``pipeline_parallel`` hold the
        chosen layout).

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
    if tp_lo == tp_hi and pp_lo == pp_hi:
        return _operating_point_at(
            tp_lo, pp_lo, p, hw, md, md_draft, fb, dtype_bytes, compute_column, o
        )
    best_tp, best_pp, best_rate = 0.0, 0.0, -1.0
    code = st.FEASIBLE
    pp = pp_lo
    while pp <= pp_hi:
        tp = tp_lo
        while tp <= tp_hi:
            code = _operating_point_at(
                tp, pp, p, hw, md, md_draft, fb, dtype_bytes, compute_column, o
            )
            if code == st.FEASIBLE and o[S_TOKS] > best_rate:
                best_tp, best_pp, best_rate = tp, pp, o[S_TOKS]
            tp *= 2.0
        pp *= 2.0
    if best_tp == 0.0:
        return code
    return _operating_point_at(
        best_tp, best_pp, p, hw, md, md_draft, fb, dtype_bytes, compute_column, o
    )
