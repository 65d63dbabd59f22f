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


@jit
def _passes(
    value: float, low: float, top: float, nan_ok: bool, inf_ok: bool, positive: bool
) -> bool:
    """Return whether one value keeps its rule: ``not _breaks(...)`` without branches.

    Finite and within bounds (and > 0 if ``positive``), or NaN where allowed, or +inf where
    allowed; written so that a loop of it vectorises (``tests/test_extremes.py`` checks it
    against :func:`_breaks`).
    """
    bounded = (value >= low) & (value <= top) & (abs(value) < np.inf)
    return (
        (bounded & ((value > 0.0) | (not positive)))
        | ((value != value) & nan_ok)
        | ((value == np.inf) & inf_ok)
    )


@jit
def _terms(rules, k: int, no_demand: bool):
    """Return rule ``k``'s (low, top, nan_ok, inf_ok, positive, non_decreasing)."""
    low, high, flags = rules[k, 0], rules[k, 1], int(rules[k, 2])
    nan_ok = (flags & NAN_OK) != 0 or (no_demand and (flags & NAN_OK_NO_DEMAND) != 0)
    return (
        low, high + TOLERANCE * abs(high), nan_ok, (flags & INF_OK) != 0,
        (flags & POSITIVE) != 0, (flags & NON_DECREASING) != 0,
    )  # fmt: skip


@jit
def scenario_outputs_pass(code, o, scenario_rules) -> bool:
    """Return whether every scenario output of a servable scenario keeps its rule.

    The kernel's check, with :func:`year_outputs_pass`: the same verdict as
    :func:`first_violation` (which also says where), branch-free.

    Parameters
    ----------
    code : int
        The scenario's status code (servable: FEASIBLE or ZERO_DEMAND).
    o : ndarray
        float64 scenario outputs ``(len(SCENARIO_OUTPUTS),)``.
    scenario_rules : ndarray
        :attr:`Rules.scenario`.
    """
    no_demand = code == st.ZERO_DEMAND
    kept = True
    for k in range(o.shape[0]):
        low, top, nan_ok, inf_ok, positive, _ = _terms(scenario_rules, k, no_demand)
        kept &= _passes(o[k], low, top, nan_ok, inf_ok, positive)
    return kept


@jit
def year_outputs_pass(code, oy, year_rules, rows) -> bool:
    """Return whether the year outputs ``rows`` of a servable scenario keep their rules.

    Parameters
    ----------
    code : int
        As in :func:`scenario_outputs_pass`.
    oy : ndarray
        float64 year outputs ``(len(YEAR_OUTPUTS), years)``.
    year_rules : ndarray
        :attr:`Rules.year`.
    rows : tuple of int
        Indexes into ``YEAR_OUTPUTS`` to check.
    """
    no_demand = code == st.ZERO_DEMAND
    years = oy.shape[1]
    kept = True
    for v in rows:
        low, top, nan_ok, inf_ok, positive, rising = _terms(year_rules, v, no_demand)
        for y in range(years):
            kept &= _passes(oy[v, y], low, top, nan_ok, inf_ok, positive)
        if rising:
            for y in range(1, years):
                kept &= not oy[v, y] < oy[v, y - 1]  # False when either is NaN
    return kept


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
