"""The kernel: evaluate scenarios ``lo .. hi-1`` of a sweep, in parallel, into preallocated arrays.

Each scenario is decoded from its flat index over the swept axes (C order, last axis fastest);
the Cartesian product of inputs is never materialised. A scenario's parameters are the base
vector (one value per :data:`fleetsim.config.FIELDS` entry, in SI) with the swept slots replaced
by that scenario's axis values. Physics per replica (DESIGN.md section 3) gives the operating
point; the fleet loop over years (section 4) sizes and prices it. Infeasible scenarios get a
status code from :mod:`fleetsim.status` and NaN outputs. No I/O, no Python objects.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from fleetsim import status as st
from fleetsim._jit import jit, kernel_jit
from fleetsim.config import FIELDS
from fleetsim.fleet.demand import mean_request_rate
from fleetsim.fleet.finance import price_in_year, window_sum
from fleetsim.fleet.network import fabric_switches, fabric_tiers, fabric_transceivers
from fleetsim.fleet.sizing import replicas_needed, servers_needed, servers_per_rack
from fleetsim.physics.memory import max_batch_size
from fleetsim.physics.power import accelerator_power
from fleetsim.physics.queueing import time_to_first_token, utilisation_for_ttft
from fleetsim.physics.serving import decode_step_time, prefill_time
from fleetsim.units import SECONDS_PER_YEAR

#: column order of the tables the kernel reads (sweep.py reorders catalog tables to match)
HARDWARE_COLUMNS: tuple[str, ...] = (
    "peak_flops_bf16", "peak_flops_fp8", "peak_flops_int8", "peak_flops_fp4", "hbm_capacity",
    "hbm_bandwidth", "scaleup_bandwidth", "scaleup_domain", "scaleout_bandwidth", "tdp", "idle_power",
    "accelerators_per_server", "server_overhead_power", "price_purchase", "server_price",
    "compute_efficiency", "bandwidth_efficiency",
)  # fmt: skip
FABRIC_COLUMNS: tuple[str, ...] = (
    "switch_radix", "switch_power", "switch_price", "transceiver_power", "transceiver_price",
    "nic_power", "nic_price", "effective_bandwidth_frac",
)  # fmt: skip
COOLING_COLUMNS: tuple[str, ...] = ("pue", "rack_power_limit")

#: kernel outputs per scenario and per scenario-year, in array order (names from variables.yaml)
SCENARIO_OUTPUTS: tuple[str, ...] = (
    "batch_size", "max_batch_size", "accelerators_per_replica", "weight_bytes", "kv_bytes_per_token",
    "prefill_time_s", "ttft_s", "tpot_s", "tokens_per_s_per_accelerator",
    "max_tokens_per_s_per_accelerator", "replica_requests_per_s", "target_utilisation",
)  # fmt: skip
YEAR_OUTPUTS: tuple[str, ...] = (
    "accelerators", "servers", "racks", "utilisation", "peak_utilisation", "it_power_w",
    "facility_power_w", "energy_per_token_j", "output_tokens", "capex_usd", "depreciation_usd",
    "energy_cost_usd", "facility_cost_usd", "maintenance_cost_usd", "staff_cost_usd", "opex_usd",
    "tco_usd", "cost_per_million_output_tokens_usd",
)  # fmt: skip

#: bytes per activation element in tensor-parallel all-reduces (BF16 activations)
ACTIVATION_BYTES = 2.0

_P = {f.key: i for i, f in enumerate(FIELDS)}
_H = {c: i for i, c in enumerate(HARDWARE_COLUMNS)}
_F = {c: i for i, c in enumerate(FABRIC_COLUMNS)}
_S = {c: i for i, c in enumerate(SCENARIO_OUTPUTS)}
_Y = {c: i for i, c in enumerate(YEAR_OUTPUTS)}

P_MODEL, P_HARDWARE, P_TP, P_PP = _P["model"], _P["hardware"], _P["deployment.tp"], _P["deployment.pp"]
P_WDTYPE, P_KVDTYPE = _P["deployment.weight_dtype"], _P["deployment.kv_dtype"]
P_RESERVE, P_OVERHEAD = _P["deployment.memory_reserve_frac"], _P["deployment.step_overhead_s"]
P_LATENCY, P_SPARE = _P["deployment.link_latency_s"], _P["deployment.spare_frac"]
P_RATE, P_IN, P_OUT = _P["workload.requests_per_day"], _P["workload.input_tokens"], _P["workload.output_tokens"]
P_TTFT, P_TPOT = _P["workload.ttft_slo_s"], _P["workload.tpot_slo_s"]
P_PEAK, P_GROWTH, P_UCAP = _P["workload.peak_to_mean"], _P["workload.growth_per_year"], _P["workload.max_utilisation"]
P_COOLING, P_COLO, P_FABRIC = _P["facility.cooling"], _P["facility.colocation_usd_per_kw_month"], _P["network.fabric"]
P_ELEC, P_DEPR = _P["finance.electricity_usd_per_kwh"], _P["finance.depreciation_years"]
P_LIFE, P_DECLINE = _P["finance.hardware_lifetime_years"], _P["finance.price_decline_per_year"]
P_MAINT, P_STAFF_N, P_STAFF_COST = (
    _P["finance.maintenance_frac_per_year"], _P["finance.staff_per_1000_accelerators"],
    _P["finance.staff_cost_usd_per_year"],
)  # fmt: skip

H_BF16, H_HBM, H_BW = _H["peak_flops_bf16"], _H["hbm_capacity"], _H["hbm_bandwidth"]
H_SCALEUP, H_DOMAIN, H_SCALEOUT = _H["scaleup_bandwidth"], _H["scaleup_domain"], _H["scaleout_bandwidth"]
H_TDP, H_IDLE, H_APS, H_SERVER_W = _H["tdp"], _H["idle_power"], _H["accelerators_per_server"], _H["server_overhead_power"]
H_PRICE, H_SERVER_PRICE = _H["price_purchase"], _H["server_price"]
H_ETA_C, H_ETA_M = _H["compute_efficiency"], _H["bandwidth_efficiency"]
F_RADIX, F_SW_W, F_SW_USD, F_XCVR_W, F_XCVR_USD, F_NIC_W, F_NIC_USD, F_EFF = range(8)

S_BATCH, S_BMAX, S_NREP, S_WBYTES, S_KVTOK = (_S[n] for n in SCENARIO_OUTPUTS[:5])
S_PREFILL, S_TTFT, S_TPOT, S_TOKS, S_MAXTOKS, S_RATE, S_UTIL = (_S[n] for n in SCENARIO_OUTPUTS[5:])
(
    Y_ACC, Y_SERVERS, Y_RACKS, Y_UTIL, Y_PEAKUTIL, Y_IT, Y_FAC, Y_EPT, Y_TOKENS, Y_CAPEX, Y_DEPR,
    Y_ENERGY, Y_FACILITY, Y_MAINT, Y_STAFF, Y_OPEX, Y_TCO, Y_CPM,
) = range(len(YEAR_OUTPUTS))  # fmt: skip

#: block of consecutive scenarios one thread evaluates with one set of scratch arrays
BLOCK = 256


@kernel_jit
def evaluate(
    lo, hi, base, axis_param, axis_offset, axis_length, axis_values, years,
    hardware, models, fabrics, cooling, dtype_bytes, compute_column,
    out_scenario, out_year, out_status,
):  # fmt: skip
    """Evaluate flat scenario indices ``lo <= i < hi`` into row ``i - lo`` of the outputs.

    Parameters
    ----------
    lo, hi : int
        Flat index range of the sweep to evaluate.
    base : ndarray
        float64 ``(n_fields,)`` scenario parameters in SI (indexes: :data:`fleetsim.config.FIELDS`).
    axis_param, axis_offset, axis_length : ndarray
        int64 ``(n_axes,)``: parameter slot, offset into ``axis_values`` and length of each axis.
    axis_values : ndarray
        float64, all axes' values (SI, or integer codes for catalog ids and labels), concatenated.
    years : int
        Horizon in years.
    hardware, models, fabrics, cooling : ndarray
        Catalog tables in the column order of this module's ``*_COLUMNS`` (SI).
    dtype_bytes : ndarray
        Bytes per element by dtype code (:data:`fleetsim.precision.BYTES_PER_ELEMENT`).
    compute_column : ndarray
        int64 hardware column of the peak FLOP/s that computes each weight dtype.
    out_scenario : ndarray
        float64 ``(hi - lo, len(SCENARIO_OUTPUTS))``, written.
    out_year : ndarray
        float64 ``(hi - lo, len(YEAR_OUTPUTS), years)``, written.
    out_status : ndarray
        int8 ``(hi - lo,)``, written with :mod:`fleetsim.status` codes.
    """
    n = hi - lo
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_axes = axis_param.shape[0]
    for block in prange(n_blocks):
        p = base.copy()
        bought = np.zeros(years)
        spend = np.zeros(years)
        for row in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            rest = lo + row
            for k in range(n_axes - 1, -1, -1):
                length = axis_length[k]
                p[axis_param[k]] = axis_values[axis_offset[k] + rest % length]
                rest //= length
            code = _scenario(p, hardware, models, fabrics, cooling, dtype_bytes, compute_column,
                             out_scenario[row], out_year[row], bought, spend)  # fmt: skip
            out_status[row] = code
            if code != st.FEASIBLE and code != st.ZERO_DEMAND:
                out_scenario[row, :] = np.nan
                out_year[row, :, :] = np.nan


@jit
def _scenario(p, hardware, models, fabrics, cooling, dtype_bytes, compute_column, o, oy, bought, spend):
    """Evaluate one scenario into ``o`` (per scenario) and ``oy`` (per year); return its status."""
    hw = hardware[int(p[P_HARDWARE])]
    md = models[int(p[P_MODEL])]
    fb = fabrics[int(p[P_FABRIC])]
    cl = cooling[int(p[P_COOLING])]
    tp, pp = p[P_TP], p[P_PP]
    n_rep = tp * pp
    w_code = int(p[P_WDTYPE])
    b_w, b_kv = dtype_bytes[w_code], dtype_bytes[int(p[P_KVDTYPE])]
    peak = hw[compute_column[w_code]]
    if peak <= 0.0:  # no tensor cores for this format: weight-only, computed in BF16
        peak = hw[H_BF16]
    total, active, layers, d_model = md[0], md[1], md[2], md[3]
    kv_elements, attention, dense_params, expert_params = md[4], md[5], md[6], md[7]
    moe_layers, experts, top_k, max_context = md[8], md[9], md[10], md[11]
    prompt, output = p[P_IN], p[P_OUT]

    weights = total * b_w
    kv_token = kv_elements * b_kv
    o[S_NREP] = n_rep
    o[S_WBYTES] = weights
    o[S_KVTOK] = kv_token
    b_max = max_batch_size(n_rep * hw[H_HBM], p[P_RESERVE], weights, (prompt + output) * kv_token)
    if b_max < 0.0:
        return st.WEIGHTS_DO_NOT_FIT
    if prompt + output > max_context:
        return st.CONTEXT_TOO_LONG
    if b_max < 1.0:
        return st.KV_DOES_NOT_FIT
    o[S_BMAX] = b_max

    if tp <= hw[H_DOMAIN]:
        link = hw[H_SCALEUP]
    else:  # tensor parallel across servers goes over the scale-out fabric
        link = hw[H_SCALEOUT] * fb[F_EFF]
    context = prompt + 0.5 * output
    eta_c, eta_m, bandwidth = hw[H_ETA_C], hw[H_ETA_M], hw[H_BW]
    dense_bytes, expert_bytes = dense_params * b_w, expert_params * b_w

    # largest batch whose step time meets the TPOT target (step time grows with the batch)
    lo_b, hi_b = 1.0, b_max
    step_hi = decode_step_time(hi_b, context, active, attention, dense_bytes, expert_bytes, moe_layers,
                               experts, top_k, kv_token, layers, d_model, ACTIVATION_BYTES, tp, pp, peak,
                               bandwidth, eta_c, eta_m, link, p[P_LATENCY], p[P_OVERHEAD])  # fmt: skip
    step_max_batch = step_hi
    if step_hi > p[P_TPOT]:
        step_lo = decode_step_time(1.0, context, active, attention, dense_bytes, expert_bytes, moe_layers,
                                   experts, top_k, kv_token, layers, d_model, ACTIVATION_BYTES, tp, pp, peak,
                                   bandwidth, eta_c, eta_m, link, p[P_LATENCY], p[P_OVERHEAD])  # fmt: skip
        if step_lo > p[P_TPOT]:
            return st.TPOT_UNREACHABLE
        while hi_b - lo_b > 1.0:  # invariant: step(lo_b) meets the target, step(hi_b) does not
            mid = math.floor(0.5 * (lo_b + hi_b))
            step_mid = decode_step_time(mid, context, active, attention, dense_bytes, expert_bytes,
                                        moe_layers, experts, top_k, kv_token, layers, d_model,
                                        ACTIVATION_BYTES, tp, pp, peak, bandwidth, eta_c, eta_m, link,
                                        p[P_LATENCY], p[P_OVERHEAD])  # fmt: skip
            if step_mid <= p[P_TPOT]:
                lo_b, step_lo = mid, step_mid
            else:
                hi_b = mid
        batch, step = lo_b, step_lo
    else:
        batch, step = b_max, step_hi

    t_prefill = prefill_time(prompt, active, attention, dense_bytes, expert_bytes, moe_layers, experts,
                             top_k, layers, d_model, ACTIVATION_BYTES, tp, pp, peak, bandwidth, eta_c,
                             eta_m, link, p[P_LATENCY])  # fmt: skip
    service = t_prefill + output * step / batch
    replica_rate = 1.0 / service
    utilisation = utilisation_for_ttft(p[P_TTFT], t_prefill, service, p[P_UCAP])
    if utilisation < 0.0:
        return st.TTFT_UNREACHABLE
    o[S_BATCH] = batch
    o[S_PREFILL] = t_prefill
    o[S_TPOT] = step
    o[S_TTFT] = time_to_first_token(utilisation, t_prefill, service)
    o[S_RATE] = replica_rate
    o[S_UTIL] = utilisation
    o[S_TOKS] = output * replica_rate / n_rep
    o[S_MAXTOKS] = output / (t_prefill + output * step_max_batch / b_max) / n_rep

    per_server = hw[H_APS]
    server_power = per_server * hw[H_TDP] + hw[H_SERVER_W]
    rack_servers = servers_per_rack(server_power, cl[1])
    if rack_servers < 1.0:
        return st.RACK_POWER_EXCEEDED
    return _fleet_years(p, hw, fb, cl, replica_rate, utilisation, n_rep, output, rack_servers,
                        oy, bought, spend)  # fmt: skip


@jit
def _fleet_years(p, hw, fb, cl, replica_rate, utilisation, n_rep, output, rack_servers, oy, bought, spend):
    """Size and price the fleet for every year; return ZERO_DEMAND or FEASIBLE."""
    years = oy.shape[1]
    per_server = hw[H_APS]
    lifetime, depreciation_years = int(p[P_LIFE]), int(p[P_DEPR])
    tco = 0.0
    for y in range(years):
        rate = mean_request_rate(p[P_RATE], p[P_GROWTH], y)
        peak_rate = rate * p[P_PEAK]
        replicas = replicas_needed(peak_rate, replica_rate, utilisation, p[P_SPARE])
        servers = servers_needed(replicas, n_rep, per_server)
        accelerators = servers * per_server
        busy = 0.0
        peak_busy = 0.0
        if accelerators > 0.0:  # busy fraction over all accelerators (idle ones in part-filled servers)
            busy = rate / replica_rate * n_rep / accelerators
            peak_busy = peak_rate / replica_rate * n_rep / accelerators
        endpoints = accelerators if servers > 1.0 else 0.0  # one server needs no scale-out fabric
        tiers = fabric_tiers(endpoints, fb[F_RADIX])
        switches = fabric_switches(endpoints, fb[F_RADIX], tiers)
        transceivers = fabric_transceivers(endpoints, tiers)
        network_power = switches * fb[F_SW_W] + transceivers * fb[F_XCVR_W] + endpoints * fb[F_NIC_W]
        network_cost = switches * fb[F_SW_USD] + transceivers * fb[F_XCVR_USD] + endpoints * fb[F_NIC_USD]
        it_power = (accelerators * accelerator_power(hw[H_IDLE], hw[H_TDP], busy)
                    + servers * hw[H_SERVER_W] + network_power)  # fmt: skip
        it_power_peak = accelerators * hw[H_TDP] + servers * hw[H_SERVER_W] + network_power
        facility_power = it_power * cl[0]
        tokens = rate * output * SECONDS_PER_YEAR

        unit_price = hw[H_PRICE] + hw[H_SERVER_PRICE] / per_server
        if accelerators > 0.0:
            unit_price += network_cost / accelerators
        in_service = window_sum(bought, y - lifetime + 1, y - 1)
        bought[y] = max(0.0, accelerators - in_service)
        spend[y] = bought[y] * price_in_year(unit_price, p[P_DECLINE], y)
        depreciation = window_sum(spend, y - depreciation_years + 1, y) / depreciation_years
        energy = facility_power * SECONDS_PER_YEAR * p[P_ELEC]
        facility = it_power_peak * p[P_COLO] * SECONDS_PER_YEAR
        maintenance = p[P_MAINT] * window_sum(spend, y - lifetime + 1, y)
        staff = p[P_STAFF_N] * accelerators / 1000.0 * p[P_STAFF_COST] * SECONDS_PER_YEAR
        opex = energy + facility + maintenance + staff
        tco += spend[y] + opex

        oy[Y_ACC, y] = accelerators
        oy[Y_SERVERS, y] = servers
        oy[Y_RACKS, y] = math.ceil(servers / rack_servers)
        oy[Y_UTIL, y] = busy
        oy[Y_PEAKUTIL, y] = peak_busy
        oy[Y_IT, y] = it_power
        oy[Y_FAC, y] = facility_power
        oy[Y_TOKENS, y] = tokens
        oy[Y_CAPEX, y] = spend[y]
        oy[Y_DEPR, y] = depreciation
        oy[Y_ENERGY, y] = energy
        oy[Y_FACILITY, y] = facility
        oy[Y_MAINT, y] = maintenance
        oy[Y_STAFF, y] = staff
        oy[Y_OPEX, y] = opex
        oy[Y_TCO, y] = tco
        if tokens > 0.0:
            oy[Y_EPT, y] = facility_power * SECONDS_PER_YEAR / tokens
            oy[Y_CPM, y] = (depreciation + opex) / tokens * 1e6
        else:
            oy[Y_EPT, y] = np.nan
            oy[Y_CPM, y] = np.nan
    if p[P_RATE] <= 0.0:
        return st.ZERO_DEMAND
    return st.FEASIBLE
