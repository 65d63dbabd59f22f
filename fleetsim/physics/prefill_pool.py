r"""A disaggregated fleet's prefill replica: whole-prompt passes, and the KV cache sent onwards.

One prompt per attention data-parallel group, ``pp`` prompts in flight in a pipeline
(:func:`fleetsim.physics.serving.prefill_time`); a request's TTFT is the M/G/1 wait for the
prefill path, the prefill, and the transfer of the whole prompt's KV cache (cached prefix
included: the decode replica needs all of it) at the cache precision (:func:`kv_transfer_time`).
The pool's layout is searched by :func:`fleetsim.physics.layout_search.search_layout`;
:mod:`fleetsim.physics.disaggregated` has the model as a whole.
"""

from __future__ import annotations

import math

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.layout import (
    F_EFF,
    H_BF16,
    H_BW,
    H_DOMAIN,
    H_HBM,
    H_PEER,
    H_SCALEOUT,
    H_SCALEUP,
    M_ATTENTION,
    M_DENSE,
    M_EXPERTS,
    M_KV,
    M_KV_SHARDS,
    M_TOTAL,
    P_DRAFT,
    P_DRAFT_TOKENS,
    P_IN,
    P_IN_CV,
    P_LATENCY,
    P_OVERHEAD,
    P_PREFIX,
    P_RESERVE,
    P_TTFT,
    P_TTFT_Q,
    P_UCAP,
    S_ADP,
    S_KV_LINK,
    S_KV_TRANSFER,
    S_NREP,
    S_PF_ADP,
    S_PF_EP,
    S_PF_NREP,
    S_PF_PP,
    S_PF_RATE,
    S_PF_TOKS,
    S_PF_TP,
    S_PF_UTIL,
    S_PP,
    S_PREFILL,
    S_RATE,
    S_TP,
    S_TTFT,
    S_TTFT_P99,
    S_UTIL,
)  # fmt: skip
from fleetsim.physics.collectives import scaleup_link_bandwidth
from fleetsim.physics.memory import max_batch_size
from fleetsim.physics.model_shapes import prefill_attention_flops
from fleetsim.physics.operating_point import (
    layout_status,
    precision,
    replica_links,
    serving_efficiency,
)
from fleetsim.physics.queueing import (
    length_quantile_ratio,
    time_to_first_token,
    utilisation_for_ttft,
)
from fleetsim.physics.serving import prefill_time

#: the quantile of the ``*_p99_s`` outputs
P99 = 0.99


@jit
def kv_transfer_time(kv_bytes: float, lanes: float, bandwidth: float, latency: float) -> float:
    r"""Return the time to send one prompt's KV cache from a prefill to a decode replica.

    Parameters
    ----------
    kv_bytes : float
        The prompt's KV cache at the cache precision, every layer (and the draft model's). [B]
    lanes : float
        Links carrying it at once: each device holding a distinct slice sends its own,
        :math:`\\min(g_p, g_d, s_{kv}) \\min(p_p, p_d)` for attention groups of ``g`` devices,
        a cache of :math:`s_{kv}` KV-head shards (1 for MLA's latent) and ``p`` stages. [1]
    bandwidth : float
        Achievable bandwidth of one link: the scale-up link when both replicas sit in one
        scale-up domain, else the scale-out NIC at the fabric's efficiency. [B/s]
    latency : float
        One hop's latency. [s]

    Returns
    -------
    float
        :math:`b / (n B) + \\alpha`. [s]
    """
    return kv_bytes / (lanes * bandwidth) + latency


@jit
def prefill_pool_at(tp, pp, adp, ep, p, hw, md, md_draft, fb, dtype_bytes, compute_column, shared,
                    decode_scaleout, o):  # fmt: skip
    """Evaluate a prefill replica of ``tp x pp`` accelerators into ``o``'s prefill-pool slots.

    Parameters
    ----------
    tp, pp, adp, ep : float
        The prefill replica's layout (as in
        :func:`fleetsim.physics.layout_search.replica_operating_point`). [1]
    p, hw, md, md_draft, fb, dtype_bytes, compute_column : ndarray
        Scenario parameters; the prefill hardware's row (derated); model, draft, fabric rows;
        bytes per dtype; the hardware column computing each weight dtype.
    shared : bool
        Whether the pools run on the same hardware, so that a prefill and a decode replica can
        share one scale-up domain.
    decode_scaleout : float
        The decode hardware's scale-out bandwidth per device. [B/s]
    o : ndarray
        Scenario outputs holding the decode pool's operating point; the ``prefill_*``,
        ``kv_*``, ``prefill_time_s``, ``ttft_s`` and ``ttft_p99_s`` slots are written.

    Returns
    -------
    int
        :mod:`fleetsim.status` code: FEASIBLE, or why this prefill replica cannot serve (the
        transfer link saturated: KV_TRANSFER_TOO_SLOW).
    """
    moe = md[M_EXPERTS] > 0.0
    o[S_PF_TP] = tp
    o[S_PF_PP] = pp
    o[S_PF_ADP] = adp
    o[S_PF_EP] = ep if moe else 1.0
    n_rep = tp * pp
    o[S_PF_NREP] = n_rep
    code = layout_status(tp, pp, adp, ep, md)
    if code != st.FEASIBLE:
        return code
    group = tp / adp
    b_w, b_kv, peak = precision(p, hw, dtype_bytes, compute_column)
    drafting = p[P_DRAFT] >= 0.0 and p[P_DRAFT_TOKENS] > 0.0
    kv_token = md[M_KV] * b_kv
    kv_draft = md_draft[M_KV] * b_kv if drafting else 0.0
    weights = md[M_TOTAL] * b_w + (md_draft[M_TOTAL] * b_w if drafting else 0.0)
    dense = md[M_DENSE] + (md_draft[M_DENSE] if drafting else 0.0)
    held = weights + (adp - 1.0) * dense * b_w
    kv_held = kv_token * group / min(group, md[M_KV_SHARDS])
    if drafting:
        kv_held += kv_draft * group / min(group, md_draft[M_KV_SHARDS])
    prompt, prompt_cv = p[P_IN], p[P_IN_CV]
    # the KV of the prompts in flight (one per attention group and stage) fits beside the weights
    in_flight = max_batch_size(hw[H_HBM] * n_rep, p[P_RESERVE], held, prompt * kv_held)
    if in_flight < 0.0:
        return st.WEIGHTS_DO_NOT_FIT
    if in_flight < adp * pp:
        return st.KV_DOES_NOT_FIT
    eta_c, eta_m = serving_efficiency(p, hw, md)
    if math.isnan(eta_c):
        return st.ENGINE_NOT_AVAILABLE
    link, stage_link = replica_links(hw, fb, tp, n_rep)
    latency, overhead = p[P_LATENCY], p[P_OVERHEAD]
    cached = prompt * p[P_PREFIX]
    computed = prompt - cached
    t_prefill = prefill_time(computed, prefill_attention_flops(md[M_ATTENTION], prompt, cached,
                             prompt_cv), md, b_w, kv_token, tp, adp, ep, pp, peak, hw[H_BF16],
                             hw[H_BW], eta_c, eta_m, link, latency, stage_link,
                             overhead)  # fmt: skip
    if drafting:  # the draft model prefills the prompt too
        t_prefill += prefill_time(computed, prefill_attention_flops(md_draft[M_ATTENTION], prompt,
                                  cached, prompt_cv), md_draft, b_w, kv_draft, tp, adp, ep, pp,
                                  peak, hw[H_BF16], hw[H_BW], eta_c, eta_m, link, latency,
                                  stage_link, overhead)  # fmt: skip
    service = t_prefill / (pp * adp)  # replica time per prompt: adp x pp prompts in flight

    # the prompt's whole KV cache to a decode replica: over NVLink when both fit in one domain
    n_decode = o[S_NREP]
    if shared and n_rep + n_decode <= hw[H_DOMAIN]:
        bandwidth = scaleup_link_bandwidth(hw[H_SCALEUP], hw[H_PEER], 1.0)  # a lane: one peer
    else:
        bandwidth = min(hw[H_SCALEOUT], decode_scaleout) * fb[F_EFF]
    decode_group = o[S_TP] / o[S_ADP]
    lanes = min(min(group, decode_group), md[M_KV_SHARDS]) * min(pp, o[S_PP])
    transfer = kv_transfer_time(prompt * (kv_token + kv_draft), lanes, bandwidth, latency)
    duration = t_prefill + transfer
    utilisation = utilisation_for_ttft(p[P_TTFT], duration * length_quantile_ratio(prompt_cv,
                                       p[P_TTFT_Q]), service, service, prompt_cv, p[P_TTFT_Q],
                                       p[P_UCAP], math.inf, 1.0)  # fmt: skip
    if utilisation < 0.0:
        return st.TTFT_UNREACHABLE
    # links busy: prompts sent per second x lanes x time on the wire, over the replica's links
    wire = transfer - latency
    sending = utilisation / service * lanes * wire / n_rep
    receiving = o[S_UTIL] * o[S_RATE] * lanes * wire / n_decode
    load = max(sending, receiving)
    o[S_KV_TRANSFER] = transfer
    o[S_KV_LINK] = load
    if load > 1.0:
        return st.KV_TRANSFER_TOO_SLOW
    o[S_PF_RATE] = 1.0 / service
    o[S_PF_UTIL] = utilisation
    o[S_PF_TOKS] = prompt / service / n_rep
    o[S_PREFILL] = t_prefill
    # a prefill replica holds no sequence slots: its prompts queue on the prefill path alone
    o[S_TTFT] = time_to_first_token(utilisation, duration, service, service, prompt_cv, math.inf,
                                    math.inf, 1.0)  # fmt: skip
    o[S_TTFT_P99] = time_to_first_token(utilisation, duration * length_quantile_ratio(prompt_cv,
                                        P99), service, service, prompt_cv, P99, math.inf,
                                        1.0)  # fmt: skip
    return st.FEASIBLE
