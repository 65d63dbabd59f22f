"""Accelerator and facility power."""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def accelerator_power(idle_power: float, max_power: float, utilisation: float) -> float:
    """Return the mean power of an accelerator at a utilisation.

    Parameters
    ----------
    idle_power : float
        Power when idle. [W]
    max_power : float
        Power when fully busy (TDP). [W]
    utilisation : float
        Busy fraction u in [0, 1]. [1]

    Returns
    -------
    float
        :math:`P(u) = P_{idle} + (P_{max} - P_{idle}) u` (linear power model; DESIGN.md section 3). [W]
    """
    return idle_power + (max_power - idle_power) * utilisation
