"""The fleet over years: demand -> replicas -> servers -> racks -> fabric -> power -> money.

DESIGN.md section 4. Accelerators are bought in whole servers when the fleet grows or a cohort
reaches the end of its life, at that year's price (every count is a float64 whole number, so
no fleet size wraps around however long the horizon or fast the growth); capex is cash; depreciation is straight-line;
opex is energy (facility power x price), colocation (peak IT power x $/kW-month), maintenance
(fraction of the value in service), staff and software. Cost per token splits the year's
accrual cost (depreciation + opex) between input and output tokens by the replica's time spent
on prefill vs decode. Renting the same fleet 24/7 is priced alongside, with the utilisation at
which owning and renting only busy accelerator-hours cost the same.
"""

from __future__ import annotations

import math

import numpy as np

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.fleet.demand import mean_request_rate
from fleetsim.fleet.finance import price_in_year, window_sum
from fleetsim.fleet.network import fabric_switches, fabric_tiers, fabric_transceivers
from fleetsim.fleet.sizing import replicas_needed, servers_needed, servers_per_rack
from fleetsim.layout import (
    C_FLOOR,
    C_PUE,
    C_RACK,
    F_NIC_USD,
    F_NIC_W,
    F_RADIX,
    F_SW_USD,
    F_SW_W,
    F_XCVR_USD,
    F_XCVR_W,
    H_APS,
    H_IDLE,
    H_PRICE,
    H_RENT,
    H_SERVER_PRICE,
    H_SERVER_W,
    H_TDP,
    P_BUILD,
    P_BUILDING_LIFE,
    P_CARBON,
    P_COLO,
    P_DECLINE,
    P_DEPR,
    P_DISCOUNT,
    P_ELEC,
    P_GROWTH,
    P_IN,
    P_LIFE,
    P_MAINT,
    P_OUT,
    P_PEAK,
    P_RATE,
    P_RENT,
    P_SOFTWARE,
    P_SPARE,
    P_SPR,
    P_STAFF_COST,
    P_STAFF_N,
    S_NREP,
    S_PREFILL_SHARE,
    S_RATE,
    S_UTIL,
    Y_ACC,
    Y_BREAK_EVEN,
    Y_CAPEX,
    Y_CARBON,
    Y_CPM,
    Y_CPM_IN,
    Y_CPR,
    Y_DEPR,
    Y_ENERGY,
    Y_EPT,
    Y_FAC,
    Y_FAC_CAPEX,
    Y_FACILITY,
    Y_FLOOR,
    Y_HW_CAPEX,
    Y_IT,
    Y_MAINT,
    Y_NET_CAPEX,
    Y_NPV,
    Y_OPEX,
    Y_PEAKUTIL,
    Y_RACKS,
    Y_RENT,
    Y_RENT_TCO,
    Y_SERVERS,
    Y_SOFTWARE,
    Y_STAFF,
    Y_TCO,
    Y_TOKENS,
    Y_UTIL,
)  # fmt: skip
from fleetsim.physics.power import accelerator_power
from fleetsim.units import SECONDS_PER_YEAR


@jit
def fleet_servers(p, replica_rate, utilisation, n_rep, per_server, y):
    """Return the servers of year ``y``'s fleet of replicas at one operating point.

    Parameters
    ----------
    p : ndarray
        Scenario parameter vector (SI).
    replica_rate : float
        Requests per second one replica serves at full load. [1/s]
    utilisation : float
        Planned utilisation at peak. [1]
    n_rep : float
        Accelerators per replica. [1]
    per_server : float
        Accelerators per server. [1]
    y : int
        Year index (0 = year 1).

    Returns
    -------
    float
        Whole servers for the year's peak demand at the planned utilisation, spares included. [1]
    """
    rate = mean_request_rate(p[P_RATE], p[P_GROWTH], y)
    replicas = replicas_needed(rate * p[P_PEAK], replica_rate, utilisation, p[P_SPARE])
    return servers_needed(replicas, n_rep, per_server)


@jit
def accelerator_years(p, replica_rate, utilisation, n_rep, per_server, years):
    """Return the accelerators of a fleet at one operating point, summed over the horizon.

    Parameters as in :func:`fleet_servers`; ``years`` is the horizon. What a pool's layout
    search minimises (:func:`fleetsim.physics.layout_search.search_layout`): the accelerators
    (and so the servers, power and money) the scenario's demand needs, year by year as
    :func:`fleet_years` sizes the fleet. [1]
    """
    total = 0.0
    for y in range(years):
        total += fleet_servers(p, replica_rate, utilisation, n_rep, per_server, y) * per_server
    return total


#: rows of the fleet's scratch array ``q`` (``(N_SCRATCH, years)``): accelerators bought and
#: capital spent on hardware + network and on facility construction per year, written by
#: :func:`fleet_sizes`; its peak IT power, the spend of the cohorts in service (what maintenance
#: is charged on) and the mean request rate per year, read by :func:`fleet_costs`
Q_BOUGHT, Q_SPEND, Q_FACILITY_SPEND, Q_PEAK_IT, Q_IN_SERVICE, Q_RATE = range(6)
N_SCRATCH = 6


@jit
def fleet_years(p, hw, fb, cl, o, oy, q, shared):
    """Size and price the fleet for every year into ``oy`` (see ``YEAR_OUTPUTS``).

    :func:`fleet_sizes`, then :func:`fleet_costs` (the kernel calls them apart, to reuse the
    sizes across scenarios that differ only in the prices the costs read).

    Parameters
    ----------
    p : ndarray
        Scenario parameter vector (SI; slots in :mod:`fleetsim.layout`).
    hw, fb, cl : ndarray
        This scenario's hardware (derated for rack density), fabric and cooling rows.
    o : ndarray
        The replica's operating point (from ``replica_operating_point``).
    oy : ndarray
        ``(len(YEAR_OUTPUTS), years)`` outputs, written.
    q : ndarray
        Scratch ``(N_SCRATCH, years)``.
    shared : ndarray
        Accelerators of another pool on the same scale-out fabric, per year
        (zeros for none): the fabric is sized for both pools and this fleet
        pays its endpoints' share of the switches and transceivers.

    Returns
    -------
    int
        :mod:`fleetsim.status` code: FEASIBLE, ZERO_DEMAND or RACK_POWER_EXCEEDED.
    """
    code = fleet_sizes(p, hw, fb, cl, o, oy, q, shared)
    if code != st.RACK_POWER_EXCEEDED:
        fleet_costs(p, hw, o, oy, q)
    return code


@jit
def fleet_sizes(p, hw, fb, cl, o, oy, q, shared):
    """Size the fleet and its capital spending for every year: the outputs no running cost reads.

    Writes the year outputs :data:`SIZED` and the scratch rows of ``q``; the slots of ``p`` it
    reads (with :func:`fleet_servers`') are :func:`fleetsim.physics_inputs.fleet_slots`: the
    kernel keeps its results for the next scenario when none of them changed. Parameters and
    return value as in :func:`fleet_years`.
    """
    years = oy.shape[1]
    per_server = hw[H_APS]
    replica_rate, n_rep = o[S_RATE], o[S_NREP]
    output = p[P_OUT]
    if math.isinf(p[P_SPR]):
        rack_servers = servers_per_rack(per_server * hw[H_TDP] + hw[H_SERVER_W], cl[C_RACK])
    else:
        rack_servers = p[P_SPR]
    if rack_servers < 1.0:
        return st.RACK_POWER_EXCEEDED
    lifetime, depreciation_years = int(p[P_LIFE]), int(p[P_DEPR])
    built = 0.0  # IT capacity of an owned facility built so far [W]
    owned = not math.isinf(p[P_BUILD])
    bought, spend, facility_spend = q[Q_BOUGHT], q[Q_SPEND], q[Q_FACILITY_SPEND]
    building_life = int(p[P_BUILDING_LIFE])
    for y in range(years):
        rate = mean_request_rate(p[P_RATE], p[P_GROWTH], y)
        peak_rate = rate * p[P_PEAK]
        servers = fleet_servers(p, replica_rate, o[S_UTIL], n_rep, per_server, y)
        accelerators = servers * per_server
        busy = 0.0
        peak_busy = 0.0
        if (
            accelerators > 0.0
        ):  # busy fraction over all accelerators (idle ones in part-filled servers)
            busy = rate / replica_rate * n_rep / accelerators
            peak_busy = peak_rate / replica_rate * n_rep / accelerators
        # one server alone needs no scale-out fabric; beside another pool it joins that fabric
        other = shared[y]
        endpoints = accelerators if servers > 1.0 or other > 0.0 else 0.0
        ports = endpoints + other
        tiers = fabric_tiers(ports, fb[F_RADIX])
        switches = fabric_switches(ports, fb[F_RADIX], tiers)
        transceivers = fabric_transceivers(ports, tiers)
        share = endpoints / ports if ports > 0.0 else 0.0  # this fleet's share of the fabric
        network_power = (
            switches * fb[F_SW_W] + transceivers * fb[F_XCVR_W]
        ) * share + endpoints * fb[F_NIC_W]
        network_cost = (
            switches * fb[F_SW_USD] + transceivers * fb[F_XCVR_USD]
        ) * share + endpoints * fb[F_NIC_USD]
        it_power = (
            accelerators * accelerator_power(hw[H_IDLE], hw[H_TDP], busy)
            + servers * hw[H_SERVER_W]
            + network_power
        )
        it_power_peak = accelerators * hw[H_TDP] + servers * hw[H_SERVER_W] + network_power
        facility_power = it_power * cl[C_PUE]
        tokens = rate * output * SECONDS_PER_YEAR

        hardware_unit = hw[H_PRICE] + hw[H_SERVER_PRICE] / per_server
        network_unit = network_cost / accelerators if accelerators > 0.0 else 0.0
        in_service = window_sum(bought, y - lifetime + 1, y - 1)
        bought[y] = max(0.0, accelerators - in_service)
        hardware_capex = bought[y] * price_in_year(hardware_unit, p[P_DECLINE], y)
        network_capex = bought[y] * price_in_year(network_unit, p[P_DECLINE], y)
        spend[y] = hardware_capex + network_capex
        if owned:  # build capacity for peak IT power as the fleet grows; no colocation fee
            facility_spend[y] = max(0.0, it_power_peak - built) * p[P_BUILD]
            built = max(built, it_power_peak)
        else:
            facility_spend[y] = 0.0
        depreciation = (
            window_sum(spend, y - depreciation_years + 1, y) / depreciation_years
            + window_sum(facility_spend, y - building_life + 1, y) / building_life
        )
        q[Q_PEAK_IT, y] = it_power_peak
        q[Q_IN_SERVICE, y] = window_sum(spend, y - lifetime + 1, y)
        q[Q_RATE, y] = rate

        oy[Y_ACC, y] = accelerators
        oy[Y_SERVERS, y] = servers
        oy[Y_RACKS, y] = np.ceil(servers / rack_servers)
        oy[Y_FLOOR, y] = oy[Y_RACKS, y] * cl[C_FLOOR]
        oy[Y_UTIL, y] = busy
        oy[Y_PEAKUTIL, y] = peak_busy
        oy[Y_IT, y] = it_power
        oy[Y_FAC, y] = facility_power
        oy[Y_TOKENS, y] = tokens
        oy[Y_CAPEX, y] = spend[y] + facility_spend[y]
        oy[Y_FAC_CAPEX, y] = facility_spend[y]
        oy[Y_HW_CAPEX, y] = hardware_capex
        oy[Y_NET_CAPEX, y] = network_capex
        oy[Y_DEPR, y] = depreciation
        oy[Y_EPT, y] = facility_power * SECONDS_PER_YEAR / tokens if tokens > 0.0 else np.nan
    if p[P_RATE] <= 0.0:
        return st.ZERO_DEMAND
    return st.FEASIBLE


#: the year outputs :func:`fleet_sizes` writes (:func:`fleet_costs` writes the others)
SIZED = (Y_ACC, Y_SERVERS, Y_RACKS, Y_FLOOR, Y_UTIL, Y_PEAKUTIL, Y_IT, Y_FAC, Y_TOKENS, Y_CAPEX,
         Y_FAC_CAPEX, Y_HW_CAPEX, Y_NET_CAPEX, Y_DEPR, Y_EPT)  # fmt: skip


@jit
def fleet_costs(p, hw, o, oy, q):
    """Price the running costs of a sized fleet (:func:`fleet_sizes`) for every year into ``oy``.

    Reads the sized outputs and ``q``; writes the other year outputs of an aggregated fleet
    (energy, facility, maintenance, staff, software, opex, TCO, NPV, renting, carbon and the
    per-token and per-request costs). Parameters as in :func:`fleet_years`.
    """
    years = oy.shape[1]
    rental = hw[H_RENT] if math.isinf(p[P_RENT]) else p[P_RENT]
    if rental <= 0.0:  # no rental price known for this hardware
        rental = np.nan
    # share of a replica's time (and so of its cost) spent on prompts (physics.operating_point)
    input_share = o[S_PREFILL_SHARE]
    prompt = p[P_IN]
    owned = not math.isinf(p[P_BUILD])
    tco = 0.0
    npv = 0.0
    rent_tco = 0.0
    for y in range(years):
        accelerators, facility_power = oy[Y_ACC, y], oy[Y_FAC, y]
        tokens, rate = oy[Y_TOKENS, y], q[Q_RATE, y]
        capex = oy[Y_CAPEX, y]
        energy = facility_power * SECONDS_PER_YEAR * p[P_ELEC]
        facility = 0.0 if owned else q[Q_PEAK_IT, y] * p[P_COLO] * SECONDS_PER_YEAR
        maintenance = p[P_MAINT] * q[Q_IN_SERVICE, y]
        staff = p[P_STAFF_N] * accelerators / 1000.0 * p[P_STAFF_COST] * SECONDS_PER_YEAR
        software = accelerators * p[P_SOFTWARE] * SECONDS_PER_YEAR
        opex = energy + facility + maintenance + staff + software
        tco += capex + opex
        npv += (capex + opex) / (1.0 + p[P_DISCOUNT]) ** y
        rent = accelerators * rental * SECONDS_PER_YEAR
        rent_tco += rent + staff + software

        oy[Y_CARBON, y] = facility_power * SECONDS_PER_YEAR * p[P_CARBON]
        oy[Y_ENERGY, y] = energy
        oy[Y_FACILITY, y] = facility
        oy[Y_MAINT, y] = maintenance
        oy[Y_STAFF, y] = staff
        oy[Y_SOFTWARE, y] = software
        oy[Y_OPEX, y] = opex
        oy[Y_TCO, y] = tco
        oy[Y_NPV, y] = npv
        oy[Y_RENT, y] = rent
        oy[Y_RENT_TCO, y] = rent_tco
        accrual = oy[Y_DEPR, y] + opex
        if tokens > 0.0:
            oy[Y_CPM, y] = accrual * (1.0 - input_share) / tokens * 1e6
            oy[Y_CPM_IN, y] = accrual * input_share / (rate * prompt * SECONDS_PER_YEAR) * 1e6
            oy[Y_CPR, y] = accrual / (rate * SECONDS_PER_YEAR)
        else:
            oy[Y_CPM, y] = np.nan
            oy[Y_CPM_IN, y] = np.nan
            oy[Y_CPR, y] = np.nan
        # renting only busy accelerator-hours costs busy x rent: equal to owning at this busy fraction
        oy[Y_BREAK_EVEN, y] = accrual / rent if rent > 0.0 else np.nan
