"""Step times of one replica, each operation class costed on its own (DESIGN.md section 3, v2).

A forward pass is a sequence of kernels; one decode step of a transformer runs, per layer, the
dense GEMMs (attention projections, dense or shared-expert MLP), the routed experts' grouped
GEMMs, attention over the KV cache and the collectives joining the devices. Each class is
costed on its own and the classes are added, with every kernel's weight or KV stream and its
multiply-adds added too (:func:`kernel_time`): measured kernels give a step time close to
linear in the batch, :math:`t(B) = t_0 + c B` (aiconfigurator's measured-kernel tables for 70B
on H100 TP8, ../shared/PEERS.md: 9.9 / 10.8 / 15.1 / 24.7 ms at B = 1 / 16 / 64 / 256, which
the additive form reproduces within 10 % and one roofline max over the whole step misses by
1.5x at B = 256). A max over the whole step turns compute-bound at a few hundred tokens and then
prices a tight TPOT target at nothing.

Layout of a replica: ``pp`` pipeline stages of ``tp`` devices. Within a stage, attention runs
``adp``-way data-parallel (each group of ``tp / adp`` devices holds its own sequences' KV and
its own copy of the dense weights, tensor-parallel inside the group; DeepSeek-V3 report,
arXiv:2412.19437, section 3.4), routed experts are spread ``ep``-way (each expert
tensor-parallel over ``tp / ep`` devices). ``adp = ep = 1`` is plain tensor parallelism.

The model row ``md`` is a row of the catalog's model table (slots ``M_*`` of
:mod:`fleetsim.layout`).
"""

from __future__ import annotations

import math

from fleetsim._jit import jit
from fleetsim.layout import (
    ACTIVATION_BYTES,
    M_ACT,
    M_ACT_SPLIT,
    M_ACTIVE,
    M_ATTENTION,
    M_DENSE,
    M_DMODEL,
    M_EXPERT,
    M_EXPERTS,
    M_KV_SHARDS,
    M_LAYERS,
    M_MOE_LAYERS,
    M_TOP_K,
)
from fleetsim.physics.collectives import model_parallel_time, pipeline_transfer_time
from fleetsim.physics.model_shapes import experts_touched


@jit
def kernel_time(
    bytes_moved: float,
    flops: float,
    peak_flops: float,
    bandwidth: float,
    compute_efficiency: float,
    bandwidth_efficiency: float,
) -> float:
    r"""Return the time of one kernel class on one device: its stream plus its multiply-adds.

    Parameters
    ----------
    bytes_moved : float
        Bytes the kernels read from memory on this device (weights, KV cache). [B]
    flops : float
        Floating-point operations on this device. [FLOP]
    peak_flops, bandwidth : float
        Peak FLOP/s at the precision the math runs in, and peak memory bandwidth. [FLOP/s], [B/s]
    compute_efficiency, bandwidth_efficiency : float
        Achievable fractions of peak. [1]

    Returns
    -------
    float
        :math:`b / (BW \\eta_m) + F / (F_{peak} \\eta_c)`: memory-bound at few tokens, compute-bound
        at many, and between them slower than either bound alone, as measured GEMM and attention
        kernels are (the sum is the linear :math:`t_0 + c B` of the module notes; the roofline
        of Williams et al., CACM 52(4), 2009, is its ``max``). [s]
    """
    return bytes_moved / (bandwidth * bandwidth_efficiency) + flops / (
        peak_flops * compute_efficiency
    )


@jit
def expert_straggler(routed_tokens: float, ep: float) -> float:
    r"""Return the busiest expert-parallel device's load relative to the mean.

    Parameters
    ----------
    routed_tokens : float
        Token-expert assignments of the step (tokens x top-k). [1]
    ep : float
        Expert-parallel degree n. [1]

    Returns
    -------
    float
        :math:`1 + \\sqrt{2 \\ln n / \\mu}` with :math:`\\mu` the mean assignments per device
        (at least one): the expected maximum of n balanced bins under uniform independent
        routing (Raab and Steger, "Balls into bins -- a simple and tight analysis", RANDOM 1998).
        It is the imbalance no expert placement removes; routing skew beyond it is balanced by
        EPLB-style expert replication (DeepSeek-V3 report, section 3.4) and left out. 1 without
        expert parallelism. [1]
    """
    if ep <= 1.0:
        return 1.0
    mean = max(routed_tokens / ep, 1.0)
    return 1.0 + math.sqrt(2.0 * math.log(ep) / mean)


@jit
def stage_compute_time(
    tokens: float,
    sequences: float,
    context: float,
    prompt_attention_flops: float,
    md,
    b_w: float,
    kv_token: float,
    tp: float,
    adp: float,
    ep: float,
    pp: float,
    peak_flops: float,
    attention_peak_flops: float,
    bandwidth: float,
    compute_efficiency: float,
    bandwidth_efficiency: float,
) -> float:
    r"""Return one device's compute time for a pass of one pipeline stage (its ``1/pp`` of layers).

    Parameters
    ----------
    tokens : float
        Tokens in the pass over the whole stage: decoding sequences plus prompt tokens. [1]
    sequences : float
        Decoding sequences in the pass, each attending to ``context`` cached tokens. [1]
    context : float
        Mean context of those sequences. [1]
    prompt_attention_flops : float
        Attention FLOPs of the pass's prompt tokens over the whole model (their causal
        attention; :func:`fleetsim.physics.model_shapes.prefill_attention_flops`). [FLOP]
    md : ndarray
        The model's row of the catalog's model table.
    b_w, kv_token : float
        Bytes per weight; KV bytes per token over all layers. [B]
    tp, adp, ep, pp : float
        Devices per stage, attention data-parallel groups, expert-parallel degree, stages. [1]
    peak_flops, attention_peak_flops : float
        Peak FLOP/s of the GEMMs (the weights' precision) and of attention (BF16: FlashAttention
        and FlashMLA run their math in BF16). [FLOP/s]
    bandwidth, compute_efficiency, bandwidth_efficiency : float
        Peak memory bandwidth and achievable fractions of peak. [B/s], [1], [1]

    Returns
    -------
    float
        The sum over kernel classes of :func:`kernel_time` (``g = tp / adp`` devices per
        attention group, ``f = 1/pp`` of the layers):

        * dense GEMMs: bytes :math:`f W_{dense} / g`, FLOPs :math:`2 f P_{dense,a} (T/adp) / g`;
        * routed experts: the :math:`E_t = E (1 - (1 - k/E)^T)` experts the step touches,
          bytes :math:`f L_{moe} E_t w_e / tp`, FLOPs :math:`2 f L_{moe} k T w_e / tp` times the
          :func:`expert_straggler` of ``ep`` devices (the busiest device's share, which grows
          with the tokens as :math:`\\mu + \\sqrt{2 \\mu \\ln n}`);
        * attention: KV bytes :math:`f (B/adp) c \\, kv / \\min(g, s_{kv})` with :math:`s_{kv}` the
          KV heads a cache splits into (1 for MLA's shared latent: every device of a group holds
          it whole), FLOPs :math:`f ((B/adp) c a + F_{prompt}/adp) / g` at BF16. MLA decode
          attention in absorbed form costs :math:`2 h (2r + r_{rope})` FLOPs per cached
          token and layer against :math:`(r + r_{rope}) b_{kv}` bytes -- about 480 FLOP/B at an
          FP8 cache, compute-bound on every accelerator (DeepSeek FlashMLA). [s]
    """
    f = 1.0 / pp
    group = tp / adp
    experts, top_k = md[M_EXPERTS], md[M_TOP_K]
    moe_layers, expert_params = md[M_MOE_LAYERS], md[M_EXPERT]
    dense_active = md[M_ACTIVE] - moe_layers * top_k * expert_params
    # activations outside the GEMMs' weights: the residual-width ones repeat on every device of
    # a group, the head- and MLP-width ones are split over it
    activations = f * (tokens / adp) * (md[M_ACT] + md[M_ACT_SPLIT] / group) * ACTIVATION_BYTES
    time = kernel_time(
        f * md[M_DENSE] * b_w / group + activations,
        2.0 * f * dense_active * (tokens / adp) / group,
        peak_flops,
        bandwidth,
        compute_efficiency,
        bandwidth_efficiency,
    )
    if experts > 0.0:
        # the weights stream the same on every device; the busiest device's tokens set the math
        touched = experts_touched(experts, top_k, tokens)
        # token-expert assignments on the busiest device; each reads and writes its expert's
        # activations: d in and out, SwiGLU's 2 f_e written, read back with f_e written by
        # SiLU x up, f_e read by the down projection (2d + 6 f_e; model_shapes' notes)
        routed = tokens * top_k / tp * expert_straggler(tokens * top_k, ep)
        expert_width = expert_params / (3.0 * md[M_DMODEL])
        routed_activations = routed * (2.0 * md[M_DMODEL] + 6.0 * expert_width)
        time += kernel_time(
            f * moe_layers * (touched * expert_params * b_w / tp
                              + routed_activations * ACTIVATION_BYTES),
            2.0 * f * moe_layers * routed * expert_params,
            peak_flops,
            bandwidth,
            compute_efficiency,
            bandwidth_efficiency,
        )  # fmt: skip
    per_group = sequences / adp
    kv_split = min(group, md[M_KV_SHARDS])
    time += kernel_time(
        f * per_group * context * kv_token / kv_split,
        f * (per_group * context * md[M_ATTENTION] + prompt_attention_flops / adp) / group,
        attention_peak_flops,
        bandwidth,
        compute_efficiency,
        bandwidth_efficiency,
    )
    return time


@jit
def communication_time(
    tokens: float,
    md,
    tp: float,
    adp: float,
    ep: float,
    pp: float,
    link_bandwidth: float,
    link_latency: float,
) -> float:
    """Return one stage's collective time for a pass of ``tokens`` tokens.

    Parameters
    ----------
    tokens : float
        Tokens in the pass over the whole stage. [1]
    md : ndarray
        The model's row of the catalog's model table.
    tp, adp, ep, pp : float
        As in :func:`stage_compute_time`. [1]
    link_bandwidth, link_latency : float
        Achievable link bandwidth per device and per-hop latency. [B/s], [s]

    Returns
    -------
    float
        :func:`fleetsim.physics.collectives.model_parallel_time` over the stage's layers: the
        attention all-reduce within each group of ``tp / adp`` devices over its ``1/adp`` of the
        tokens, dense layers' MLP all-reduce, and each MoE layer's dispatch and combine over
        ``ep`` devices. [s]
    """
    return model_parallel_time(tokens, md[M_DMODEL], ACTIVATION_BYTES, md[M_LAYERS] / pp,
                               md[M_MOE_LAYERS] / pp, md[M_TOP_K], tp, adp, ep, link_bandwidth,
                               link_latency)  # fmt: skip


@jit
def decode_step_time(
    batch: float,
    context: float,
    prompt_tokens: float,
    prompt_attention_flops: float,
    md,
    b_w: float,
    kv_token: float,
    tp: float,
    adp: float,
    ep: float,
    pp: float,
    peak_flops: float,
    attention_peak_flops: float,
    bandwidth: float,
    compute_efficiency: float,
    bandwidth_efficiency: float,
    link_bandwidth: float,
    link_latency: float,
    stage_link_bandwidth: float,
    step_overhead: float,
) -> float:
    r"""Return the time of one decode step, optionally carrying prompt chunks (chunked prefill).

    Parameters
    ----------
    batch : float
        Decoding sequences B. [1]
    context : float
        Their mean context c. [1]
    prompt_tokens : float
        Prompt tokens n prefilled in the same step (0: a pure decode step). [1]
    prompt_attention_flops : float
        Those tokens' attention FLOPs over the whole model. [FLOP]
    md, b_w, kv_token, tp, adp, ep, pp : see :func:`stage_compute_time`
    peak_flops, attention_peak_flops, bandwidth, compute_efficiency, bandwidth_efficiency : float
        See :func:`stage_compute_time`.
    link_bandwidth, link_latency : float
        Scale-up (or scale-out) link bandwidth per device and per-hop latency. [B/s], [s]
    stage_link_bandwidth : float
        Bandwidth between pipeline stages. [B/s]
    step_overhead : float
        Fixed cost of one engine step (scheduling, sampling, launches); a pipeline runs one
        step per micro-batch. [s]

    Returns
    -------
    float
        ``pp`` micro-batches of :math:`m = \\max(B/p, \\min(B, 1))` sequences and ``n/p`` prompt
        tokens each cross the stages: :math:`p (t_{stage} + t_{comm} + t_{overhead}) + t_{p2p}`,
        with :func:`stage_compute_time` and :func:`communication_time`. Weights are read once
        for decode and prompt tokens alike, which is why chunked prefill raises throughput
        (Agrawal et al., Sarathi-Serve, OSDI 2024, arXiv:2403.02310). [s]
    """
    micro = max(batch / pp, min(batch, 1.0))  # fewer sequences than stages: a bubble
    chunk = prompt_tokens / pp
    tokens = micro + chunk
    stage = stage_compute_time(tokens, micro, context, prompt_attention_flops / pp, md, b_w,
                               kv_token, tp, adp, ep, pp, peak_flops, attention_peak_flops,
                               bandwidth, compute_efficiency, bandwidth_efficiency)  # fmt: skip
    comm = communication_time(tokens, md, tp, adp, ep, pp, link_bandwidth, link_latency)
    transfer = pipeline_transfer_time(
        tokens, md[M_DMODEL], ACTIVATION_BYTES, pp, stage_link_bandwidth, link_latency
    )
    return pp * (stage + comm + step_overhead) + transfer


@jit
def prefill_time(
    computed_tokens: float,
    prompt_attention_flops: float,
    md,
    b_w: float,
    kv_token: float,
    tp: float,
    adp: float,
    ep: float,
    pp: float,
    peak_flops: float,
    attention_peak_flops: float,
    bandwidth: float,
    compute_efficiency: float,
    bandwidth_efficiency: float,
    link_bandwidth: float,
    link_latency: float,
    stage_link_bandwidth: float,
    step_overhead: float,
) -> float:
    r"""Return the time to prefill one prompt alone, in steps of its own (whole-prompt prefill).

    Parameters
    ----------
    computed_tokens : float
        Prompt tokens computed (not found in the prefix cache). [1]
    prompt_attention_flops : float
        Their attention FLOPs over the whole model. [FLOP]
    md, b_w, kv_token, tp, adp, ep, pp : see :func:`stage_compute_time`
    peak_flops, attention_peak_flops, bandwidth, compute_efficiency, bandwidth_efficiency : float
        See :func:`stage_compute_time`.
    link_bandwidth, link_latency, stage_link_bandwidth, step_overhead : float
        See :func:`decode_step_time`.

    Returns
    -------
    float
        The prompt crosses the ``p`` stages one after another as one pass:
        :math:`p (t_{stage}(n) + t_{comm}(n) + t_{overhead}) + t_{p2p}(n)`, compute-bound for all
        but the shortest prompts. Every data-parallel attention group prefills a prompt of its
        own at the same time, so the pass carries ``adp`` prompts. [s]
    """
    if computed_tokens <= 0.0:
        return 0.0
    stage = stage_compute_time(computed_tokens * adp, 0.0, 0.0, prompt_attention_flops * adp, md,
                               b_w, kv_token, tp, adp, ep, pp, peak_flops, attention_peak_flops,
                               bandwidth, compute_efficiency, bandwidth_efficiency)  # fmt: skip
    comm = communication_time(computed_tokens * adp, md, tp, adp, ep, pp, link_bandwidth,
                              link_latency)  # fmt: skip
    transfer = pipeline_transfer_time(computed_tokens * adp, md[M_DMODEL], ACTIVATION_BYTES, pp,
                                      stage_link_bandwidth, link_latency)  # fmt: skip
    return pp * (stage + comm + step_overhead) + transfer
