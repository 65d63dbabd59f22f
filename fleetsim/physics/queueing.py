"""Queueing for the first token: the planned utilisation is derived from the TTFT target.

A replica admits prompts through its prefill path: whole prompts one after another, or -- with
chunked prefill -- prompt tokens riding in the decode steps' spare token budget. Requests arrive
as a Poisson stream and prefill service times vary with the prompt length, so the prefill path is
an M/G/1 queue (M/D/1 when every prompt has the mean length). The TTFT target bounds the mean,
or a quantile (``workload.ttft_quantile``, e.g. MLPerf's p99).
"""

from __future__ import annotations

import math

from fleetsim._jit import jit

#: bisection steps when inverting a waiting-time quantile (2^-60: below double precision)
_BISECTION_STEPS = 60


@jit
def normal_quantile(quantile: float) -> float:
    r"""Return z with :math:`\\Phi(z) = q` for the standard normal distribution.

    Parameters
    ----------
    quantile : float
        Probability q in (0, 1). [1]

    Returns
    -------
    float
        z, by bisection of :math:`\\Phi(z) = (1 + \\mathrm{erf}(z/\\sqrt{2}))/2` on [-40, 40]. [1]
    """
    lo, hi = -40.0, 40.0
    for _ in range(_BISECTION_STEPS * 2):
        mid = 0.5 * (lo + hi)
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < quantile:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@jit
def length_quantile_ratio(length_cv: float, quantile: float) -> float:
    r"""Return the ``quantile`` of a request length relative to its mean.

    Parameters
    ----------
    length_cv : float
        Coefficient of variation of the length c. [1]
    quantile : float
        Probability q; ``inf`` means the mean (ratio 1). [1]

    Returns
    -------
    float
        :math:`\\exp(z_q \\sigma - \\sigma^2/2)` with :math:`\\sigma^2 = \\ln(1 + c^2)`: lengths
        taken as lognormal, the usual fit to LLM request lengths (an assumption; Patel et al.,
        Splitwise, ISCA 2024, arXiv:2311.18677, show the long right tails). [1]
    """
    if math.isinf(quantile) or length_cv <= 0.0:
        return 1.0
    sigma = math.sqrt(math.log(1.0 + length_cv**2))
    return math.exp(normal_quantile(quantile) * sigma - 0.5 * sigma**2)


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
        :math:`W = \\rho s (1 + c_s^2) / (2 (1 - \\rho))` (Pollaczek-Khinchine; Kleinrock,
        Queueing Systems Vol. 1, 1975, eq. 5.73); inf at rho >= 1. [s]
    """
    if utilisation >= 1.0:
        return float("inf")
    return utilisation * service_time * (1.0 + service_cv**2) / (2.0 * (1.0 - utilisation))


@jit
def mg1_wait_quantile(
    utilisation: float, service_time: float, service_cv: float, quantile: float
) -> float:
    r"""Return a quantile of the waiting time in an M/G/1 queue (the mean for ``inf``).

    Parameters
    ----------
    utilisation, service_time, service_cv : float
        As in :func:`mg1_wait`. [1], [s], [1]
    quantile : float
        Probability q; ``inf`` returns the mean. [1]

    Returns
    -------
    float
        :math:`W_q = (W/\\rho) \\ln(\\rho / (1 - q))` for :math:`\\rho > 1 - q`, else 0: the
        two-moment exponential tail :math:`P(W > t) = \\rho e^{-\\rho t / W}`, which matches
        :math:`P(W > 0) = \\rho` and the mean :func:`mg1_wait`, and is exact for M/M/1
        (:math:`P(W > t) = \\rho e^{-(\\mu - \\lambda) t}`, :math:`W = \\rho/(\\mu - \\lambda)`). [s]
    """
    mean = mg1_wait(utilisation, service_time, service_cv)
    if math.isinf(quantile) or math.isinf(mean):
        return mean
    if utilisation <= 1.0 - quantile:
        return 0.0
    return mean / utilisation * math.log(utilisation / (1.0 - quantile))


@jit
def utilisation_for_ttft(
    ttft_target: float,
    prefill_duration: float,
    prefill_service: float,
    service_time: float,
    service_cv: float,
    quantile: float,
    utilisation_cap: float,
) -> float:
    r"""Return the largest replica utilisation that keeps the TTFT (mean or quantile) in target.

    Parameters
    ----------
    ttft_target : float
        Time-to-first-token target; ``inf`` means no bound. [s]
    prefill_duration : float
        Time from a prompt's admission to its first token d, at the same statistic. [s]
    prefill_service : float
        Mean time the prompt occupies the prefill path s (equal to ``d`` without chunking;
        with chunked prefill, its share of the steps' token budget). [s]
    service_time : float
        Replica time per request at full occupancy tau. [s]
    service_cv : float
        Coefficient of variation of the prefill service time. [1]
    quantile : float
        Quantile the target bounds; ``inf`` for the mean. [1]
    utilisation_cap : float
        Operational ceiling on utilisation. [1]

    Returns
    -------
    float
        Replica utilisation :math:`\\rho = \\rho_{pf} \\tau / s`, where the prefill path's
        :math:`\\rho_{pf}` puts the wait at the slack :math:`x = TTFT - d`: for the mean
        :math:`\\rho_{pf} = 2x / (s (1 + c_s^2) + 2x)` (inverting :func:`mg1_wait`), for a
        quantile by bisection of :func:`mg1_wait_quantile`; capped; -1 when the prefill alone
        misses the target. [1]
    """
    slack = ttft_target - prefill_duration
    if slack < 0.0:
        return -1.0
    if prefill_service <= 0.0 or slack == float("inf"):
        return utilisation_cap
    if math.isinf(quantile):
        prefill_utilisation = 2.0 * slack / (prefill_service * (1.0 + service_cv**2) + 2.0 * slack)
    else:
        lo, hi = 0.0, 1.0  # the wait grows with the utilisation: keep wait(lo) <= slack
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            if mg1_wait_quantile(mid, prefill_service, service_cv, quantile) <= slack:
                lo = mid
            else:
                hi = mid
        prefill_utilisation = lo
    return min(prefill_utilisation * service_time / prefill_service, utilisation_cap)


@jit
def time_to_first_token(
    utilisation: float,
    prefill_duration: float,
    prefill_service: float,
    service_time: float,
    service_cv: float,
    quantile: float,
) -> float:
    r"""Return a replica's TTFT (mean, or the ``quantile``) at a given utilisation.

    Parameters
    ----------
    utilisation : float
        Replica utilisation rho. [1]
    prefill_duration, prefill_service, service_time, service_cv, quantile : float
        As in :func:`utilisation_for_ttft`. [s], [s], [s], [1], [1]

    Returns
    -------
    float
        :math:`d + W_q(\\rho s / \\tau, s, c_s)`; for a quantile, the prompt's and the wait's
        quantiles added (a long prompt and a long wait together: a conservative
        approximation). [s]
    """
    prefill_utilisation = utilisation * prefill_service / service_time
    wait = mg1_wait_quantile(prefill_utilisation, prefill_service, service_cv, quantile)
    return prefill_duration + wait
