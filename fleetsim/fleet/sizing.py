"""Replicas, servers and racks for a demand, as float64 whole numbers (never a wrapping int)."""

from __future__ import annotations

import numpy as np

from fleetsim._jit import jit


@jit
def replicas_needed(peak_rate: float, replica_rate: float, utilisation: float, spare_frac: float):
    r"""Return the model replicas needed to serve a peak request rate.

    Parameters
    ----------
    peak_rate : float
        Peak request rate. [1/s]
    replica_rate : float
        Requests per second one replica serves at full load. [1/s]
    utilisation : float
        Planned utilisation at peak. [1]
    spare_frac : float
        Redundant replicas as a fraction of those needed (N+k as a fraction). [1]

    Returns
    -------
    float
        :math:`n = \\lceil \\lambda_{peak} / (\\lambda_{max} \\rho) \\rceil + \\lceil s \\, n \\rceil`. [1]
    """
    base = np.ceil(peak_rate / (replica_rate * utilisation))
    return base + np.ceil(spare_frac * base)


@jit
def servers_needed(
    replicas: float, accelerators_per_replica: float, accelerators_per_server: float
):
    r"""Return whole servers for a number of replicas.

    Parameters
    ----------
    replicas : float
        Model replicas. [1]
    accelerators_per_replica : float
        t x p accelerators of one replica. [1]
    accelerators_per_server : float
        Accelerators in one server. [1]

    Returns
    -------
    float
        Replicas spanning servers take :math:`\\lceil n_r / n_s \\rceil` servers each; smaller
        replicas pack :math:`\\lfloor n_s / n_r \\rfloor` to a server. [1]
    """
    if accelerators_per_replica >= accelerators_per_server:
        return replicas * np.ceil(accelerators_per_replica / accelerators_per_server)
    per_server = np.floor(accelerators_per_server / accelerators_per_replica)
    return np.ceil(replicas / per_server)


@jit
def servers_per_rack(server_power: float, rack_power_limit: float) -> float:
    r"""Return how many servers one rack can hold within its cooling limit.

    Parameters
    ----------
    server_power : float
        Peak power of one server. [W]
    rack_power_limit : float
        IT power one rack can be cooled at. [W]

    Returns
    -------
    float
        :math:`\\lfloor P_{rack} / P_{server} \\rfloor` (zero when one server exceeds the limit). [1]
    """
    return np.floor(rack_power_limit / server_power)
