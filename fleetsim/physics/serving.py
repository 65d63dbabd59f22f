"""Prefill and decode-step times of one replica (t-way tensor x p-way pipeline parallel)."""

from __future__ import annotations

from fleetsim._jit import jit
from fleetsim.physics.collectives import model_parallel_time, pipeline_transfer_time
from fleetsim.physics.model_shapes import (
    decode_flops_per_token,
    decode_weight_bytes_touched,
    prefill_flops,
)
from fleetsim.physics.roofline import roofline_time


@jit
def decode_step_time(
    batch: float,
    context: float,
    prefill_tokens: float,
    prefill_flops_in_step: float,
    active_parameters: float,
    attention_coefficient: float,
    dense_bytes: float,
    expert_bytes: float,
    moe_layers: float,
    experts: float,
    top_k: float,
    kv_bytes_per_token: float,
    layers: float,
    d_model: float,
    activation_bytes: float,
    tp: float,
    pp: float,
    ep: float,
    peak_flops: float,
    bandwidth: float,
    compute_efficiency: float,
    bandwidth_efficiency: float,
    link_bandwidth: float,
    link_latency: float,
    stage_link_bandwidth: float,
    step_overhead: float,
) -> float:
    r"""Return the time of one decode step, optionally carrying chunks of prompts (chunked prefill).

    Parameters
    ----------
    batch : float
        Concurrent decoding sequences in the replica B. [1]
    context : float
        Mean context length c of those sequences. [1]
    prefill_tokens : float
        Prompt tokens prefilled in the same step n (chunked prefill; 0 for a pure decode
        step). [1]
    prefill_flops_in_step : float
        FLOPs of those prompt tokens F_n (from
        :func:`fleetsim.physics.model_shapes.prefill_flops`). [FLOP]
    active_parameters : float
        Parameters active per token. [1]
    attention_coefficient : float
        Attention FLOPs per (token x context token). [FLOP]
    dense_bytes, expert_bytes : float
        Always-read weight bytes; bytes of one routed expert in one layer. [B]
    moe_layers, experts, top_k : float
        MoE layers, routed experts per layer, experts per token (zeros for dense models). [1]
    kv_bytes_per_token : float
        KV bytes per context token over all layers. [B]
    layers, d_model : float
        Layers and hidden width. [1]
    activation_bytes : float
        Bytes per activation element for tensor-parallel all-reduces. [B]
    tp, pp : float
        Tensor- and pipeline-parallel degree. [1]
    ep : float
        Expert-parallel degree of the MoE layers (1: experts are tensor-parallel). [1]
    peak_flops, bandwidth : float
        Per-accelerator peak FLOP/s at the compute precision and memory bandwidth. [FLOP/s], [B/s]
    compute_efficiency, bandwidth_efficiency : float
        Achievable fractions of peak. [1]
    link_bandwidth, link_latency : float
        Achievable tensor-parallel link bandwidth per device and per-hop latency. [B/s], [s]
    stage_link_bandwidth : float
        Achievable bandwidth between pipeline stages. [B/s]
    step_overhead : float
        Fixed cost of one engine step (scheduling, sampling, kernel launches); a pipeline runs
        one step per micro-batch, ``p`` per token. [s]

    Returns
    -------
    float
        ``pp`` pipeline stages each process a micro-batch of ``m = (B + n)/p`` tokens holding
        ``1/p`` of the layers (stages balanced, the pipeline full; with fewer sequences than
        stages each is a micro-batch of its own and stages idle):
        :math:`p (\\mathrm{roofline}(F_{mb}/p, bytes_{mb}/p, t) + t_{comm}(m) + t_{overhead}) +
        t_{p2p}(m)` with :math:`F_{mb} = ((B/p)(2P_a + a c) +
        F_n/p)` and :math:`bytes_{mb} = W_{touched}(m) + (B/p) c \\cdot kv + (n/p) kv` (the
        weights are read once for decode and prompt tokens alike -- why chunked prefill raises
        throughput, Agrawal et al., Sarathi-Serve, OSDI 2024, arXiv:2403.02310; DESIGN.md
        section 3). [s]
    """
    micro = max(batch / pp, min(batch, 1.0))  # fewer sequences than stages: a bubble
    chunk = prefill_tokens / pp
    tokens = micro + chunk  # decode and prompt tokens of one micro-batch
    flops = (
        micro * decode_flops_per_token(active_parameters, attention_coefficient, context)
        + prefill_flops_in_step / pp
    )
    weights = decode_weight_bytes_touched(
        dense_bytes, expert_bytes, moe_layers, experts, top_k, tokens
    )
    bytes_moved = weights + (micro * context + chunk) * kv_bytes_per_token
    stage = roofline_time(
        flops / pp,
        bytes_moved / pp,
        tp,
        peak_flops,
        bandwidth,
        compute_efficiency,
        bandwidth_efficiency,
    )
    comm = model_parallel_time(
        tokens, d_model, activation_bytes, layers / pp, moe_layers / pp, top_k, tp, ep,
        link_bandwidth, link_latency,
    )  # fmt: skip
    transfer = pipeline_transfer_time(
        tokens, d_model, activation_bytes, pp, stage_link_bandwidth, link_latency
    )
    return pp * (stage + comm + step_overhead) + transfer


@jit
def prefill_time(
    prompt_tokens: float,
    cached_tokens: float,
    prompt_cv: float,
    active_parameters: float,
    attention_coefficient: float,
    dense_bytes: float,
    expert_bytes: float,
    moe_layers: float,
    experts: float,
    top_k: float,
    layers: float,
    d_model: float,
    activation_bytes: float,
    tp: float,
    pp: float,
    ep: float,
    peak_flops: float,
    bandwidth: float,
    compute_efficiency: float,
    bandwidth_efficiency: float,
    link_bandwidth: float,
    link_latency: float,
    stage_link_bandwidth: float,
) -> float:
    r"""Return the time to prefill one prompt, alone, on one replica (first token latency).

    Parameters
    ----------
    prompt_tokens : float
        Prompt length S. [1]
    cached_tokens : float
        Leading prompt tokens found in the prefix cache (not recomputed). [1]
    prompt_cv : float
        Coefficient of variation of the prompt length. [1]
    active_parameters, attention_coefficient : float
        As in :func:`decode_step_time`. [1], [FLOP]
    dense_bytes, expert_bytes, moe_layers, experts, top_k : float
        Weight bytes and MoE shape as in :func:`decode_step_time`. [B], [1]
    layers, d_model, activation_bytes, tp, pp, ep : float
        As in :func:`decode_step_time`. [1], [B]
    peak_flops, bandwidth, compute_efficiency, bandwidth_efficiency : float
        As in :func:`decode_step_time`. [FLOP/s], [B/s], [1]
    link_bandwidth, link_latency, stage_link_bandwidth : float
        As in :func:`decode_step_time`. [B/s], [s], [B/s]

    Returns
    -------
    float
        :math:`\\mathrm{roofline}(F_{pf}(S, C), W_{touched}(S - C), t) + t_{comm}(S - C) +
        t_{p2p}(S - C)` with :math:`F_{pf}` from
        :func:`fleetsim.physics.model_shapes.prefill_flops` -- compute bound for all but the
        shortest prompts (DESIGN.md section 3). The prompt crosses the ``p`` pipeline stages one
        after another, so ``pp`` does not shorten it; with the pipeline full of other prompts a
        replica still starts one every ``1/p`` of this time. [s]
    """
    computed = prompt_tokens - cached_tokens
    if computed <= 0.0:
        return 0.0
    flops = prefill_flops(
        active_parameters, attention_coefficient, prompt_tokens, cached_tokens, prompt_cv
    )
    weights = decode_weight_bytes_touched(
        dense_bytes, expert_bytes, moe_layers, experts, top_k, computed
    )
    compute = roofline_time(
        flops, weights, tp, peak_flops, bandwidth, compute_efficiency, bandwidth_efficiency
    )
    comm = model_parallel_time(
        computed, d_model, activation_bytes, layers, moe_layers, top_k, tp, ep, link_bandwidth,
        link_latency,
    )  # fmt: skip
    transfer = pipeline_transfer_time(
        computed, d_model, activation_bytes, pp, stage_link_bandwidth, link_latency
    )
    return compute + comm + transfer
