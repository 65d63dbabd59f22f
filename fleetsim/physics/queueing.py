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

#: most Newton steps when inverting a waiting-time quantile (it converges in a handful)
_NEWTON_STEPS = 60


#: Acklam's rational approximation of the normal quantile (relative error < 1.2e-9)
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)  # fmt: skip
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_LOW = 0.02425


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
        z: P. J. Acklam's rational approximation (2003), refined by one Halley step on
        :math:`\\Phi(z) = \\mathrm{erfc}(-z/\\sqrt{2})/2` to full double precision. [1]
    """
    q = quantile
    if q < _P_LOW or q > 1.0 - _P_LOW:
        t = math.sqrt(-2.0 * math.log(q if q < _P_LOW else 1.0 - q))
        num = ((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5]
        z = num / ((((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1.0)
        if q > 1.0 - _P_LOW:
            z = -z
    else:
        u = q - 0.5
        r = u * u
        num = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * u
        z = num / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)
    error = 0.5 * math.erfc(-z / math.sqrt(2.0)) - q
    step = error * math.sqrt(2.0 * math.pi) * math.exp(0.5 * z * z)
    return z - step / (1.0 + 0.5 * z * step)


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
def _utilisation_for_wait_quantile(slack: float, scale: float, tail: float) -> float:
    r"""Return rho with :func:`mg1_wait_quantile` equal to ``slack``.

    With :math:`A = s (1 + c_s^2)/2` (``scale``) and :math:`\epsilon = 1 - q` (``tail``) the
    quantile wait is :math:`A \ln(\rho/\epsilon)/(1 - \rho)`; its root in :math:`u = \ln \rho`,
    :math:`g(u) = A (u - \ln \epsilon) - x (1 - e^u)`, is increasing and convex, so Newton's
    method from :math:`u = 0` (:math:`\rho = 1`) descends onto it monotonically. [1]
    """
    u = 0.0
    for _ in range(_NEWTON_STEPS):
        g = scale * (u - math.log(tail)) - slack * (1.0 - math.exp(u))
        step = g / (scale + slack * math.exp(u))
        u -= step
        if step <= 1e-15:
            break
    return max(math.exp(u), tail)


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
        quantile by Newton's method on :func:`mg1_wait_quantile`; capped; -1 when the prefill alone
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
        at_cap = utilisation_cap * prefill_service / service_time
        if mg1_wait_quantile(at_cap, prefill_service, service_cv, quantile) <= slack:
            return utilisation_cap  # the target does not bind: skip the root finding
        prefill_utilisation = _utilisation_for_wait_quantile(
            slack, prefill_service * (1.0 + service_cv**2) / 2.0, 1.0 - quantile
        )
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
