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
