"""What every output of a servable scenario must satisfy, checked by the kernel itself.

The rules come from the output registry (``fleetsim/variables.yaml``): every output is finite
and at least ``min`` (default 0: each is a count, size, time, rate, power, energy, mass, money or
fraction) and at most ``max`` (e.g. 1 for a utilisation); ``positive`` outputs are > 0;
``non_decreasing`` outputs (cumulative TCO) never fall from one year to the next; ``nan_when``
outputs may be NaN, ``undefined_without_demand`` ones in a zero-demand scenario, ``inf_when``
ones +inf. The kernel (:func:`first_violation`) only says *that* a scenario breaks a rule; the
sweep re-evaluates that one scenario and :func:`describe` says which rule, output, year and value.

Upper bounds allow a relative rounding slack of :data:`TOLERANCE` (a utilisation of
``1 + 2e-16`` is a rounding of 1, not nonsense); lower bounds and monotonicity are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from fleetsim import layout
from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.registry import registry

#: flag bits of a rule (third column of the rule tables)
NAN_OK, NAN_OK_NO_DEMAND, INF_OK, POSITIVE, NON_DECREASING = 1, 2, 4, 8, 16
#: relative slack on upper bounds (rounding of quantities that are exactly at the bound)
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Rules:
    """Rule tables the kernel reads: ``(n_outputs, 3)`` float64 rows of (min, max, flags).

    Parameters
    ----------
    scenario : ndarray
        One row per :data:`fleetsim.layout.SCENARIO_OUTPUTS` entry.
    year : ndarray
        One row per :data:`fleetsim.layout.YEAR_OUTPUTS` entry.
    """

    scenario: np.ndarray
    year: np.ndarray


def _row(name: str) -> list[float]:
    entry = registry()[name]
    flags = 0
    flags |= NAN_OK if entry.get("nan_when") else 0
    flags |= NAN_OK_NO_DEMAND if entry.get("undefined_without_demand") else 0
    flags |= INF_OK if entry.get("inf_when") else 0
    flags |= POSITIVE if entry.get("positive") else 0
    flags |= NON_DECREASING if entry.get("non_decreasing") else 0
    high = entry.get("max")
    return [float(entry.get("min", 0.0)), np.inf if high is None else float(high), float(flags)]


@cache
def rules() -> Rules:
    """Return the rule tables from the registry (cached; the arrays must not be modified)."""
    return Rules(
        np.array([_row(n) for n in layout.SCENARIO_OUTPUTS], dtype=np.float64),
        np.array([_row(n) for n in layout.YEAR_OUTPUTS], dtype=np.float64),
    )


@jit
def _breaks(value: float, low: float, top: float, flags: int, no_demand: bool) -> bool:
    """Return whether one value breaks its rule: bounds ``low`` .. ``top`` (slack included)."""
    if np.isnan(value):
        return not ((flags & NAN_OK) or (no_demand and (flags & NAN_OK_NO_DEMAND)))
    if np.isinf(value):
        return not ((flags & INF_OK) and value > 0.0)
    if value < low or value > top:
        return True
    return bool(flags & POSITIVE) and value <= 0.0


@jit
def first_violation(code, o, oy, scenario_rules, year_rules) -> int:
    """Return the first output of a servable scenario that breaks its rule, or -1.

    Parameters
    ----------
    code : int
        The scenario's status code (only servable scenarios are checked).
    o, oy : ndarray
        float64 scenario outputs ``(len(SCENARIO_OUTPUTS),)`` and year outputs
        ``(len(YEAR_OUTPUTS), years)``.
    scenario_rules, year_rules : ndarray
        :class:`Rules` tables.

    Returns
    -------
    int
        -1, a scenario output ``k`` (``0 <= k < len(o)``) or ``len(o) + v * years + y`` for
        year output ``v`` in year index ``y``.
    """
    if code != st.FEASIBLE and code != st.ZERO_DEMAND:
        return -1
    no_demand = code == st.ZERO_DEMAND
    # each rule's terms read once per output (reading them per value made this check cost
    # more than the fleet model it checks)
    for k in range(o.shape[0]):
        low, high, flags = scenario_rules[k, 0], scenario_rules[k, 1], int(scenario_rules[k, 2])
        if _breaks(o[k], low, high + TOLERANCE * abs(high), flags, no_demand):
            return k
    years = oy.shape[1]
    for v in range(oy.shape[0]):
        low, high, flags = year_rules[v, 0], year_rules[v, 1], int(year_rules[v, 2])
        top = high + TOLERANCE * abs(high)
        rising = flags & NON_DECREASING
        for y in range(years):
            value = oy[v, y]
            if _breaks(value, low, top, flags, no_demand):
                return o.shape[0] + v * years + y
            if rising and y > 0 and value < oy[v, y - 1]:  # False when either is NaN
                return o.shape[0] + v * years + y
    return -1


#: rows of the kernel's per-value check terms (:func:`check_terms`)
T_LOW, T_TOP, T_NAN, T_NAN_NO_DEMAND, T_INF = range(5)
#: the smallest positive float64: ``value > 0`` is ``value >= _TINY``
_TINY = 5e-324
_LARGEST = np.finfo(np.float64).max


@jit
def check_terms(rules, width: int):
    """Return the kernel's check of each value: ``(5, n_outputs * width)`` float64 terms.

    Value ``i`` of an output's ``width`` values (its years) keeps its rule exactly when, after
    replacing a NaN by ``terms[T_NAN, i]`` (``T_NAN_NO_DEMAND`` in a zero-demand scenario) and
    +inf by ``terms[T_INF, i]``, it lies in ``terms[T_LOW, i] .. terms[T_TOP, i]``: the bounds are
    finite (so -inf and a +inf not allowed fail), ``positive`` raises the lower bound to the
    smallest positive float64, and the replacement of an allowed NaN or +inf is the lower bound
    (a pass), of any other NaN (a fail). What :func:`outputs_pass` runs, branch-free; the same
    verdict as :func:`first_violation`, value by value (``tests/test_extremes.py``).

    Parameters
    ----------
    rules : ndarray
        A :class:`Rules` table.
    width : int
        Values per output (the horizon for year outputs, 1 for scenario outputs).
    """
    terms = np.empty((5, rules.shape[0] * width))
    for k in range(rules.shape[0]):
        low, high, flags = rules[k, 0], rules[k, 1], int(rules[k, 2])
        if flags & POSITIVE:
            low = max(low, _TINY)
        low = max(low, -_LARGEST)
        top = min(high + TOLERANCE * abs(high), _LARGEST)
        for i in range(k * width, (k + 1) * width):
            terms[T_LOW, i] = low
            terms[T_TOP, i] = top
            terms[T_NAN, i] = low if flags & NAN_OK else np.nan
            terms[T_NAN_NO_DEMAND, i] = low if flags & (NAN_OK | NAN_OK_NO_DEMAND) else np.nan
            terms[T_INF, i] = low if flags & INF_OK else np.nan
    return terms


@jit
def outputs_pass(code, values, terms) -> bool:
    """Return whether every value of a servable scenario keeps its bounds (:func:`check_terms`).

    Parameters
    ----------
    code : int
        The scenario's status code (FEASIBLE or ZERO_DEMAND).
    values : ndarray
        float64 outputs, flat (``o``, or ``oy`` raveled), in the order of ``terms``.
    terms : ndarray
        :func:`check_terms` of their rules.
    """
    nan = T_NAN_NO_DEMAND if code == st.ZERO_DEMAND else T_NAN
    kept = True
    for i in range(values.shape[0]):
        value = values[i]
        value = terms[nan, i] if value != value else value
        value = terms[T_INF, i] if value == np.inf else value
        kept &= (value >= terms[T_LOW, i]) & (value <= terms[T_TOP, i])
    return kept


@jit
def never_falls(oy, rows) -> bool:
    """Return whether the year outputs ``rows`` never fall from one year to the next.

    ``rows`` are the ``non_decreasing`` ones (:func:`rising_rows`); a NaN compares as not falling,
    as in :func:`first_violation` (its own rule catches it).
    """
    kept = True
    for j in range(rows.shape[0]):
        v = rows[j]
        for y in range(1, oy.shape[1]):
            kept &= not oy[v, y] < oy[v, y - 1]
    return kept


@jit
def rising_rows(rules):
    """Return the indexes of the ``non_decreasing`` outputs of a :class:`Rules` table (int64)."""
    count = 0
    for k in range(rules.shape[0]):
        count += (int(rules[k, 2]) & NON_DECREASING) != 0
    rows = np.empty(count, dtype=np.int64)
    count = 0
    for k in range(rules.shape[0]):
        if int(rules[k, 2]) & NON_DECREASING:
            rows[count] = k
            count += 1
    return rows


def describe(index: int, o: np.ndarray, oy: np.ndarray) -> str:
    """Return which rule output ``index`` (from :func:`first_violation`) breaks, in words.

    Parameters
    ----------
    index : int
        A non-negative result of :func:`first_violation` for ``o`` and ``oy``.
    o, oy : ndarray
        The scenario's float64 outputs.

    Returns
    -------
    str
        E.g. ``"utilisation=1.7 in year 12 (allowed: finite, 0 to 1)"``.
    """
    table = rules()
    previous = None
    if index < o.shape[0]:
        name, value, rule, where = (
            layout.SCENARIO_OUTPUTS[index],
            o[index],
            table.scenario[index],
            "",
        )
    else:
        v, y = divmod(index - o.shape[0], oy.shape[1])
        name, value, rule, where = (
            layout.YEAR_OUTPUTS[v],
            oy[v, y],
            table.year[v],
            f" in year {y + 1}",
        )
        previous = oy[v, y - 1] if y > 0 else None
    low, high, flags = rule[0], rule[1], int(rule[2])
    broken = _breaks(value, low, high + TOLERANCE * abs(high), flags, False)
    if previous is not None and not broken and value < previous:
        return f"{name}={value:.6g}{where} is below {previous:.6g} the year before (never falls)"
    allowed = f"> {low:g}" if flags & POSITIVE else f"{low:g} to {high:g}"
    return f"{name}={value:.6g}{where} (allowed: {allowed}{' or +inf' if flags & INF_OK else ''})"
