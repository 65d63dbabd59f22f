"""Facility limits that change the hardware itself: racks filled denser than cooling allows."""

from __future__ import annotations

import math

from fleetsim._jit import jit
from fleetsim.layout import (
    C_RACK,
    H_APS,
    H_IDLE,
    H_SERVER_W,
    H_TDP,
    HARDWARE_COLUMNS,
    P_SPR,
)
from fleetsim.physics.power import accelerator_power_cap, clock_scale_for_power_cap

#: hardware columns that scale with the clock (peak FLOP/s at every precision)
_COMPUTE = tuple(i for i, c in enumerate(HARDWARE_COLUMNS) if c.startswith("peak_flops_"))


@jit
def derate_for_rack_density(p, hw, cl, hw_out) -> float:
    """Copy a hardware row into ``hw_out``, derated for a forced rack density; return the clock scale.

    When ``facility.servers_per_rack`` forces more servers into a rack than its cooling limit
    allows at full power, each accelerator is capped at its share of the rack power
    (:func:`fleetsim.physics.power.accelerator_power_cap`) and runs at the clock that fits the
    cap (:func:`fleetsim.physics.power.clock_scale_for_power_cap`): peak FLOP/s scale with the
    clock, memory bandwidth does not, and the cap becomes the accelerator's maximum power.

    Parameters
    ----------
    p : ndarray
        Scenario parameter vector.
    hw : ndarray
        Hardware catalog row (``HARDWARE_COLUMNS`` order, SI).
    cl : ndarray
        Cooling catalog row.
    hw_out : ndarray
        Scratch row, written with the derated hardware.

    Returns
    -------
    float
        Clock scale in (0, 1]; 0 when the cap does not cover idle power (infeasible density).
    """
    for column in range(hw.shape[0]):  # (a slice assignment compiles a shape-error path: ~4 s)
        hw_out[column] = hw[column]
    density = p[P_SPR]
    if math.isinf(density):
        return 1.0
    cap = accelerator_power_cap(cl[C_RACK], density, hw[H_SERVER_W], hw[H_APS])
    scale = clock_scale_for_power_cap(cap, hw[H_IDLE], hw[H_TDP])
    if scale <= 0.0 or scale >= 1.0:
        return scale
    for column in _COMPUTE:
        hw_out[column] = hw[column] * scale
    hw_out[H_TDP] = cap
    return scale
