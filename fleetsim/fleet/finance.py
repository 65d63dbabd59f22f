"""Money over years: prices with yearly decline, cohorts of purchases, depreciation."""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def price_in_year(first_year_price: float, decline_per_year: float, year_index: float) -> float:
    """Return a price after yearly declines.

    Parameters
    ----------
    first_year_price : float
        Price in year 1. [USD]
    decline_per_year : float
        Fractional price decline per year d. [1]
    year_index : float
        Years after the first. [1]

    Returns
    -------
    float
        :math:`p_y = p_1 (1 - d)^{y-1}`. [USD]
    """
    return first_year_price * (1.0 - decline_per_year) ** year_index


@jit
def window_sum(values, first: int, last: int) -> float:
    """Return ``values[first] + ... + values[last]``, clipping ``first`` at 0.

    Used for cohorts: units bought in year j serve years j .. j+L-1, so in year y the units
    bought earlier and still in service are ``window_sum(bought, y-L+1, y-1)``; straight-line
    depreciation over D years is ``window_sum(spend, y-D+1, y) / D``.

    Parameters
    ----------
    values : ndarray
        One value per year index. [any]
    first, last : int
        Inclusive year-index range. [1]

    Returns
    -------
    float
        The sum (0 for an empty range). [same as values]
    """
    total = 0.0
    for j in range(max(0, first), last + 1):
        total += values[j]
    return total
