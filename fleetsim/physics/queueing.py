"""Queueing for the first token: the planned utilisation is derived from the TTFT target.

A request first waits for one of the replica's sequence slots (its TPOT-feasible batch: a
continuous-batching engine admits a sequence when another finishes, an M/G/c queue), then for its
prompt's turn on the prefill path. A replica admits prompts through its prefill path: whole prompts one after another, or -- with
chunked prefill -- prompt tokens riding in the decode steps' spare token budget. Requests arrive
as a Poisson stream and prefill service times vary with the prompt length, so the prefill path is
an M/G/1 queue (M/D/1 when every prompt has the mean length). The TTFT target bounds the mean,
or a quantile (``workload.ttft_quantile``, e.g. MLPerf's p99).
"""

from __future__ import annotations

import math

from fleetsim._jit import jit

#: up to this many sequence slots the probability of waiting is Erlang C itself (a recursion of
#: that many steps); beyond, its Halfin-Whitt form, ~10 % high at 300 slots and exact as they grow
EXACT_SLOTS = 64.0


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
def mg1_decay_rate(utilisation: float, service_cv: float) -> float:
    r"""Return the asymptotic decay rate of the M/G/1 waiting time, in units of the mean service.

    Parameters
    ----------
    utilisation : float
        Server utilisation rho in (0, 1). [1]
    service_cv : float
        Coefficient of variation c of the service time. [1]

    Returns
    -------
    float
        :math:`x = \theta s`, the positive root of :math:`\rho (M(x) - 1) = x` with :math:`M` the
        service time's moment generating function at :math:`\theta = x / s` (Cramer-Lundberg:
        :math:`P(W > t) \sim C e^{-\theta t}`; Asmussen, Applied Probability and Queues, 2003,
        XIII.5): :math:`M(x) = e^x` for a deterministic service (c = 0), else that of a gamma of
        the same mean and c, :math:`(1 - c^2 x)^{-1/c^2}` (an assumption on the shape; exact
        for M/M/1, where :math:`x = 1 - \rho`). The left side minus x is convex and vanishes at 0
        with slope :math:`\rho - 1 < 0`, so one root lies above 0; it is found by Newton's method
        kept inside a bracket. [1]
    """
    return decay_rate_from(utilisation, service_cv, math.nan, math.nan)


@jit
def decay_rate_from(
    utilisation: float, service_cv: float, known: float, known_utilisation: float
) -> float:
    r"""Return :func:`mg1_decay_rate`, Newton's iteration started from a root already known.

    Parameters
    ----------
    utilisation, service_cv : float
        As in :func:`mg1_decay_rate`. [1]
    known, known_utilisation : float
        The decay rate at another utilisation (NaN: none). [1]

    Returns
    -------
    float
        The root, Newton's iteration started where the tangent of the root's curve through
        the known one meets ``utilisation`` (:math:`dx/d\rho = -(M - 1) / (\rho M' - 1)`,
        at the root :math:`M = 1 + x / \rho` and :math:`M' = M / (1 - c^2 x)`: no moment
        generating function to evaluate): one to three evaluations of the function instead of
        seven to thirteen from the heavy-traffic rate, where it starts without a known root
        (as :func:`mg1_decay_rate`). The root agrees to the iteration's relative 1e-15. [1]
    """
    rho, c2 = utilisation, service_cv * service_cv

    def excess(x: float) -> tuple[float, float]:  # rho (M(x) - 1) - x and its slope
        # log M(x), for M(x) - 1 without cancellation at small x (expm1, log1p)
        log_mgf = -math.log1p(-c2 * x) / c2 if c2 > 0.0 else x
        if log_mgf > 700.0:  # beyond the root, which rho > e^-700 keeps below this
            return math.inf, math.inf
        mgf_less_1 = math.expm1(log_mgf)
        return rho * mgf_less_1 - x, rho * (mgf_less_1 + 1.0) / (1.0 - c2 * x) - 1.0

    # bracket: the excess is below 0 just above 0 and at least 0 at 2 (1 - rho) / (rho (1 + c^2))
    # (M(x) >= 1 + x + (1 + c^2) x^2 / 2: the gamma's cumulants are positive), short of the
    # gamma's pole 1 / c^2
    lo = 0.0
    hi = 2.0 * (1.0 - rho) / (rho * (1.0 + c2))
    if c2 > 0.0:
        hi = min(hi, 1.0 / c2)
    # Newton's method where it converges inside the bracket, else bisection (Numerical Recipes'
    # rtsafe), from the heavy-traffic rate 2 (1 - rho) / (1 + c^2) or the known root's tangent
    x = min(2.0 * (1.0 - rho) / (1.0 + c2), 0.5 * hi)
    if known > 0.0:  # the tangent through the known root (docstring)
        rho0 = known_utilisation
        rising = (rho0 + known) / (1.0 - c2 * known) - 1.0  # rho0 M'(known) - 1, > 0
        start = known - known / rho0 / rising * (rho - rho0)
        if lo < start < hi:
            x = start
    step = previous = hi - lo
    f, slope = excess(x)
    for _ in range(200):
        if f > 0.0:
            hi = x
        else:
            lo = x
        newton_leaves = ((x - hi) * slope - f) * ((x - lo) * slope - f) > 0.0
        if math.isinf(f) or slope <= 0.0 or newton_leaves or abs(2.0 * f) > abs(previous * slope):
            previous, step = step, 0.5 * (hi - lo)
            x = lo + step
        else:
            previous, step = step, f / slope
            x -= step
        if abs(step) <= 1e-15 * x:
            return x
        f, slope = excess(x)
    return x


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
        :math:`W_q = (s/x) \ln(C / (1 - q))` where :math:`C = x W / s > 1 - q`, else 0: the
        exponential tail :math:`P(W > t) = C e^{-x t / s}` with the exact decay rate
        :func:`mg1_decay_rate` and its weight C set so that the mean is the exact
        :func:`mg1_wait` (Abate, Choudhury and Whitt, "Exponential approximations for tail
        probabilities in queues, I", Oper. Res. 43(5), 1995). Exact for M/M/1; against a
        simulated M/G/1 (gamma service, c = 0 to 1, rho = 0.3 to 0.9) its p99 is within 3 %,
        where the heavy-traffic tail :math:`\rho e^{-\rho t / W}` was up to 29 % long. [s]
    """
    none = math.nan  # no known decay rate to start from
    return _mg1_wait_quantile(utilisation, service_time, service_cv, quantile, none, none)[0]


@jit
def _mg1_wait_quantile(
    utilisation: float,
    service_time: float,
    service_cv: float,
    quantile: float,
    known: float,
    known_utilisation: float,
) -> tuple[float, float]:
    """Return :func:`mg1_wait_quantile` and its decay rate (NaN when none was needed).

    The decay rate is found from the one ``known`` at ``known_utilisation``
    (:func:`decay_rate_from`).
    """
    mean = mg1_wait(utilisation, service_time, service_cv)
    if math.isinf(quantile) or math.isinf(mean):
        return mean, math.nan
    if utilisation <= 0.0:
        return 0.0, math.nan
    x = decay_rate_from(utilisation, service_cv, known, known_utilisation)
    weight = x * mean / service_time
    if weight <= 1.0 - quantile:
        return 0.0, x
    return service_time / x * math.log(weight / (1.0 - quantile)), x


@jit
def slot_wait_quantile(
    utilisation: float, slots: float, lifetime: float, lifetime_factor: float, quantile: float
) -> float:
    r"""Return a quantile of the wait for a free sequence slot (the mean for ``inf``).

    Parameters
    ----------
    utilisation : float
        Replica utilisation rho: mean sequences in flight over the slots. [1]
    slots : float
        Sequences the replica runs at once c (its TPOT-feasible batch); ``inf`` for a replica
        without a slot limit (a disaggregated prefill replica: no wait). [1]
    lifetime : float
        Mean time a sequence holds its slot, from its first to its last token. [s]
    lifetime_factor : float
        :math:`(1 + c_L^2)/2` for lifetimes of coefficient of variation :math:`c_L`. [1]
    quantile : float
        Probability q; ``inf`` returns the mean. [1]

    Returns
    -------
    float
        A continuous-batching replica is an M/G/c queue: a request waits for one of its ``c``
        slots to free up. The probability of waiting is Erlang C (whole slots, up to
        :data:`EXACT_SLOTS`), beyond that its Halfin-Whitt form
        :math:`P_W = [1 + \beta \Phi(\beta) / \varphi(\beta)]^{-1}` with
        :math:`\beta = (1 - \rho) \sqrt{c}` (Halfin and Whitt, Oper. Res. 29(3), 1981), and the
        M/M/c tail
        :math:`P(W > t) = P_W e^{-c (1 - \rho) t / L}`, scaled by the Lee-Longton factor
        :math:`(1 + c_L^2)/2` for general lifetimes (Lee and Longton, Oper. Res. Q. 10, 1959):
        :math:`W_q = f L \ln(P_W / (1 - q)) / (c (1 - \rho))` where :math:`P_W > 1 - q`, else 0;
        inf at rho >= 1. [s]
    """
    if math.isinf(slots):
        return 0.0  # no slot limit: a prefill-only replica
    if utilisation >= 1.0:
        return math.inf
    if slots <= EXACT_SLOTS:  # Erlang B recursion B_k = a B_{k-1} / (k + a B_{k-1}), then C
        c = max(math.floor(slots), 1.0)
        load, erlang_b = utilisation * c, 1.0
        for k in range(1, int(c) + 1):
            erlang_b = load * erlang_b / (k + load * erlang_b)
        p_wait = erlang_b / (1.0 - utilisation * (1.0 - erlang_b))
    else:
        c = slots
        beta = (1.0 - utilisation) * math.sqrt(c)
        density = math.exp(-0.5 * beta * beta)  # sqrt(2 pi) phi(beta)
        cdf = 0.5 * math.erfc(-beta / math.sqrt(2.0))
        p_wait = density / (density + beta * math.sqrt(2.0 * math.pi) * cdf)
    scale = lifetime_factor * lifetime / (c * (1.0 - utilisation))
    if math.isinf(quantile):
        return p_wait * scale
    if p_wait <= 1.0 - quantile:
        return 0.0
    return scale * math.log(p_wait / (1.0 - quantile))


@jit
def queueing_wait(
    utilisation: float,
    prefill_service: float,
    service_time: float,
    service_cv: float,
    slots: float,
    lifetime_factor: float,
    quantile: float,
) -> float:
    r"""Return a request's wait before its prompt is done queueing, at a replica utilisation.

    Parameters
    ----------
    utilisation : float
        Replica utilisation rho. [1]
    prefill_service, service_time, service_cv : float
        As in :func:`utilisation_for_ttft`. [s], [s], [1]
    slots, lifetime_factor : float
        As in :func:`slot_wait_quantile`; a sequence holds its slot for ``service_time * slots``
        (the replica's time per request at full occupancy times the requests it runs at once). [1]
    quantile : float
        Probability q; ``inf`` for the mean. [1]

    Returns
    -------
    float
        :func:`slot_wait_quantile` (waiting for a sequence slot) plus :func:`mg1_wait_quantile` on
        the prefill path at its load :math:`\rho s / \tau` (waiting for the prefill budget); for a
        quantile the two quantiles are added (a conservative approximation). [s]
    """
    return _queueing_wait(utilisation, prefill_service, service_time, service_cv, slots,
                          lifetime_factor, quantile, math.nan, math.nan)[0]  # fmt: skip


@jit
def _queueing_wait(
    utilisation: float,
    prefill_service: float,
    service_time: float,
    service_cv: float,
    slots: float,
    lifetime_factor: float,
    quantile: float,
    known: float,
    known_at: float,
) -> tuple[float, float]:
    """Return :func:`queueing_wait` and the prefill queue's decay rate (NaN when none was needed).

    The decay rate is found from the one ``known`` at the replica utilisation ``known_at``
    (:func:`decay_rate_from`).
    """
    wait = slot_wait_quantile(utilisation, slots, service_time * slots, lifetime_factor, quantile)
    rate = math.nan
    if prefill_service > 0.0:
        prefill_wait, rate = _mg1_wait_quantile(
            utilisation * prefill_service / service_time, prefill_service, service_cv, quantile,
            known, known_at * prefill_service / service_time,
        )  # fmt: skip
        wait += prefill_wait
    return wait, rate


@jit
def utilisation_for_ttft(
    ttft_target: float,
    prefill_duration: float,
    prefill_service: float,
    service_time: float,
    service_cv: float,
    quantile: float,
    utilisation_cap: float,
    slots: float,
    lifetime_factor: float,
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
    slots, lifetime_factor : float
        Sequences the replica runs at once, and :math:`(1 + c_O^2)/2` of the output lengths
        (:func:`slot_wait_quantile`). [1]

    Returns
    -------
    float
        The utilisation at which :func:`queueing_wait` equals the slack :math:`x = TTFT - d`
        (the Illinois method to a relative 1e-15: the wait grows with rho), or the cap where
        the wait at the cap fits; -1 when the prefill alone misses the target. [1]
    """
    slack = ttft_target - prefill_duration
    if slack < 0.0:
        return -1.0
    if slack == math.inf:
        return utilisation_cap
    args = (prefill_service, service_time, service_cv, slots, lifetime_factor, quantile)
    wait_hi, rate = _queueing_wait(utilisation_cap, *args, math.nan, math.nan)
    rate_at = utilisation_cap
    excess_hi = wait_hi - slack
    if excess_hi <= 0.0:
        return utilisation_cap  # the target does not bind: skip the root finding
    # the Illinois method (regula falsi that halves a kept end's excess; Dowell and Jarratt, BIT
    # 11, 1971) on the bracket [0, cap]: the wait is 0 at 0, continuous and rising; about a
    # dozen waits instead of bisection's fifty, each wait costing a decay-rate root, whose
    # Newton iteration starts from the root at the previous utilisation tried (a few
    # evaluations instead of about ten: the prefill tail had made the search 3x dearer)
    lo, hi, excess_lo, kept = 0.0, utilisation_cap, -slack, 0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if not math.isinf(excess_hi) and excess_hi > excess_lo:
            guess = (lo * excess_hi - hi * excess_lo) / (excess_hi - excess_lo)
            if lo < guess < hi:
                mid = guess
        if mid <= lo or mid >= hi or hi - lo <= 1e-15 * hi:
            return lo
        wait, found = _queueing_wait(mid, *args, rate, rate_at)
        excess = wait - slack
        if found == found:  # (NaN when the wait needed no decay rate)
            rate, rate_at = found, mid
        if excess <= 0.0:
            lo, excess_lo = mid, excess
            if kept == -1:  # lo moved twice running: halve hi's excess
                excess_hi *= 0.5
            kept = -1
        else:
            hi, excess_hi = mid, excess
            if kept == 1:
                excess_lo *= 0.5
            kept = 1
    return lo


@jit
def time_to_first_token(
    utilisation: float,
    prefill_duration: float,
    prefill_service: float,
    service_time: float,
    service_cv: float,
    quantile: float,
    slots: float,
    lifetime_factor: float,
) -> float:
    r"""Return a replica's TTFT (mean, or the ``quantile``) at a given utilisation.

    Parameters
    ----------
    utilisation : float
        Replica utilisation rho. [1]
    prefill_duration, prefill_service, service_time, service_cv, quantile : float
        As in :func:`utilisation_for_ttft`. [s], [s], [s], [1], [1]
    slots, lifetime_factor : float
        As in :func:`utilisation_for_ttft`. [1]

    Returns
    -------
    float
        :math:`d` plus :func:`queueing_wait`; for a quantile, the prompt's and the waits'
        quantiles added (a long prompt and long waits together: a conservative
        approximation). [s]
    """
    return prefill_duration + queueing_wait(
        utilisation, prefill_service, service_time, service_cv, slots, lifetime_factor, quantile
    )
