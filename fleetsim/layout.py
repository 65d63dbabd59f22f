"""The kernel's data layout: column order of catalog tables, parameter slots, output slots.

Numba reads the integer constants below as compile-time globals. ``sweep.py`` reorders catalog
tables into the ``*_COLUMNS`` order; ``dataset.py`` names outputs by ``SCENARIO_OUTPUTS`` and
``YEAR_OUTPUTS`` (which must match ``variables.yaml``; a test checks).
"""

from __future__ import annotations

from fleetsim.config import FIELDS

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
C_PUE, C_RACK = 0, 1

#: kernel outputs per scenario and per scenario-year, in array order (names from variables.yaml)
SCENARIO_OUTPUTS: tuple[str, ...] = (
    "batch_size", "max_batch_size", "accelerators_per_replica", "weight_bytes", "kv_bytes_per_token",
    "prefill_time_s", "ttft_s", "tpot_s", "tokens_per_s_per_accelerator",
    "max_tokens_per_s_per_accelerator", "replica_requests_per_s", "target_utilisation",
)  # fmt: skip
YEAR_OUTPUTS: tuple[str, ...] = (
    "accelerators", "servers", "racks", "utilisation", "peak_utilisation", "it_power_w",
    "facility_power_w", "energy_per_token_j", "generated_tokens", "capex_usd", "depreciation_usd",
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

P_MODEL, P_HARDWARE, P_TP, P_PP = (
    _P["model"],
    _P["hardware"],
    _P["deployment.tp"],
    _P["deployment.pp"],
)
P_WDTYPE, P_KVDTYPE = _P["deployment.weight_dtype"], _P["deployment.kv_dtype"]
P_RESERVE, P_OVERHEAD = _P["deployment.memory_reserve_frac"], _P["deployment.step_overhead_s"]
P_LATENCY, P_SPARE = _P["deployment.link_latency_s"], _P["deployment.spare_frac"]
P_RATE, P_IN, P_OUT = (
    _P["workload.requests_per_day"],
    _P["workload.input_tokens"],
    _P["workload.output_tokens"],
)
P_TTFT, P_TPOT = _P["workload.ttft_slo_s"], _P["workload.tpot_slo_s"]
P_PEAK, P_GROWTH, P_UCAP = (
    _P["workload.peak_to_mean"],
    _P["workload.growth_per_year"],
    _P["workload.max_utilisation"],
)
P_COOLING, P_COLO, P_FABRIC = (
    _P["facility.cooling"],
    _P["facility.colocation_usd_per_kw_month"],
    _P["network.fabric"],
)
P_ELEC, P_DEPR = _P["finance.electricity_usd_per_kwh"], _P["finance.depreciation_years"]
P_LIFE, P_DECLINE = _P["finance.hardware_lifetime_years"], _P["finance.price_decline_per_year"]
P_MAINT, P_STAFF_N, P_STAFF_COST = (
    _P["finance.maintenance_frac_per_year"], _P["finance.staff_per_1000_accelerators"],
    _P["finance.staff_cost_usd_per_year"],
)  # fmt: skip

H_BF16, H_HBM, H_BW = _H["peak_flops_bf16"], _H["hbm_capacity"], _H["hbm_bandwidth"]
H_SCALEUP, H_DOMAIN, H_SCALEOUT = (
    _H["scaleup_bandwidth"],
    _H["scaleup_domain"],
    _H["scaleout_bandwidth"],
)
H_TDP, H_IDLE, H_APS, H_SERVER_W = (
    _H["tdp"],
    _H["idle_power"],
    _H["accelerators_per_server"],
    _H["server_overhead_power"],
)
H_PRICE, H_SERVER_PRICE = _H["price_purchase"], _H["server_price"]
H_ETA_C, H_ETA_M = _H["compute_efficiency"], _H["bandwidth_efficiency"]
F_RADIX, F_SW_W, F_SW_USD, F_XCVR_W, F_XCVR_USD, F_NIC_W, F_NIC_USD, F_EFF = range(8)

S_BATCH, S_BMAX, S_NREP, S_WBYTES, S_KVTOK = (_S[n] for n in SCENARIO_OUTPUTS[:5])
S_PREFILL, S_TTFT, S_TPOT, S_TOKS, S_MAXTOKS, S_RATE, S_UTIL = (_S[n] for n in SCENARIO_OUTPUTS[5:])
(
    Y_ACC, Y_SERVERS, Y_RACKS, Y_UTIL, Y_PEAKUTIL, Y_IT, Y_FAC, Y_EPT, Y_TOKENS, Y_CAPEX, Y_DEPR,
    Y_ENERGY, Y_FACILITY, Y_MAINT, Y_STAFF, Y_OPEX, Y_TCO, Y_CPM,
) = range(len(YEAR_OUTPUTS))  # fmt: skip
