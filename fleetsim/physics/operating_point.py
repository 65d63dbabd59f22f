r"""A replica's operating point: the largest batch meeting TPOT, its throughput, TTFT and utilisation.

DESIGN.md section 3: KV capacity (and, with chunked prefill, the step token budget) bounds the
batch; the time per output token grows with the batch, so the largest batch whose TPOT (mean,
or the quantile the target bounds) meets the target is found by a bracketing search; the
planned utilisation is the largest one whose M/G/1 prefill queue keeps TTFT within its target.

Steady state at full occupancy: ``B`` sequences decode, and as each needs ``O`` tokens, ``B/O``
new prompts must be prefilled per output-token period. With ``deployment.prefill=chunked`` their
tokens ride in the decode steps (sharing the weight reads); with ``whole`` the prompts waiting at
a cycle's end run together in a pass of steps of their own, up to the step token budget, while
the batch waits (:func:`whole_prefill`). Either way the time per output token (TPOT) includes
the prompts' share, as a measured TPOT does.

Length distributions (``workload.*_tokens_cv``): a sequence found in the batch is length-biased
(long outputs stay longer), so its mean context is :math:`S + O (1 + c_O^2)/2` and the KV it
holds (reserved at admission for its whole length) :math:`S + O (1 + c_O^2)`; prompt attention
costs :math:`E[S^2] = S^2 (1 + c_S^2)`; the prefill queue is M/G/1 with the prompt's spread.

Tails (``workload.tpot_quantile``): a request's TPOT is its life's mean step time, and two
things vary from one request's life to another's. With Poisson arrivals and every sequence
staying a time ``D``, the occupancy is Poisson with mean ``B`` (M/G/infinity) and its average
over a window of ``D`` has variance :math:`2B/3` (the triangular autocovariance
:math:`B (1 - |s|/D)` integrated over the window); and the prompts arriving in that window,
Poisson with mean ``B``, add their prefill cost with the spread of their lengths. The TPOT at
quantile q is the mean plus :math:`z_q` standard deviations of the two together
(:func:`tpot_at_quantile`).

First token: a prompt joins the batch at a step boundary, so it waits out the step in progress
(uniform over one cycle: half of it on average, q of it at quantile q), then its prefill --
``ceil(S / chunk)`` steps with chunked prefill, the step of a prompt shorter than a chunk
carrying the ``B E / O`` prompts that arrive beside it (Poisson) too -- and the queueing waits
of :mod:`fleetsim.physics.queueing`.
"""

from __future__ import annotations

import math

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.config import PREFILL_MODES
from fleetsim.efficiency import BANDWIDTH_CEILING
from fleetsim.layout import (
    F_EFF,
    H_BF16,
    H_BW,
    H_DOMAIN,
    H_ETA_C,
    H_ETA_M,
    H_HBM,
    H_PEER,
    H_SCALE,
    H_SCALEOUT,
    H_SCALEUP,
    M_ATTENTION,
    M_ATTENTION_BOUNDED,
    M_CLASS,
    M_CONTEXT,
    M_DENSE,
    M_EXPERTS,
    M_KV,
    M_KV_BOUNDED,
    M_KV_KEPT,
    M_KV_SHARDS,
    M_LAYERS,
    M_SPAN,
    M_TOTAL,
    N_CLASSES,
    P_ACCEPTANCE,
    P_BUDGET,
    P_DRAFT,
    P_DRAFT_TOKENS,
    P_ENGINE,
    P_IN,
    P_IN_CV,
    P_KVDTYPE,
    P_LATENCY,
    P_MAX_BATCH,
    P_OUT,
    P_OUT_CV,
    P_OVERHEAD,
    P_PREFILL,
    P_PREFIX,
    P_RESERVE,
    P_TPOT,
    P_TPOT_Q,
    P_TTFT,
    P_TTFT_Q,
    P_UCAP,
    P_WDTYPE,
    S_ADP,
    S_BATCH,
    S_BMAX,
    S_EP,
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
    S_TPOT_P99,
    S_TTFT,
    S_TTFT_P99,
    S_UTIL,
    S_WBYTES,
)  # fmt: skip
from fleetsim.physics.collectives import scaleup_link_bandwidth
from fleetsim.physics.memory import max_batch_size
from fleetsim.physics.model_shapes import (
    attention_flops_at,
    kv_elements_held,
    kv_elements_read,
    per_context_token,
    prefill_attention_coefficient,
    prefill_attention_flops,
)
from fleetsim.physics.queueing import (
    length_quantile_ratio,
    normal_quantile,
    time_to_first_token,
    utilisation_for_ttft,
)
from fleetsim.physics.serving import decode_step_time, prefill_time
from fleetsim.physics.speculative import expected_tokens_per_step

#: kernel code of ``deployment.prefill=chunked``
PREFILL_CHUNKED = float(PREFILL_MODES.index("chunked"))
#: the quantile of the ``*_p99_s`` outputs
P99 = 0.99


@jit
def model_at(md, held_tokens, context, prompt, cached, prompt_cv):
    """Return one model's per-token KV and attention coefficients at this scenario's lengths.

    Local-attention and sparse-attention layers see at most ``md[M_SPAN]`` tokens, so their
    per-token costs depend on the length (:mod:`fleetsim.physics.model_shapes`).

    Returns
    -------
    tuple of float
        KV elements held per token by a sequence of ``held_tokens`` tokens [1]; KV elements read
        per context token at ``context`` [1]; decode attention FLOPs per context token at
        ``context`` [FLOP]; the prompt's attention coefficient for
        :func:`fleetsim.physics.model_shapes.prefill_attention_flops` [FLOP].
    """
    kv, kv_b, span, kept = md[M_KV], md[M_KV_BOUNDED], md[M_SPAN], md[M_KV_KEPT]
    a, a_b = md[M_ATTENTION], md[M_ATTENTION_BOUNDED]
    held = kv_elements_held(kv, kv_b, span, kept, held_tokens)
    return (
        per_context_token(held, held_tokens, kv + kv_b),
        per_context_token(kv_elements_read(kv, kv_b, span, context), context, kv + kv_b),
        per_context_token(attention_flops_at(a, a_b, span, context), context, a + a_b),
        prefill_attention_coefficient(a, a_b, span, prompt, cached, prompt_cv),
    )


@jit
def _time_per_token(batch, prompts, computed, f_attn, f_attn_draft, output, context, md, md_draft,
                    b_w, kv_token, kv_draft, tp, adp, ep, pp, peak, peak_attn, bandwidth, eta_c,
                    eta_m, link, stage_link, latency, overhead, k, a, stall):  # fmt: skip
    """Return the mean time between a sequence's output tokens at ``batch`` concurrent sequences.

    One cycle is a target step over ``k + 1`` tokens per sequence (the KV cache is read once for
    them) after ``k`` draft steps (``k = 0``: plain decoding); it yields
    :func:`fleetsim.physics.speculative.expected_tokens_per_step` tokens per sequence (Leviathan
    et al. 2023). ``prompts`` prompts ride in each cycle (chunked prefill: ``B E / O`` at full
    occupancy; 0 otherwise), each with ``computed`` tokens and attention FLOPs ``f_attn`` in the
    target (``f_attn_draft`` in the draft); whole-prompt prefill instead stalls the batch for
    ``stall`` per prompt, ``B / O`` prompts per output token. [s]
    """
    expected = expected_tokens_per_step(k, a)
    cycle = decode_step_time(batch * (k + 1.0), context, prompts * computed, prompts * f_attn, md,
                             b_w, kv_token / (k + 1.0), tp, adp, ep, pp, peak, peak_attn,
                             bandwidth, eta_c, eta_m, link, latency, stage_link,
                             overhead)  # fmt: skip
    if k > 0.0:
        draft = decode_step_time(batch, context, prompts * computed / k, prompts * f_attn_draft / k,
                                 md_draft, b_w, kv_draft, tp, adp, ep, pp, peak, peak_attn,
                                 bandwidth, eta_c, eta_m, link, latency, stage_link,
                                 overhead)  # fmt: skip
        cycle += k * draft
    return cycle / expected + batch * stall / output


@jit
def whole_prefill(batch, per_sequence, most, computed, f_attn, f_attn_draft, md, md_draft, b_w,
                  kv_token, kv_draft, tp, adp, ep, pp, peak, peak_attn, bandwidth, eta_c, eta_m,
                  link, latency, stage_link, overhead, k):  # fmt: skip
    r"""Return the replica time per prompt and the pass time of whole-prompt prefill at a batch.

    The prompts waiting at the end of a cycle are prefilled together in a pass of their own
    while the batch waits (vLLM's scheduler without chunked prefill: every waiting prompt the
    step token budget holds, in one step): at ``batch`` sequences each attention group gets
    :math:`m = B E / (O \, adp)` per cycle (``per_sequence`` = :math:`E / (O \, adp)`), at
    least one and at most ``most`` (the budget's). A pass over ``m`` prompts per group takes
    :func:`fleetsim.physics.serving.prefill_time` of their tokens (the draft model's too), the
    weights read once for all; each prompt costs the replica :math:`t_{pass} / (m \, adp \, pp)`.
    ``per_sequence`` 0 (chunked prefill) returns (0, 0).

    Returns
    -------
    tuple of float
        Replica time per prompt and the pass time, the prompt's own prefill latency. [s]
    """
    if per_sequence <= 0.0:
        return 0.0, 0.0
    m = min(max(batch * per_sequence, 1.0), most)
    t_pass = prefill_time(m * computed, m * f_attn, md, b_w, kv_token, tp, adp, ep, pp, peak,
                          peak_attn, bandwidth, eta_c, eta_m, link, latency, stage_link,
                          overhead)  # fmt: skip
    if k > 0.0:  # the draft model prefills the prompts too
        t_pass += prefill_time(m * computed, m * f_attn_draft, md_draft, b_w, kv_draft, tp, adp, ep,
                               pp, peak, peak_attn, bandwidth, eta_c, eta_m, link, latency,
                               stage_link, overhead)  # fmt: skip
    return t_pass / (m * pp * adp), t_pass


@jit
def tpot_at_quantile(
    mean_tpot: float,
    batch: float,
    z: float,
    decode_slope: float,
    prompt_cost: float,
    output: float,
    prompt_cv: float,
) -> float:
    r"""Return a quantile of the per-request TPOT around its mean.

    Parameters
    ----------
    mean_tpot : float
        Mean time per output token at the operating batch. [s]
    batch : float
        Mean concurrent sequences B. [1]
    z : float
        Standard-normal quantile of the target (0: the mean). [1]
    decode_slope : float
        Decode step time per extra sequence, per output token. [s]
    prompt_cost : float
        Time one prompt adds to the batch's steps, per output token of its neighbours: its
        chunks' share (chunked) or its stall (whole). [s]
    output : float
        Output tokens per request O. [1]
    prompt_cv : float
        Coefficient of variation of the prompt length. [1]

    Returns
    -------
    float
        :math:`\bar t + z \sqrt{s_B^2 \, 2B/3 + \tau_p^2 B (1 + c_S^2) / O^2}` (module notes):
        a request's TPOT is its life's mean step time; over that life the occupancy's mean
        varies by :math:`2B/3` and the prompts arriving, Poisson with mean :math:`B`, add their
        cost with the spread of their lengths. [s]
    """
    if z <= 0.0:
        return mean_tpot
    occupancy = decode_slope * decode_slope * 2.0 * batch / 3.0
    arrivals = prompt_cost * prompt_cost * batch * (1.0 + prompt_cv * prompt_cv) / (output * output)
    return mean_tpot + z * math.sqrt(occupancy + arrivals)


@jit
def replica_links(hw, fb, tp: float, devices: float) -> tuple[float, float]:
    """Return the bandwidths a replica's collectives and its stage hand-offs use.

    Parameters
    ----------
    hw, fb : ndarray
        The accelerator's and the scale-out fabric's catalog rows.
    tp, devices : float
        Devices per stage, and in the whole replica. [1]

    Returns
    -------
    tuple of float
        ``(link, stage_link)`` [B/s]: within the scale-up domain, a collective over ``tp``
        devices reaches ``tp - 1`` peers and a stage boundary one
        (:func:`fleetsim.physics.collectives.scaleup_link_bandwidth`: a full mesh drives one link
        per peer); beyond it, the scale-out NIC at the fabric's achievable fraction.
    """
    scaleout = hw[H_SCALEOUT] * fb[F_EFF]
    peer = hw[H_PEER]
    link = scaleup_link_bandwidth(hw[H_SCALEUP], peer, tp - 1.0) if tp <= hw[H_DOMAIN] else scaleout
    stage_link = (
        scaleup_link_bandwidth(hw[H_SCALEUP], peer, 1.0) if devices <= hw[H_DOMAIN] else scaleout
    )
    return link, stage_link


@jit
def serving_efficiency(p, hw, md) -> tuple[float, float]:
    """Return the achievable fractions of peak FLOP/s and bandwidth for the scenario's engine.

    Parameters
    ----------
    p, hw, md : ndarray
        The scenario's parameter vector, the accelerator's and the model's catalog rows.

    Returns
    -------
    tuple of float
        ``(eta_c, eta_m)`` [1]: the accelerator's pair times the serving engine's and the model
        class's scale (data/efficiency.csv), capped at 1 and at the bandwidth ceiling; both NaN
        where the engine does not run on this accelerator (its scale is NaN).
    """
    scale = hw[H_SCALE + int(p[P_ENGINE] * N_CLASSES + md[M_CLASS])]
    if not scale > 0.0:
        return math.nan, math.nan
    return min(hw[H_ETA_C] * scale, 1.0), min(hw[H_ETA_M] * scale, BANDWIDTH_CEILING)


@jit
def layout_status(tp, pp, adp, ep, md) -> int:
    """Return whether a ``tp x pp`` layout can hold the model: FEASIBLE or why not.

    More stages than layers cannot be; attention groups (``adp``) and, for MoE models, expert
    groups (``ep``) must divide the stage's ``tp`` devices.
    """
    if pp > md[M_LAYERS]:
        return st.MORE_STAGES_THAN_LAYERS
    if adp > tp or tp % adp != 0.0:
        return st.LAYOUT_NOT_DIVISIBLE
    if md[M_EXPERTS] > 0.0 and (ep > tp or tp % ep != 0.0):
        return st.LAYOUT_NOT_DIVISIBLE
    return st.FEASIBLE


@jit
def precision(p, hw, dtype_bytes, compute_column) -> tuple[float, float, float]:
    """Return bytes per weight and per KV element [B] and the peak FLOP/s computing the weights.

    A format without tensor cores of its own (weight-only) is computed in BF16. [FLOP/s]
    """
    w_code = int(p[P_WDTYPE])
    peak = hw[compute_column[w_code]]
    if peak <= 0.0:
        peak = hw[H_BF16]
    return dtype_bytes[w_code], dtype_bytes[int(p[P_KVDTYPE])], peak


@jit
def sequence_capacity(
    memory: float,
    reserve_frac: float,
    weight_bytes: float,
    sequence_kv_bytes: float,
    sequence_tokens: float,
    context_limit: float,
    engine_cap: float,
    step_token_budget: float,
    step_tokens_per_sequence: float,
) -> tuple[int, float]:
    """Return whether a replica can hold a sequence, and the most sequences it runs at once.

    Parameters
    ----------
    memory, reserve_frac, weight_bytes, sequence_kv_bytes : float
        As in :func:`fleetsim.physics.memory.max_batch_size`. [B], [1], [B], [B]
    sequence_tokens, context_limit : float
        A request's prompt plus output, and the model's context window. [1]
    engine_cap : float
        The engine's sequence cap (``deployment.max_batch``). [1]
    step_token_budget, step_tokens_per_sequence : float
        Tokens a step may carry, and a chunked step's tokens per decoding sequence (decode
        tokens plus its share of the prompts riding along; 0 when the budget does not bound the
        batch: whole-prompt prefill). [1]

    Returns
    -------
    tuple
        :mod:`fleetsim.status` code (FEASIBLE, or why not: the weights, the context, one
        sequence's KV) and the batch bound: the KV that fits, the engine's cap and the budget
        over the tokens per sequence, the least of them. [1]
    """
    b_max = max_batch_size(memory, reserve_frac, weight_bytes, sequence_kv_bytes)
    if b_max < 0.0:
        return st.WEIGHTS_DO_NOT_FIT, b_max
    if sequence_tokens > context_limit:
        return st.CONTEXT_TOO_LONG, b_max
    if b_max < 1.0:
        return st.KV_DOES_NOT_FIT, b_max
    b_max = min(b_max, engine_cap)
    if step_tokens_per_sequence > 0.0:
        budget_batch = step_token_budget / step_tokens_per_sequence
        b_max = min(b_max, math.floor(budget_batch) if budget_batch >= 1.0 else budget_batch)
    return st.FEASIBLE, b_max


@jit
def largest_batch_in_tpot(b_max, step_max_batch, target, z, slope, prompt_cost, output, prompt_cv,
                          per_batch, args, whole):  # fmt: skip
    """Return the largest batch whose TPOT at the target's quantile meets it; -1 if none does.

    The TPOT (:func:`tpot_at_quantile` of :func:`_time_per_token`) grows with the batch. At
    ``b_max`` (where it is ``step_max_batch``) the target may not bind; otherwise a bracketing
    search keeps ``step(lo)`` meeting the target and ``step(hi)`` not, so it ends at the batch
    bisection would. The time per token is close to linear in the batch, so the next probe is
    interpolated (regula falsi); a probe that fails to halve the bracket makes the next one a
    bisection, which bounds the worst case. ``args`` and ``whole`` are the arguments of
    :func:`_time_per_token` and :func:`whole_prefill` after the batch. [1]
    """
    lo_b, hi_b = 1.0, b_max
    step_hi = tpot_at_quantile(step_max_batch, hi_b, z, slope, prompt_cost, output, prompt_cv)
    if not step_hi > target:  # the target does not bind at the largest batch
        return b_max
    if hi_b <= 1.0:
        return -1.0
    step_lo = tpot_at_quantile(_time_per_token(1.0, per_batch, *args,
                                               whole_prefill(1.0, *whole)[0]), 1.0, z, slope,
                               prompt_cost, output, prompt_cv)  # fmt: skip
    if step_lo > target:
        return -1.0
    interpolate = True
    while hi_b - lo_b > 1.0:
        width = hi_b - lo_b
        if interpolate:
            mid = math.floor(lo_b + width * (target - step_lo) / (step_hi - step_lo))
            mid = min(max(mid, lo_b + 1.0), hi_b - 1.0)
        else:
            mid = math.floor(0.5 * (lo_b + hi_b))
        step_mid = tpot_at_quantile(_time_per_token(mid, mid * per_batch, *args,
                                                    whole_prefill(mid, *whole)[0]), mid,
                                    z, slope, prompt_cost, output, prompt_cv)  # fmt: skip
        if step_mid <= target:
            lo_b, step_lo = mid, step_mid
        else:
            hi_b, step_hi = mid, step_mid
        interpolate = hi_b - lo_b <= 0.5 * width
    return lo_b


@jit
def prompt_path(chunked, computed, batch, k, budget, per_batch, expected, step, decode_only,
                stall, t_prefill, longer, longer99, q_ttft, args):  # fmt: skip
    """Return a prompt's time on the prefill path at ``batch`` sequences, before any queueing.

    With chunked prefill a prompt fills the budget the decode tokens leave, ``ceil(S / chunk)``
    steps (Sarathi-Serve; the prefill path serves prompts one chunk at a time, so its mean
    service is S / chunk such steps), each carrying a full chunk: a shorter prompt rides with
    the prompts that arrive beside it (Poisson: ``batch x per_batch`` more on average), up to a
    chunk. Whole-prompt prefill takes its pass (:func:`whole_prefill`'s ``stall`` and
    ``t_prefill``). Before either, a prompt waits out the step in progress (it joins the batch
    at a step boundary): a uniform share of one cycle, mean half of it, quantile q of it.

    Returns
    -------
    tuple of float
        The prefill path's mean service per prompt, the prompt's prefill duration, that
        duration at the TTFT target's quantile and at the p99 (prompt lengths at those
        quantiles, ``longer`` and ``longer99`` times the mean, plus the quantile of the step in
        progress), and the mean wait for the step in progress. [s]
    """
    if chunked:
        prefill_service = prefill_duration = duration_at_target = duration_p99 = 0.0
        if computed > 0.0:
            chunk = budget - batch * (k + 1.0)  # > 0: the budget admits the batch's prompts
            riding = min(chunk, computed * (1.0 + batch * per_batch)) / computed
            full = _time_per_token(batch, riding, *args, 0.0) * expected
            prefill_service = computed / chunk * full
            prefill_duration = math.ceil(computed / chunk) * full
            duration_at_target = math.ceil(computed * longer / chunk) * full
            duration_p99 = math.ceil(computed * longer99 / chunk) * full
    else:
        prefill_service = stall
        prefill_duration = t_prefill
        duration_at_target = t_prefill * longer
        duration_p99 = t_prefill * longer99
    cycle = (step if chunked else decode_only) * expected
    duration_at_target += (0.5 if math.isinf(q_ttft) else q_ttft) * cycle
    duration_p99 += P99 * cycle
    return prefill_service, prefill_duration, duration_at_target, duration_p99, 0.5 * cycle


@jit
def operating_point_at(tp, pp, adp, ep, p, hw, md, md_draft, fb, dtype_bytes, compute_column, o):
    """Find the operating point of a replica of ``tp x pp`` accelerators; write it into ``o``.

    Parameters
    ----------
    tp, pp : float
        Devices per pipeline stage and stages. [1]
    adp, ep : float
        Attention data-parallel groups and expert-parallel degree within a stage. [1]
    p, hw, md, md_draft, fb, dtype_bytes, compute_column, o : ndarray
        As in :func:`fleetsim.physics.layout_search.replica_operating_point`.

    Returns
    -------
    int
        :mod:`fleetsim.status` code: FEASIBLE, or the first reason the replica cannot serve.
    """
    o[S_TP] = tp
    o[S_PP] = pp
    o[S_ADP] = adp
    o[S_EP] = ep if md[M_EXPERTS] > 0.0 else 1.0
    code = layout_status(tp, pp, adp, ep, md)
    if code != st.FEASIBLE:
        return code
    n_rep = tp * pp
    group = tp / adp
    b_w, b_kv, peak = precision(p, hw, dtype_bytes, compute_column)
    peak_attn = hw[H_BF16]
    prompt, output = p[P_IN], p[P_OUT]
    prompt_cv, biased = p[P_IN_CV], 1.0 + p[P_OUT_CV] ** 2  # E[O^2] / E[O]^2
    chunked = p[P_PREFILL] == PREFILL_CHUNKED

    # speculative decoding: a draft model proposes k tokens, accepted with probability a each
    k = p[P_DRAFT_TOKENS] if p[P_DRAFT] >= 0.0 else 0.0
    a = p[P_ACCEPTANCE]
    # bounded attention (windows, sparse selection): per-token KV and attention at these lengths;
    # decode steps read md's attention coefficient, so they get a copy holding the effective one
    held_tokens = prompt + output * biased  # a sequence in the batch holds this much KV
    mean_context = prompt + 0.5 * output * biased
    prefix = prompt * p[P_PREFIX]
    kv_hold, kv_read, a_decode, a_prefill = model_at(md, held_tokens, mean_context, prompt, prefix,
                                                     prompt_cv)  # fmt: skip
    kv_hold_d, kv_read_d, a_decode_d, a_prefill_d = model_at(md_draft, held_tokens, mean_context,
                                                             prompt, prefix, prompt_cv)  # fmt: skip
    md = md.copy()
    md[M_ATTENTION] = a_decode
    md_draft = md_draft.copy()
    md_draft[M_ATTENTION] = a_decode_d
    kv_token = kv_read * b_kv
    kv_draft = kv_read_d * b_kv if k > 0.0 else 0.0
    weights = md[M_TOTAL] * b_w + (md_draft[M_TOTAL] * b_w if k > 0.0 else 0.0)
    # each attention group holds its own copy of the dense weights, and each device of a group
    # the KV heads it attends with (all of them for MLA's shared latent)
    dense = md[M_DENSE] + (md_draft[M_DENSE] if k > 0.0 else 0.0)
    held = weights + (adp - 1.0) * dense * b_w
    kv_held = kv_hold * b_kv * group / min(group, md[M_KV_SHARDS])
    if k > 0.0:
        kv_held += kv_hold_d * b_kv * group / min(group, md_draft[M_KV_SHARDS])
    o[S_NREP] = n_rep
    o[S_WBYTES] = held
    o[S_KVTOK] = kv_held
    cached = prompt * p[P_PREFIX]
    computed = prompt - cached
    expected = expected_tokens_per_step(k, a)
    # a chunked step carries B (k + 1) decode tokens and B E (S - C) / O prompt tokens
    step_tokens = k + 1.0 + expected * computed / output if chunked else 0.0
    code, b_max = sequence_capacity(n_rep * hw[H_HBM], p[P_RESERVE], held,
                                    (prompt + output * biased) * kv_held, prompt + output,
                                    md[M_CONTEXT], p[P_MAX_BATCH], p[P_BUDGET],
                                    step_tokens)  # fmt: skip
    if code != st.FEASIBLE:
        return code
    o[S_BMAX] = b_max

    link, stage_link = replica_links(hw, fb, tp, n_rep)
    context = prompt + 0.5 * output * biased
    eta_c, eta_m = serving_efficiency(p, hw, md)
    if math.isnan(eta_c):
        return st.ENGINE_NOT_AVAILABLE
    bandwidth = hw[H_BW]
    latency, overhead = p[P_LATENCY], p[P_OVERHEAD]

    f_attn = prefill_attention_flops(a_prefill, prompt, cached, prompt_cv)
    f_attn_draft = 0.0
    if k > 0.0:
        f_attn_draft = prefill_attention_flops(a_prefill_d, prompt, cached, prompt_cv)
    per_batch = expected / output if chunked else 0.0  # prompts riding each cycle, per sequence
    # whole prompts: the prompts waiting at a cycle's end are prefilled together in a pass of
    # their own, each attention group its share, up to the step token budget (vLLM without
    # chunked prefill); at B sequences B E / O of them arrive per cycle
    per_group = 0.0 if chunked else expected / (output * adp)
    most = max(1.0, p[P_BUDGET] / (adp * computed)) if computed > 0.0 else 1.0
    whole = (per_group, most, computed, f_attn, f_attn_draft, md, md_draft, b_w, kv_token,
             kv_draft, tp, adp, ep, pp, peak, peak_attn, bandwidth, eta_c, eta_m, link, latency,
             stage_link, overhead, k)  # fmt: skip

    args = (computed, f_attn, f_attn_draft, output, context, md, md_draft, b_w, kv_token,
            kv_draft, tp, adp, ep, pp, peak, peak_attn, bandwidth, eta_c, eta_m, link, stage_link,
            latency, overhead, k, a)  # fmt: skip
    stall = whole_prefill(b_max, *whole)[0]  # replica time per prompt (0: chunked)
    step_max_batch = _time_per_token(b_max, b_max * per_batch, *args, stall)
    # the spread of per-request TPOT: decode cost per extra sequence, cost of one prompt
    decode_hi = _time_per_token(b_max, 0.0, *args, 0.0)
    decode_lo = _time_per_token(1.0, 0.0, *args, 0.0)
    slope = (decode_hi - decode_lo) / (b_max - 1.0) if b_max > 1.0 else 0.0
    if chunked:  # a prompt's chunks lengthen the cycles they ride in (stall is 0 here)
        prompt_cost = (step_max_batch - decode_hi) / (b_max * per_batch) * expected
    else:
        prompt_cost = stall  # each whole prompt stalls every neighbour for its pass's share
    z = normal_quantile(p[P_TPOT_Q]) if not math.isinf(p[P_TPOT_Q]) else 0.0

    # the largest batch whose TPOT at the target's quantile meets the target
    batch = largest_batch_in_tpot(b_max, step_max_batch, p[P_TPOT], z, slope, prompt_cost,
                                  output, prompt_cv, per_batch, args, whole)  # fmt: skip
    if batch < 0.0:
        return st.TPOT_UNREACHABLE

    stall, t_prefill = whole_prefill(batch, *whole)
    step = _time_per_token(batch, batch * per_batch, *args, stall)
    step_p99 = tpot_at_quantile(step, batch, normal_quantile(P99), slope, prompt_cost, output,
                                prompt_cv)  # fmt: skip
    service = output * step / batch  # replica time per request at full occupancy
    decode_only = _time_per_token(batch, 0.0, *args, 0.0)

    # TTFT: the prompt's own prefill plus the prefill path's queueing wait
    q_ttft = p[P_TTFT_Q]
    longer = length_quantile_ratio(prompt_cv, q_ttft)
    longer99 = length_quantile_ratio(prompt_cv, P99)
    prefill_service, prefill_duration, duration_at_target, duration_p99, residual = prompt_path(
        chunked, computed, batch, k, p[P_BUDGET], per_batch, expected, step, decode_only, stall,
        t_prefill, longer, longer99, q_ttft, args,
    )  # fmt: skip
    # a request waits for one of the batch's slots, each held for a sequence's whole output
    lifetime_factor = 0.5 * biased
    utilisation = utilisation_for_ttft(p[P_TTFT], duration_at_target, prefill_service, service,
                                       prompt_cv, p[P_TTFT_Q], p[P_UCAP], batch,
                                       lifetime_factor)  # fmt: skip
    if utilisation < 0.0:
        return st.TTFT_UNREACHABLE
    o[S_BATCH] = batch
    o[S_PREFILL] = prefill_duration
    o[S_TPOT] = step
    o[S_TPOT_P99] = step_p99
    o[S_TTFT] = time_to_first_token(utilisation, residual + prefill_duration, prefill_service,
                                    service, prompt_cv, math.inf, batch,
                                    lifetime_factor)  # fmt: skip
    o[S_TTFT_P99] = time_to_first_token(utilisation, duration_p99, prefill_service, service,
                                        prompt_cv, P99, batch, lifetime_factor)  # fmt: skip
    o[S_RATE] = 1.0 / service
    o[S_UTIL] = utilisation
    o[S_PREFILL_SHARE] = 1.0 - decode_only / step
    o[S_TOKS] = batch / step / n_rep
    o[S_MAXTOKS] = b_max / step_max_batch / n_rep

    return st.FEASIBLE
