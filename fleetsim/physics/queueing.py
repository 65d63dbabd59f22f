"""Queueing for the first token: the planned utilisation is derived from the TTFT target.

A replica admits prompts through its prefill path: whole prompts one after another, or -- with
chunked prefill -- prompt tokens riding in the decode steps' spare token budget. Requests arrive
as a Poisson stream and prefill service times vary with the prompt length, so the prefill path is
an M/G/1 queue (M/D/1 when every prompt has the mean length).
"""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def mg1_wait(utilisation: float, service_time: float, service_cv: float) -> float:
    r"""Return the mean waiting time in an M/G/1 queue.

    Parameters
    ----------
    utilisation : float
        Server utilisation rho in [0, 1). [1]
    service_time : float
        Mean service time s. [s]
    service_cv : float
        Coefficient of variation of the service time (0: deterministic, M/D/1). [1]

    Returns
    -------
    float
        :math:`W_q = \\rho s (1 + c_s^2) / (2 (1 - \\rho))` (Pollaczek-Khinchine; Kleinrock,
        Queueing Systems Vol. 1, 1975, eq. 5.73); inf at rho >= 1. [s]
    """
    if utilisation >= 1.0:
        return float("inf")
    return utilisation * service_time * (1.0 + service_cv**2) / (2.0 * (1.0 - utilisation))


@jit
def utilisation_for_ttft(
    ttft_target: float,
    prefill_duration: float,
    prefill_service: float,
    service_time: float,
    service_cv: float,
    utilisation_cap: float,
) -> float:
    r"""Return the largest replica utilisation that keeps the mean TTFT within its target.

    Parameters
    ----------
    ttft_target : float
        Time-to-first-token target; ``inf`` means no bound. [s]
    prefill_duration : float
        Time from a prompt's admission to its first token d. [s]
    prefill_service : float
        Time the prompt occupies the prefill path s (equal to ``d`` without chunking; with
        chunked prefill, its share of the steps' token budget). [s]
    service_time : float
        Replica time per request at full occupancy tau. [s]
    service_cv : float
        Coefficient of variation of the prefill service time. [1]
    utilisation_cap : float
        Operational ceiling on utilisation. [1]

    Returns
    -------
    float
        Replica utilisation :math:`\\rho = \\rho_{pf} \\tau / s` with
        :math:`\\rho_{pf} = 2x / (s (1 + c_s^2) + 2x)`, :math:`x = TTFT - d` (inverting
        :func:`mg1_wait` for the prefill path, whose utilisation is :math:`\\rho s / \\tau`),
        capped; -1 when the prefill alone misses the target. [1]
    """
    slack = ttft_target - prefill_duration
    if slack < 0.0:
        return -1.0
    if prefill_service <= 0.0 or slack == float("inf"):
        return utilisation_cap
    prefill_utilisation = 2.0 * slack / (prefill_service * (1.0 + service_cv**2) + 2.0 * slack)
    return min(prefill_utilisation * service_time / prefill_service, utilisation_cap)


@jit
def time_to_first_token(
    utilisation: float,
    prefill_duration: float,
    prefill_service: float,
    service_time: float,
    service_cv: float,
) -> float:
    r"""Return the mean TTFT of a replica at a given utilisation.

    Parameters
    ----------
    utilisation : float
        Replica utilisation rho. [1]
    prefill_duration, prefill_service, service_time, service_cv : float
        As in :func:`utilisation_for_ttft`. [s], [s], [s], [1]

    Returns
    -------
    float
        :math:`d + W_q(\\rho s / \\tau, s, c_s)`. [s]
    """
    wait = mg1_wait(utilisation * prefill_service / service_time, prefill_service, service_cv)
    return prefill_duration + wait
