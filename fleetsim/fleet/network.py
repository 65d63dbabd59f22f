"""Scale-out network fabric sized from the accelerator count (folded-Clos / fat tree)."""

from __future__ import annotations

import numpy as np

from fleetsim._jit import jit


@jit
def fabric_tiers(endpoints: float, radix: float) -> float:
    r"""Return the switch tiers of a non-blocking fat tree for ``endpoints`` ports.

    Parameters
    ----------
    endpoints : float
        Accelerator NIC ports N. [1]
    radix : float
        Ports per switch k. [1]

    Returns
    -------
    float
        Smallest L with :math:`N \\le 2 (k/2)^L` (one tier holds k ports; each extra tier
        multiplies by k/2; Al-Fares et al., SIGCOMM 2008, doi:10.1145/1402958.1402967);
        zero for a single endpoint. [1]
    """
    if endpoints <= 1.0:
        return 0.0
    if endpoints <= radix:
        return 1.0
    tiers = 1.0
    capacity = radix
    while capacity < endpoints:
        tiers += 1.0
        capacity *= radix / 2.0
    return tiers


@jit
def fabric_switches(endpoints: float, radix: float, tiers: float) -> float:
    r"""Return the switches of an L-tier non-blocking fat tree.

    Parameters
    ----------
    endpoints : float
        Accelerator NIC ports N. [1]
    radix : float
        Ports per switch k. [1]
    tiers : float
        Switch tiers L. [1]

    Returns
    -------
    float
        One switch for one tier, else :math:`\\lceil (2L - 1) N / k \\rceil` (every tier but the
        top uses half its ports downward). [1]
    """
    if tiers <= 0.0:
        return 0.0
    if tiers <= 1.0:
        return 1.0
    return np.ceil((2.0 * tiers - 1.0) * endpoints / radix)


@jit
def fabric_transceivers(endpoints: float, tiers: float) -> float:
    """Return the optical transceivers of the fabric.

    Parameters
    ----------
    endpoints : float
        Accelerator NIC ports N. [1]
    tiers : float
        Switch tiers L. [1]

    Returns
    -------
    float
        :math:`2 N L`: every endpoint link and each of the :math:`L-1` inter-tier links per
        endpoint has a transceiver at both ends. [1]
    """
    return 2.0 * endpoints * tiers
