"""Collective communication times for tensor parallelism."""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def ring_allreduce_time(
    message_bytes: float, devices: float, link_bandwidth: float, latency: float
):
    r"""Return the time of a ring all-reduce.

    Parameters
    ----------
    message_bytes : float
        Bytes reduced on every device m. [B]
    devices : float
        Participating devices t. [1]
    link_bandwidth : float
        Achievable unidirectional bandwidth per device. [B/s]
    latency : float
        Per-hop latency alpha. [s]

    Returns
    -------
    float
        :math:`2 (t-1)/t \\cdot m / bw + 2 (t-1) \\alpha`; zero for one device. [s]

    Notes
    -----
    Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for clusters of workstations",
    J. Parallel Distrib. Comput. 69 (2009), doi:10.1016/j.jpdc.2008.09.002.
    """
    if devices <= 1.0:
        return 0.0
    steps = devices - 1.0
    return 2.0 * steps / devices * message_bytes / link_bandwidth + 2.0 * steps * latency


@jit
def tensor_parallel_time(
    tokens: float,
    d_model: float,
    activation_bytes: float,
    layers: float,
    tp: float,
    link_bandwidth: float,
    latency: float,
) -> float:
    """Return the tensor-parallel communication time of one forward pass.

    Parameters
    ----------
    tokens : float
        Tokens in the pass (batch for decode, prompt length for prefill). [1]
    d_model : float
        Hidden width. [1]
    activation_bytes : float
        Bytes per activation element. [B]
    layers : float
        Layers the pass crosses on this device group. [1]
    tp : float
        Tensor-parallel degree. [1]
    link_bandwidth : float
        Achievable unidirectional bandwidth per device. [B/s]
    latency : float
        Per-hop latency. [s]

    Returns
    -------
    float
        Two all-reduces of ``tokens x d_model`` activations per layer (after attention and after
        the MLP; Shoeybi et al. 2019, arXiv:1909.08053, Fig. 3). [s]
    """
    message = tokens * d_model * activation_bytes
    return 2.0 * layers * ring_allreduce_time(message, tp, link_bandwidth, latency)


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
        Per-peer latency alpha. [s]

    Returns
    -------
    float
        :math:`(n-1)/n \\cdot m / bw + (n-1) \\alpha`; zero for one device (Thakur et al.,
        "Optimization of collective communication operations in MPICH", IJHPCA 19(1), 2005,
        doi:10.1177/1094342005051521). [s]
    """
    if devices <= 1.0:
        return 0.0
    return (devices - 1.0) / devices * message_bytes / link_bandwidth + (devices - 1.0) * latency


@jit
def model_parallel_time(
    tokens: float,
    d_model: float,
    activation_bytes: float,
    layers: float,
    moe_layers: float,
    top_k: float,
    tp: float,
    ep: float,
    link_bandwidth: float,
    latency: float,
) -> float:
    """Return the communication time of one forward pass with tensor and expert parallelism.

    Parameters
    ----------
    tokens, d_model, activation_bytes : float
        Tokens in the pass, hidden width, bytes per activation element. [1], [1], [B]
    layers, moe_layers : float
        Layers the pass crosses on this device group, and how many of them are MoE. [1]
    top_k : float
        Experts per token. [1]
    tp, ep : float
        Tensor- and expert-parallel degree (``ep <= 1``: experts are tensor-parallel too). [1]
    link_bandwidth, latency : float
        Achievable link bandwidth per device and per-hop latency. [B/s], [s]

    Returns
    -------
    float
        Without expert parallelism, :func:`tensor_parallel_time`. With it, each layer keeps the
        attention all-reduce, dense layers their MLP all-reduce, and each MoE layer instead
        dispatches and combines every token's hidden state to its ``k`` experts: two
        :func:`all_to_all_time` of ``tokens x k x d x b`` bytes over ``ep`` devices
        (Lepikhin et al., GShard, arXiv:2006.16668). [s]
    """
    if ep <= 1.0 or moe_layers <= 0.0:
        return tensor_parallel_time(
            tokens, d_model, activation_bytes, layers, tp, link_bandwidth, latency
        )
    message = tokens * d_model * activation_bytes
    allreduce = ring_allreduce_time(message, tp, link_bandwidth, latency)
    dispatch = all_to_all_time(message * top_k, ep, link_bandwidth, latency)
    return layers * allreduce + (layers - moe_layers) * allreduce + moe_layers * 2.0 * dispatch


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
