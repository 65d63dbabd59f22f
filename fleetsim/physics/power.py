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


@jit
def accelerator_power_cap(
    rack_power_limit: float,
    servers_per_rack: float,
    server_overhead_power: float,
    accelerators_per_server: float,
) -> float:
    """Return the power each accelerator may draw when a rack is filled to a forced density.

    Parameters
    ----------
    rack_power_limit : float
        IT power one rack can be cooled at. [W]
    servers_per_rack : float
        Servers placed in the rack. [1]
    server_overhead_power : float
        Non-accelerator power of one server. [W]
    accelerators_per_server : float
        Accelerators in one server. [1]

    Returns
    -------
    float
        :math:`(P_{rack} / n_{servers} - P_{overhead}) / n_{acc}`. [W]
    """
    return (rack_power_limit / servers_per_rack - server_overhead_power) / accelerators_per_server


@jit
def clock_scale_for_power_cap(power_cap: float, idle_power: float, max_power: float) -> float:
    """Return the fraction of full clock an accelerator keeps under a power cap.

    Parameters
    ----------
    power_cap : float
        Power the accelerator may draw. [W]
    idle_power : float
        Idle power (not reduced by lowering the clock). [W]
    max_power : float
        Power at full clock and full load (TDP). [W]

    Returns
    -------
    float
        :math:`s = ((P_{cap} - P_{idle}) / (P_{max} - P_{idle}))^{1/3}` capped at 1; 0 when the cap
        does not even cover idle power. Dynamic CMOS power is :math:`C V^2 f` and DVFS lowers the
        voltage with the frequency, so dynamic power falls roughly with :math:`f^3`
        (Weste and Harris, CMOS VLSI Design, 4th ed., section 5.2). This is a model assumption:
        real firmware also caps memory clocks and boosts unevenly.
    """
    if power_cap >= max_power:
        return 1.0
    if power_cap <= idle_power:
        return 0.0
    return ((power_cap - idle_power) / (max_power - idle_power)) ** (1.0 / 3.0)
