"""Prefill and decode-step times of one replica (t-way tensor x p-way pipeline parallel)."""

from __future__ import annotations

from fleetsim._jit import jit
from fleetsim.physics.collectives import model_parallel_time
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
    step_overhead: float,
) -> float:
    r"""Return the time between two output tokens of one sequence (TPOT) at a given batch.

    Parameters
    ----------
    batch : float
        Concurrent sequences in the replica B. [1]
    context : float
        Mean context length c of those sequences. [1]
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
    step_overhead : float
        Fixed per-step cost (scheduling, sampling, kernel launches). [s]

    Returns
    -------
    float
        ``pp`` pipeline stages each process a micro-batch of ``B/p`` sequences holding ``1/p``
        of the layers: :math:`p \\cdot (\\mathrm{roofline}(F_{mb}/p, bytes_{mb}/p, t) +
        t_{comm}) + t_{overhead}` with :math:`F_{mb} = (B/p)(2P_a + a c)` and
        :math:`bytes_{mb} = W_{touched}(B/p) + (B/p) c \\cdot kv` (DESIGN.md section 3). [s]
    """
    micro = batch / pp
    flops = micro * decode_flops_per_token(active_parameters, attention_coefficient, context)
    weights = decode_weight_bytes_touched(
        dense_bytes, expert_bytes, moe_layers, experts, top_k, micro
    )
    bytes_moved = weights + micro * context * kv_bytes_per_token
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
        micro, d_model, activation_bytes, layers / pp, moe_layers / pp, top_k, tp, ep,
        link_bandwidth, link_latency,
    )  # fmt: skip
    return pp * (stage + comm) + step_overhead


@jit
def prefill_time(
    prompt_tokens: float,
    cached_tokens: float,
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
) -> float:
    r"""Return the time to prefill one prompt on one replica.

    Parameters
    ----------
    prompt_tokens : float
        Prompt length S. [1]
    cached_tokens : float
        Leading prompt tokens found in the prefix cache (not recomputed). [1]
    active_parameters, attention_coefficient : float
        As in :func:`decode_step_time`. [1], [FLOP]
    dense_bytes, expert_bytes, moe_layers, experts, top_k : float
        Weight bytes and MoE shape as in :func:`decode_step_time`. [B], [1]
    layers, d_model, activation_bytes, tp, pp, ep : float
        As in :func:`decode_step_time`. [1], [B]
    peak_flops, bandwidth, compute_efficiency, bandwidth_efficiency : float
        As in :func:`decode_step_time`. [FLOP/s], [B/s], [1]
    link_bandwidth, link_latency : float
        As in :func:`decode_step_time`. [B/s], [s]

    Returns
    -------
    float
        :math:`\\mathrm{roofline}(F_{pf}(S, C), W_{touched}(S - C), t p) + t_{comm}(S - C)` with
        :math:`F_{pf}` from :func:`fleetsim.physics.model_shapes.prefill_flops` -- compute bound
        for all but the shortest prompts (DESIGN.md section 3). [s]
    """
    computed = prompt_tokens - cached_tokens
    if computed <= 0.0:
        return 0.0
    flops = prefill_flops(active_parameters, attention_coefficient, prompt_tokens, cached_tokens)
    weights = decode_weight_bytes_touched(
        dense_bytes, expert_bytes, moe_layers, experts, top_k, computed
    )
    compute = roofline_time(
        flops, weights, tp * pp, peak_flops, bandwidth, compute_efficiency, bandwidth_efficiency
    )
    comm = model_parallel_time(
        computed, d_model, activation_bytes, layers, moe_layers, top_k, tp, ep, link_bandwidth,
        link_latency,
    )  # fmt: skip
    return compute + comm
