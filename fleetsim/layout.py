"""The kernel's data layout: column order of catalog tables, parameter slots, output slots.

Numba reads the integer constants below as compile-time globals. ``sweep.py`` reorders catalog
tables into the ``*_COLUMNS`` order; ``dataset.py`` names outputs by ``SCENARIO_OUTPUTS`` and
``YEAR_OUTPUTS`` (which must match ``variables.yaml``; a test checks).
"""

from __future__ import annotations

from fleetsim.catalog import MODEL_COLUMNS
from fleetsim.config import FIELDS
from fleetsim.efficiency import MODEL_CLASSES, SCALE_COLUMNS

#: column order of the tables the kernel reads (sweep.py reorders catalog tables to match)
HARDWARE_COLUMNS: tuple[str, ...] = (
    "peak_flops_bf16", "peak_flops_fp8", "peak_flops_int8", "peak_flops_fp4", "hbm_capacity",
    "hbm_bandwidth", "scaleup_bandwidth", "scaleup_domain", "scaleout_bandwidth", "tdp", "idle_power",
    "accelerators_per_server", "server_overhead_power", "price_purchase", "server_price",
    "compute_efficiency", "bandwidth_efficiency", "rental_price", "scaleup_peer_bandwidth",
    *SCALE_COLUMNS,
)  # fmt: skip
#: the catalog's hardware columns (the kernel's table adds SCALE_COLUMNS after them)
CATALOG_HARDWARE_COLUMNS = HARDWARE_COLUMNS[: -len(SCALE_COLUMNS)]
#: columns of the kernel's model table: the catalog's, then the model class code
MODEL_KERNEL_COLUMNS: tuple[str, ...] = (*MODEL_COLUMNS, "model_class")
N_CLASSES = float(len(MODEL_CLASSES))
FABRIC_COLUMNS: tuple[str, ...] = (
    "switch_radix", "switch_power", "switch_price", "transceiver_power", "transceiver_price",
    "nic_power", "nic_price", "effective_bandwidth_frac",
)  # fmt: skip
COOLING_COLUMNS: tuple[str, ...] = ("pue", "rack_power_limit", "floor_area_per_rack")
C_PUE, C_RACK, C_FLOOR = 0, 1, 2

#: kernel outputs per scenario and per scenario-year, in array order (names from variables.yaml)
SCENARIO_OUTPUTS: tuple[str, ...] = (
    "batch_size", "max_batch_size", "accelerators_per_replica", "weight_bytes", "kv_bytes_per_token",
    "prefill_time_s", "ttft_s", "tpot_s", "tokens_per_s_per_accelerator",
    "max_tokens_per_s_per_accelerator", "replica_requests_per_s", "target_utilisation", "clock_scale",
    "tensor_parallel", "pipeline_parallel", "prefill_share", "tpot_p99_s", "ttft_p99_s",
    "attention_data_parallel", "expert_parallel",
    # disaggregated serving's prefill pool (NaN when aggregated)
    "prefill_tensor_parallel", "prefill_pipeline_parallel", "prefill_attention_data_parallel",
    "prefill_expert_parallel", "prefill_accelerators_per_replica", "prefill_replica_requests_per_s",
    "prefill_planned_utilisation", "input_tokens_per_s_per_prefill_accelerator", "kv_transfer_s",
    "kv_link_utilisation",
)  # fmt: skip
YEAR_OUTPUTS: tuple[str, ...] = (
    "accelerators", "servers", "racks", "utilisation", "peak_utilisation", "it_power_w",
    "facility_power_w", "energy_per_token_j", "carbon_kg", "generated_tokens", "capex_usd",
    "hardware_capex_usd", "network_capex_usd", "facility_capex_usd", "floor_space_m2",
    "depreciation_usd", "energy_cost_usd",
    "facility_cost_usd", "maintenance_cost_usd", "staff_cost_usd", "software_cost_usd", "opex_usd",
    "tco_usd", "npv_usd", "cost_per_million_output_tokens_usd", "cost_per_million_input_tokens_usd",
    "cost_per_request_usd", "rent_cost_usd", "rent_tco_usd", "break_even_utilisation",
    # disaggregated serving, per pool (NaN when aggregated)
    "prefill_accelerators", "decode_accelerators", "prefill_decode_ratio", "prefill_servers",
    "decode_servers", "prefill_utilisation", "decode_utilisation", "prefill_it_power_w",
    "decode_it_power_w", "prefill_tco_usd", "decode_tco_usd",
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
H_RENT, H_SCALE = _H["rental_price"], _H[SCALE_COLUMNS[0]]
H_PEER = _H["scaleup_peer_bandwidth"]
F_RADIX, F_SW_W, F_SW_USD = _F["switch_radix"], _F["switch_power"], _F["switch_price"]
F_XCVR_W, F_XCVR_USD = _F["transceiver_power"], _F["transceiver_price"]
F_NIC_W, F_NIC_USD, F_EFF = _F["nic_power"], _F["nic_price"], _F["effective_bandwidth_frac"]
P_SPR, P_CARBON = _P["facility.servers_per_rack"], _P["facility.grid_carbon_g_per_kwh"]
P_SOFTWARE, P_DISCOUNT = (
    _P["finance.software_usd_per_accelerator_year"],
    _P["finance.discount_rate"],
)
P_RENT = _P["finance.rental_usd_per_accelerator_hour"]
P_MAX_BATCH = _P["deployment.max_batch"]
P_BUILD, P_BUILDING_LIFE = _P["facility.build_usd_per_kw"], _P["facility.building_life_years"]
P_PREFIX = _P["deployment.prefix_cache_hit_rate"]
P_DRAFT, P_DRAFT_TOKENS = _P["deployment.draft_model"], _P["deployment.draft_tokens"]
P_ACCEPTANCE, P_EP = _P["deployment.acceptance_rate"], _P["deployment.ep"]
P_PREFILL, P_BUDGET = _P["deployment.prefill"], _P["deployment.step_token_budget"]
P_IN_CV, P_OUT_CV = _P["workload.input_tokens_cv"], _P["workload.output_tokens_cv"]
P_TTFT_Q, P_TPOT_Q = _P["workload.ttft_quantile"], _P["workload.tpot_quantile"]
P_ADP, P_ENGINE = _P["deployment.attention_dp"], _P["deployment.engine"]
P_SERVING, P_PREFILL_HW = _P["deployment.serving"], _P["deployment.prefill_hardware"]

S_BATCH, S_BMAX, S_NREP = _S["batch_size"], _S["max_batch_size"], _S["accelerators_per_replica"]
S_WBYTES, S_KVTOK, S_PREFILL = _S["weight_bytes"], _S["kv_bytes_per_token"], _S["prefill_time_s"]
S_TTFT, S_TPOT, S_TOKS = _S["ttft_s"], _S["tpot_s"], _S["tokens_per_s_per_accelerator"]
S_MAXTOKS, S_RATE = _S["max_tokens_per_s_per_accelerator"], _S["replica_requests_per_s"]
S_UTIL, S_CLOCK, S_TP = _S["target_utilisation"], _S["clock_scale"], _S["tensor_parallel"]
S_PP, S_PREFILL_SHARE = _S["pipeline_parallel"], _S["prefill_share"]
S_TPOT_P99, S_TTFT_P99 = _S["tpot_p99_s"], _S["ttft_p99_s"]
S_ADP, S_EP = _S["attention_data_parallel"], _S["expert_parallel"]
S_PF_TP, S_PF_PP = _S["prefill_tensor_parallel"], _S["prefill_pipeline_parallel"]
S_PF_ADP, S_PF_EP = _S["prefill_attention_data_parallel"], _S["prefill_expert_parallel"]
S_PF_NREP, S_PF_RATE = _S["prefill_accelerators_per_replica"], _S["prefill_replica_requests_per_s"]
S_PF_UTIL, S_PF_TOKS = (
    _S["prefill_planned_utilisation"], _S["input_tokens_per_s_per_prefill_accelerator"],
)  # fmt: skip
S_KV_TRANSFER, S_KV_LINK = _S["kv_transfer_s"], _S["kv_link_utilisation"]
#: the prefill pool's scenario outputs, NaN in an aggregated scenario
S_PREFILL_POOL = tuple(range(S_PF_TP, S_KV_LINK + 1))

Y_ACC, Y_SERVERS, Y_RACKS = _Y["accelerators"], _Y["servers"], _Y["racks"]
Y_UTIL, Y_PEAKUTIL, Y_IT = _Y["utilisation"], _Y["peak_utilisation"], _Y["it_power_w"]
Y_FAC, Y_EPT, Y_CARBON = _Y["facility_power_w"], _Y["energy_per_token_j"], _Y["carbon_kg"]
Y_TOKENS, Y_CAPEX, Y_HW_CAPEX = _Y["generated_tokens"], _Y["capex_usd"], _Y["hardware_capex_usd"]
Y_NET_CAPEX, Y_DEPR, Y_ENERGY = (
    _Y["network_capex_usd"],
    _Y["depreciation_usd"],
    _Y["energy_cost_usd"],
)
Y_FACILITY, Y_MAINT, Y_STAFF = (
    _Y["facility_cost_usd"],
    _Y["maintenance_cost_usd"],
    _Y["staff_cost_usd"],
)
Y_SOFTWARE, Y_OPEX, Y_TCO, Y_NPV = (
    _Y["software_cost_usd"],
    _Y["opex_usd"],
    _Y["tco_usd"],
    _Y["npv_usd"],
)
Y_CPM, Y_CPM_IN = _Y["cost_per_million_output_tokens_usd"], _Y["cost_per_million_input_tokens_usd"]
Y_CPR, Y_RENT, Y_RENT_TCO = _Y["cost_per_request_usd"], _Y["rent_cost_usd"], _Y["rent_tco_usd"]
Y_BREAK_EVEN = _Y["break_even_utilisation"]
Y_FAC_CAPEX, Y_FLOOR = _Y["facility_capex_usd"], _Y["floor_space_m2"]
Y_PF_ACC, Y_DC_ACC, Y_PD_RATIO = (
    _Y["prefill_accelerators"], _Y["decode_accelerators"], _Y["prefill_decode_ratio"],
)  # fmt: skip
Y_PF_SERVERS, Y_DC_SERVERS = _Y["prefill_servers"], _Y["decode_servers"]
Y_PF_UTIL, Y_DC_UTIL = _Y["prefill_utilisation"], _Y["decode_utilisation"]
Y_PF_IT, Y_DC_IT = _Y["prefill_it_power_w"], _Y["decode_it_power_w"]
Y_PF_TCO, Y_DC_TCO = _Y["prefill_tco_usd"], _Y["decode_tco_usd"]
#: the per-pool year outputs, NaN in an aggregated scenario
Y_POOLS = tuple(range(Y_PF_ACC, Y_DC_TCO + 1))

_M = {c: i for i, c in enumerate(MODEL_KERNEL_COLUMNS)}
M_TOTAL, M_ACTIVE, M_LAYERS, M_DMODEL = (
    _M["total_params"], _M["active_params"], _M["layers"], _M["d_model"],
)  # fmt: skip
M_KV, M_ATTENTION = _M["kv_elements_per_token"], _M["attention_flops_per_context_token"]
M_KV_BOUNDED, M_ATTENTION_BOUNDED = (
    _M["bounded_kv_elements_per_token"], _M["bounded_attention_flops_per_context_token"],
)  # fmt: skip
M_SPAN, M_KV_KEPT = _M["attention_span"], _M["bounded_kv_kept"]
M_DENSE, M_EXPERT, M_MOE_LAYERS = _M["dense_params"], _M["expert_params"], _M["moe_layers"]
M_EXPERTS, M_TOP_K, M_CONTEXT = _M["moe_experts"], _M["moe_top_k"], _M["max_context"]
M_KV_SHARDS, M_CLASS = _M["kv_shards"], _M["model_class"]
M_ACT, M_ACT_SPLIT = (
    _M["activation_elements_per_token"], _M["split_activation_elements_per_token"],
)  # fmt: skip
