"""Queueing for the first token: the planned utilisation is derived from the TTFT target.

A replica serves prompts one after another on its prefill path (continuous batching admits a new
request into the running decode batch after its prefill). Requests arrive as a Poisson stream,
each prefill takes a deterministic time, so the prefill path is an M/D/1 queue.
"""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def md1_wait(utilisation: float, service_time: float) -> float:
    r"""Return the mean waiting time in an M/D/1 queue.

    Parameters
    ----------
    utilisation : float
        Server utilisation rho in [0, 1). [1]
    service_time : float
        Deterministic service time s. [s]

    Returns
    -------
    float
        :math:`W_q = \\rho s / (2 (1 - \\rho))` (Pollaczek-Khinchine with zero service-time
        variance; Kleinrock, Queueing Systems Vol. 1, 1975, eq. 5.73); inf at rho >= 1. [s]
    """
    if utilisation >= 1.0:
        return float("inf")
    return utilisation * service_time / (2.0 * (1.0 - utilisation))


@jit
def utilisation_for_ttft(
    ttft_target: float, prefill_time: float, service_time: float, utilisation_cap: float
) -> float:
    r"""Return the largest replica utilisation that keeps the mean TTFT within its target.

    Parameters
    ----------
    ttft_target : float
        Time-to-first-token target; ``inf`` means no bound. [s]
    prefill_time : float
        Prefill time of one request t_pf. [s]
    service_time : float
        Replica time per request tau (prefill plus its share of decode). [s]
    utilisation_cap : float
        Operational ceiling on utilisation. [1]

    Returns
    -------
    float
        Replica utilisation :math:`\\rho = \\rho_{pf} \\tau / t_{pf}` with
        :math:`\\rho_{pf} = 2x / (t_{pf} + 2x)`, :math:`x = TTFT - t_{pf}` (inverting
        :func:`md1_wait` for the prefill path, whose utilisation is :math:`\\rho t_{pf}/\\tau`),
        capped; -1 when prefill alone misses the target. [1]
    """
    slack = ttft_target - prefill_time
    if slack < 0.0:
        return -1.0
    if prefill_time <= 0.0 or slack == float("inf"):
        return utilisation_cap
    prefill_utilisation = 2.0 * slack / (prefill_time + 2.0 * slack)
    return min(prefill_utilisation * service_time / prefill_time, utilisation_cap)


@jit
def time_to_first_token(utilisation: float, prefill_time: float, service_time: float) -> float:
    r"""Return the mean TTFT of a replica at a given utilisation.

    Parameters
    ----------
    utilisation : float
        Replica utilisation rho. [1]
    prefill_time : float
        Prefill time t_pf. [s]
    service_time : float
        Replica time per request tau. [s]

    Returns
    -------
    float
        :math:`t_{pf} + W_q(\\rho t_{pf} / \\tau, t_{pf})`. [s]
    """
    return prefill_time + md1_wait(utilisation * prefill_time / service_time, prefill_time)
