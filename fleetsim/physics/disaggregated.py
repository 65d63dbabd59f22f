r"""Disaggregated serving: a decode pool and a prefill pool, the prompt's KV cache sent between them.

DistServe (Zhong et al., OSDI 2024, arXiv:2401.09670), Splitwise (Patel et al., ISCA 2024,
arXiv:2311.18677) and Mooncake (Qin et al., FAST 2025, arXiv:2407.00079) run prompts and
decoding on separate replicas, so neither phase interferes with the other:

* the **decode pool** runs pure decode steps. Its replicas receive each prompt's KV cache
  whole, which is to them a prefix-cache hit of the entire prompt (vLLM's disaggregated
  connector presents it so), and the TTFT target binds the prefill pool instead. So its
  operating point is :func:`fleetsim.physics.operating_point.replica_operating_point` with
  every prompt token cached, no prompt steps (``whole`` mode, which has no step token budget
  sized for prompt chunks) and no TTFT bound: the batch, TPOT and its quantile, and the layout
  search are the aggregated model's, minus the prompts.
* the **prefill pool** runs whole-prompt passes (:func:`fleetsim.physics.serving.prefill_time`,
  one prompt per attention data-parallel group, ``pp`` prompts in flight in a pipeline), with its
  own layout searched like the decode pool's, on its own hardware
  (``deployment.prefill_hardware``). A request's TTFT is the M/G/1 wait for the prefill path, the
  prefill, and the **KV transfer** of the whole prompt's cache (cached prefix included: the
  decode replica needs all of it) at the cache precision (:func:`kv_transfer_time`).

The pools are sized independently: per unit of traffic, prefill replicas follow from the prompt
rate and the prefill throughput at the utilisation the TTFT target allows, decode replicas from
the decode throughput at the TPOT target. Each pool's layout is the one with the most requests
per second per accelerator that meets its target, so the prefill:decode ratio that results is
the cheapest that meets both targets for the pools' hardware (every accelerator of a pool costs
the same, and neither pool's target depends on the other's layout except through the link, which
the prefill search takes into account).
"""

from __future__ import annotations

import math

import numpy as np

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.config import PREFILL_MODES
from fleetsim.fleet.facility import derate_for_rack_density
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
    M_LAYERS,
    M_TOTAL,
    P_ADP,
    P_COOLING,
    P_DRAFT,
    P_DRAFT_TOKENS,
    P_EP,
    P_FABRIC,
    P_IN,
    P_IN_CV,
    P_KVDTYPE,
    P_LATENCY,
    P_MODEL,
    P_OVERHEAD,
    P_PP,
    P_PREFILL,
    P_PREFILL_HW,
    P_PREFIX,
    P_RESERVE,
    P_TP,
    P_TTFT,
    P_TTFT_Q,
    P_UCAP,
    P_WDTYPE,
    S_ADP,
    S_CLOCK,
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
    MAX_SEARCHED_PP,
    MAX_SEARCHED_TP,
    replica_links,
    replica_operating_point,
    serving_efficiency,
)
from fleetsim.physics.queueing import (
    length_quantile_ratio,
    time_to_first_token,
    utilisation_for_ttft,
)
from fleetsim.physics.serving import prefill_time

#: kernel code of ``deployment.prefill=whole``: the decode pool runs no prompt chunks
PREFILL_WHOLE = float(PREFILL_MODES.index("whole"))
#: the quantile of the ``*_p99_s`` outputs
P99 = 0.99


@jit
def decode_pool_operating_point(p, hw, md, md_draft, fb, dtype_bytes, compute_column, o):
    """Find the decode pool's replica operating point into ``o`` (module notes); return its status.

    ``p`` is changed for the call (every prompt token cached, whole-prompt mode, no TTFT bound)
    and restored. Parameters as in
    :func:`fleetsim.physics.operating_point.replica_operating_point`.
    """
    mode, prefix, ttft = p[P_PREFILL], p[P_PREFIX], p[P_TTFT]
    p[P_PREFILL], p[P_PREFIX], p[P_TTFT] = PREFILL_WHOLE, 1.0, math.inf
    code = replica_operating_point(p, hw, md, md_draft, fb, dtype_bytes, compute_column, o)
    p[P_PREFILL], p[P_PREFIX], p[P_TTFT] = mode, prefix, ttft
    return code


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
def _fits(tp, adp, ep, md):
    """Return whether attention groups and expert groups divide the stage's ``tp`` devices."""
    if adp > tp or tp % adp != 0.0:
        return False
    return md[M_EXPERTS] <= 0.0 or (ep <= tp and tp % ep == 0.0)


@jit
def prefill_pool_at(tp, pp, adp, ep, p, hw, md, md_draft, fb, dtype_bytes, compute_column, shared,
                    decode_scaleout, o):  # fmt: skip
    """Evaluate a prefill replica of ``tp x pp`` accelerators into ``o``'s prefill-pool slots.

    Parameters
    ----------
    tp, pp, adp, ep : float
        The prefill replica's layout (as in
        :func:`fleetsim.physics.operating_point.replica_operating_point`). [1]
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
    if pp > md[M_LAYERS]:
        return st.MORE_STAGES_THAN_LAYERS
    if not _fits(tp, adp, ep, md):
        return st.LAYOUT_NOT_DIVISIBLE
    group = tp / adp
    w_code = int(p[P_WDTYPE])
    b_w, b_kv = dtype_bytes[w_code], dtype_bytes[int(p[P_KVDTYPE])]
    peak = hw[compute_column[w_code]]
    if peak <= 0.0:  # no tensor cores for this format: weight-only, computed in BF16
        peak = hw[H_BF16]
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


@jit
def prefill_pool_operating_point(p, hw, md, md_draft, fb, dtype_bytes, compute_column, shared,
                                 decode_scaleout, o):  # fmt: skip
    """Search the prefill pool's layout and write its operating point into ``o``; return its status.

    Layouts are tried as the decode pool's are (``deployment.tp``, ``pp``, ``attention_dp`` and
    ``ep`` as given, or searched over powers of two within the scale-up domain, and for MoE
    models data-parallel attention with experts over the stage beside plain tensor
    parallelism), keeping the one with the most prompts per second per accelerator at the
    utilisation its TTFT target allows -- the fewest prefill accelerators per unit of traffic.
    Parameters as in :func:`prefill_pool_at`; the decode pool's operating point must be in ``o``.

    Returns
    -------
    int
        FEASIBLE, or the code of the last layout tried when none serves.
    """
    tp_lo = tp_hi = p[P_TP]
    if tp_lo <= 0.0:
        tp_lo, tp_hi = 1.0, min(hw[H_DOMAIN], MAX_SEARCHED_TP)
    pp_lo = pp_hi = p[P_PP]
    if pp_lo <= 0.0:
        pp_lo, pp_hi = 1.0, min(MAX_SEARCHED_PP, md[M_LAYERS])
    search_moe = md[M_EXPERTS] > 0.0 and (p[P_ADP] <= 0.0 or p[P_EP] <= 0.0)
    best_tp, best_pp, best_adp, best_ep, best_rate = 0.0, 0.0, 0.0, 0.0, -1.0
    code = st.FEASIBLE
    pp = pp_lo
    while pp <= pp_hi:
        tp = tp_lo
        while tp <= tp_hi:
            for plain in range(0 if search_moe else 1, 2):
                adp = p[P_ADP] if p[P_ADP] > 0.0 else (1.0 if plain else tp)
                ep = p[P_EP] if p[P_EP] > 0.0 else (1.0 if plain else tp)
                if not plain and tp <= 1.0:
                    continue
                code = prefill_pool_at(tp, pp, adp, ep, p, hw, md, md_draft, fb, dtype_bytes,
                                       compute_column, shared, decode_scaleout, o)  # fmt: skip
                rate = o[S_PF_UTIL] * o[S_PF_RATE] / o[S_PF_NREP] if code == st.FEASIBLE else 0.0
                if code == st.FEASIBLE and rate > best_rate:
                    best_tp, best_pp, best_adp, best_ep, best_rate = tp, pp, adp, ep, rate
            tp *= 2.0
        pp *= 2.0
    if best_tp == 0.0:
        return code
    return prefill_pool_at(best_tp, best_pp, best_adp, best_ep, p, hw, md, md_draft, fb,
                           dtype_bytes, compute_column, shared, decode_scaleout, o)  # fmt: skip


@jit
def prefill_hardware_row(p, hardware_index, hardware, cl, hw_out) -> float:
    """Write the prefill pool's hardware row, derated for rack density; return its clock scale.

    ``deployment.prefill_hardware`` (-1: the decode pool's row ``hardware_index``), derated as
    :func:`fleetsim.fleet.facility.derate_for_rack_density` derates the decode pool's.
    """
    row = int(p[P_PREFILL_HW]) if p[P_PREFILL_HW] >= 0.0 else hardware_index
    return derate_for_rack_density(p, hardware[row], cl, hw_out)


@jit
def disaggregated_physics(p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes,
                          compute_column, hw, o):  # fmt: skip
    """Find both pools' operating points into ``o``; return the status code.

    The decode pool's replica fills the scenario's replica outputs (and ``hw`` its derated
    hardware row, as :func:`fleetsim.fleet.mix.pool_physics` does), the prefill pool's the
    ``prefill_*`` and ``kv_*`` outputs, ``prefill_time_s`` and the TTFTs. Parameters as in
    :func:`fleetsim.fleet.mix.pool_physics`.

    Returns
    -------
    int
        FEASIBLE, or the first failing check's code (rack density, then the decode pool).
    """
    fb, cl = fabrics[int(p[P_FABRIC])], cooling[int(p[P_COOLING])]
    clock = derate_for_rack_density(p, hardware[hardware_index], cl, hw)
    if clock <= 0.0:
        return st.RACK_POWER_EXCEEDED
    hw_prefill = np.empty(hardware.shape[1])
    if prefill_hardware_row(p, hardware_index, hardware, cl, hw_prefill) <= 0.0:
        return st.RACK_POWER_EXCEEDED
    model = models[int(p[P_MODEL])]
    draft = models[int(p[P_DRAFT])] if p[P_DRAFT] >= 0.0 else model
    o[S_CLOCK] = clock
    code = decode_pool_operating_point(p, hw, model, draft, fb, dtype_bytes, compute_column, o)
    if code != st.FEASIBLE:
        return code
    shared = p[P_PREFILL_HW] < 0.0 or int(p[P_PREFILL_HW]) == hardware_index
    return prefill_pool_operating_point(p, hw_prefill, model, draft, fb, dtype_bytes,
                                        compute_column, shared, hw[H_SCALEOUT], o)  # fmt: skip
