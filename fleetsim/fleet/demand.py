"""Demand per year."""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def mean_request_rate(first_year_rate: float, growth_per_year: float, year_index: float) -> float:
    r"""Return the mean request rate in a year.

    Parameters
    ----------
    first_year_rate : float
        Mean request rate in year 1. [1/s]
    growth_per_year : float
        Fractional growth per year g (0.5 = +50 % a year). [1]
    year_index : float
        Years after the first (0 for year 1). [1]

    Returns
    -------
    float
        :math:`\\lambda_y = \\lambda_1 (1 + g)^{y-1}`. [1/s]
    """
    return first_year_rate * (1.0 + growth_per_year) ** year_index
