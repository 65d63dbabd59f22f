"""Collective communication times: tensor, expert and pipeline parallelism."""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def scaleup_link_bandwidth(scaleup_bandwidth: float, peer_bandwidth: float, peers: float) -> float:
    r"""Return the scale-up bandwidth one device can use towards ``peers`` other devices at once.

    Parameters
    ----------
    scaleup_bandwidth : float
        The device's total unidirectional scale-up bandwidth. [B/s]
    peer_bandwidth : float
        Bandwidth of the direct link to one peer in a full-mesh domain (AMD Infinity Fabric /
        xGMI, Intel Gaudi's RoCE ports); 0 (the catalog's absent value) for a switched domain (NVSwitch, a PCIe switch),
        where any peer is reached at the full bandwidth. [B/s]
    peers : float
        Devices the exchange reaches besides this one (``t - 1`` for a collective over ``t``
        devices, 1 for a point-to-point send). [1]

    Returns
    -------
    float
        :math:`\min(BW, n \, BW_{peer})` in a mesh, :math:`BW` when switched: in a full mesh each
        peer has its own link, so an exchange with ``n`` peers drives only ``n`` of the device's
        links (an 8-GPU MI300X platform: 7 links of 64 GB/s, so TP2 gets 64 GB/s and TP8 448;
        AMD Instinct MI300X platform data sheet). [B/s]
    """
    if not peer_bandwidth > 0.0:
        return scaleup_bandwidth
    return min(scaleup_bandwidth, max(peers, 1.0) * peer_bandwidth)


@jit
def allreduce_time(message_bytes: float, devices: float, link_bandwidth: float, latency: float):
    r"""Return the time of an all-reduce within a switched scale-up domain.

    Parameters
    ----------
    message_bytes : float
        Bytes reduced on every device m. [B]
    devices : float
        Participating devices t. [1]
    link_bandwidth : float
        Achievable unidirectional bandwidth per device. [B/s]
    latency : float
        Latency of one communication step alpha. [s]

    Returns
    -------
    float
        :math:`2 (t-1)/t \\cdot m / bw + 2 \\alpha`; zero for one device. A reduce-scatter and an
        all-gather, each one step over the full crossbar (NVSwitch, xGMI, a PCIe switch): the
        bandwidth-optimal volume of a ring (Patarasuk and Yuan, J. Parallel Distrib. Comput. 69,
        2009, doi:10.1016/j.jpdc.2008.09.002) without its ``2 (t-1)`` latency steps -- the
        "two-shot" all-reduce serving engines use for the small messages of decoding
        (TensorRT-LLM ``AllReduceStrategy.TWOSHOT``; NCCL NVLS). [s]
    """
    if devices <= 1.0:
        return 0.0
    return 2.0 * (devices - 1.0) / devices * message_bytes / link_bandwidth + 2.0 * latency


@jit
def all_to_all_time(message_bytes: float, devices: float, link_bandwidth: float, latency: float):
    r"""Return the time of an all-to-all exchange.

    Parameters
    ----------
    message_bytes : float
        Bytes each device holds for all devices together m (it keeps 1/n of them). [B]
    devices : float
        Participating devices n. [1]
    link_bandwidth : float
        Achievable unidirectional bandwidth per device. [B/s]
    latency : float
        Latency of one communication step alpha. [s]

    Returns
    -------
    float
        :math:`(n-1)/n \\cdot m / bw + \\alpha`; zero for one device: every device sends each
        peer its share at once over the switch (the volume of Thakur et al., "Optimization of
        collective communication operations in MPICH", IJHPCA 19(1), 2005,
        doi:10.1177/1094342005051521, in one step, as :func:`allreduce_time`). [s]
    """
    if devices <= 1.0:
        return 0.0
    return (devices - 1.0) / devices * message_bytes / link_bandwidth + latency


@jit
def model_parallel_time(
    tokens: float,
    d_model: float,
    activation_bytes: float,
    layers: float,
    moe_layers: float,
    top_k: float,
    tp: float,
    adp: float,
    ep: float,
    link_bandwidth: float,
    latency: float,
) -> float:
    """Return the communication time of one forward pass of a stage's layers.

    Parameters
    ----------
    tokens, d_model, activation_bytes : float
        Tokens in the pass, hidden width, bytes per activation element. [1], [1], [B]
    layers, moe_layers : float
        Layers the pass crosses on this device group, and how many of them are MoE. [1]
    top_k : float
        Experts per token. [1]
    tp : float
        Devices of the stage. [1]
    adp : float
        Attention data-parallel groups (1: attention is tensor-parallel over all ``tp``). [1]
    ep : float
        Expert-parallel degree of the MoE layers (1: experts are tensor-parallel). [1]
    link_bandwidth, latency : float
        Achievable link bandwidth per device and per-hop latency. [B/s], [s]

    Returns
    -------
    float
        Attention and dense MLPs: two all-reduces per layer of the group's ``tokens / adp``
        hidden states over its ``tp / adp`` devices (Shoeybi et al. 2019, arXiv:1909.08053,
        Fig. 3). MoE layers: with tensor-parallel attention every device holds every token, so
        experts need no dispatch and their outputs one all-reduce over ``tp``, expert-parallel or
        not; with data-parallel attention each token's hidden state is dispatched to its ``k``
        experts and combined back, two :func:`all_to_all_time` of ``tokens k d b / tp`` bytes per
        device over ``ep`` devices (Lepikhin et al., GShard, arXiv:2006.16668; DeepSeek's DeepEP),
        or -- experts tensor-parallel -- an all-gather and a reduce-scatter over ``tp``, the
        volume of one all-reduce. [s]
    """
    group = tp / adp
    message = tokens * d_model * activation_bytes
    group_allreduce = allreduce_time(message / adp, group, link_bandwidth, latency)
    dense_layers = layers - moe_layers
    if adp <= 1.0 or moe_layers <= 0.0:
        return 2.0 * dense_layers * group_allreduce + moe_layers * (
            group_allreduce + allreduce_time(message, tp, link_bandwidth, latency)
        )
    if ep > 1.0:
        moe = 2.0 * all_to_all_time(message * top_k / tp, ep, link_bandwidth, latency)
    else:
        moe = allreduce_time(message, tp, link_bandwidth, latency)
    return 2.0 * dense_layers * group_allreduce + moe_layers * (group_allreduce + moe)


@jit
def pipeline_transfer_time(
    tokens: float,
    d_model: float,
    activation_bytes: float,
    pp: float,
    link_bandwidth: float,
    latency: float,
) -> float:
    r"""Return the time a pass spends handing activations between pipeline stages.

    Parameters
    ----------
    tokens, d_model, activation_bytes : float
        Tokens in the pass, hidden width, bytes per activation element. [1], [1], [B]
    pp : float
        Pipeline stages. [1]
    link_bandwidth, latency : float
        Achievable bandwidth of the stage-to-stage link and its latency. [B/s], [s]

    Returns
    -------
    float
        :math:`(p - 1) (\\alpha + n d b / bw)`: one point-to-point send of the hidden states at
        each of the ``p - 1`` stage boundaries (Narayanan et al., "Efficient large-scale language
        model training on GPU clusters using Megatron-LM", SC 2021, arXiv:2104.04473); zero
        for one stage. [s]
    """
    if pp <= 1.0:
        return 0.0
    return (pp - 1.0) * (latency + tokens * d_model * activation_bytes / link_bandwidth)
