"""Roofline times: a pass is bound by compute or by memory bandwidth, whichever is slower."""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def roofline_time(
    flops: float,
    bytes_moved: float,
    devices: float,
    peak_flops: float,
    bandwidth: float,
    compute_efficiency: float,
    bandwidth_efficiency: float,
) -> float:
    r"""Return the roofline time of work split evenly over ``devices`` accelerators.

    Parameters
    ----------
    flops : float
        Floating-point operations of the whole pass. [FLOP]
    bytes_moved : float
        Bytes read from memory by the whole pass. [B]
    devices : float
        Accelerators sharing the work. [1]
    peak_flops : float
        Peak dense FLOP/s per accelerator at the compute precision. [FLOP/s]
    bandwidth : float
        Peak memory bandwidth per accelerator. [B/s]
    compute_efficiency, bandwidth_efficiency : float
        Achievable fractions of peak. [1]

    Returns
    -------
    float
        :math:`\\max(F/(n F_{peak} \\eta_c), B/(n BW \\eta_m))` (Williams et al., "Roofline",
        CACM 52(4), 2009, doi:10.1145/1498765.1498785). [s]
    """
    compute = flops / (devices * peak_flops * compute_efficiency)
    memory = bytes_moved / (devices * bandwidth * bandwidth_efficiency)
    return max(compute, memory)
