"""Plain-Python oracle of fleetsim's kernel: the same equations, written out independently.

Readable and slow. It takes one scenario in *config* units (as a user writes it) plus the
catalog, and returns the status code, the scenario outputs and the per-year outputs by name.
It does not import fleetsim's physics, fleet, layout or kernel modules; only the catalog loader
(input data) and the status codes.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from fleetsim import status as st

SECONDS_PER_YEAR = 8760 * 3600.0
BYTES = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5 + 2 / 128, "fp4": 0.5 + 1 / 16}
COMPUTE = {
    "bf16": "peak_flops_bf16",
    "fp8": "peak_flops_fp8",
    "int8": "peak_flops_int8",
    "int4": "peak_flops_bf16",
    "fp4": "peak_flops_fp4",
}
ACTIVATION_BYTES = 2.0


def _row(catalog, table, entry_id):
    t = catalog.tables[table]
    return dict(zip(t.columns, t.values[t.ids.index(entry_id)], strict=True))


def _allreduce(message, n, bw, alpha):
    if n <= 1:
        return 0.0
    return 2 * (n - 1) / n * message / bw + 2 * alpha  # reduce-scatter + all-gather, one step each


def _expected_tokens(k, a):
    return (1 - a ** (k + 1)) / (1 - a)  # Leviathan et al. 2023, eq. 1


def _prefill_flops(S, C, m, cv):
    """Mean prompt FLOPs: linear layers on the new tokens; causal attention, E[S^2] = S^2 (1 + cv^2)."""
    attention = m["attention_flops_per_context_token"] * 0.5 * (S * S - C * C)
    return 2 * m["active_params"] * (S - C) + attention * (1 + cv * cv)


def _token_time(batch, c, m, d, hw, peak, b_w, kv_tok, kv_d, tp, pp, link, stage, sc, t_occ):
    """Mean time per output token of a sequence, prompts' share included.

    A cycle is k draft steps and one target step verifying k + 1 tokens per sequence; it yields
    E tokens per sequence, so B E / O prompts must be prefilled per cycle at full occupancy:
    chunked, their tokens ride in the steps; whole, each stalls the batch for ``t_occ``.
    """
    drafting = sc["deployment.draft_model"] is not None
    k = sc["deployment.draft_tokens"] if drafting else 0
    a = sc["deployment.acceptance_rate"]
    E = _expected_tokens(k, a) if drafting else 1.0
    S, O = sc["workload.input_tokens"], sc["workload.output_tokens"]
    C = S * sc["deployment.prefix_cache_hit_rate"]
    cv = sc["workload.input_tokens_cv"]
    chunked = sc["deployment.prefill"] == "chunked"
    n = batch * E / O if chunked else 0.0  # prompts per cycle riding in the steps
    cycle = _step_time(
        batch * (k + 1), c, n * (S - C), n * _prefill_flops(S, C, m, cv), m, hw, peak, b_w,
        kv_tok / (k + 1), tp, pp, link, stage, sc,
    )  # fmt: skip
    if drafting:
        cycle += k * _step_time(
            batch, c, n * (S - C) / k, n * _prefill_flops(S, C, d, cv) / k, d, hw, peak, b_w,
            kv_d, tp, pp, link, stage, sc,
        )  # fmt: skip
    per_token = cycle / E
    return per_token if chunked else per_token + batch * t_occ / O


def _step_time(batch, c, n_pf, f_pf, m, hw, peak, b_w, kv_tok, tp, pp, link, stage, sc):
    micro = batch / pp if batch >= pp else min(batch, 1)  # B < pp: a bubble in the pipeline
    tokens = micro + n_pf / pp  # decode tokens and prompt-chunk tokens per micro-batch
    flops = micro * (2 * m["active_params"] + m["attention_flops_per_context_token"] * c)
    flops += f_pf / pp
    experts = m["moe_experts"]
    touched = experts * (1 - (1 - m["moe_top_k"] / experts) ** tokens) if experts > 0 else 0.0
    weights = (m["dense_params"] + m["moe_layers"] * touched * m["expert_params"]) * b_w
    traffic = weights + (micro * c + n_pf / pp) * kv_tok
    compute_time = flops / pp / (tp * peak * hw["compute_efficiency"])
    memory_time = traffic / pp / (tp * hw["hbm_bandwidth"] * hw["bandwidth_efficiency"])
    comm = _comm(tokens, m, m["layers"] / pp, m["moe_layers"] / pp, tp, link, sc)
    handoff = _handoff(tokens, m, pp, stage, sc)
    # one engine step (scheduling, sampling) per micro-batch: pp of them per token
    return pp * (max(compute_time, memory_time) + comm + sc["deployment.step_overhead_s"]) + handoff


def _handoff(tokens, m, pp, stage, sc):
    """Point-to-point activation sends at the pp - 1 stage boundaries."""
    if pp <= 1:
        return 0.0
    alpha = sc["deployment.link_latency_s"]
    return (pp - 1) * (alpha + tokens * m["d_model"] * ACTIVATION_BYTES / stage)


def _comm(tokens, m, layers, moe_layers, tp, link, sc):
    """TP all-reduces (2 per layer); with EP, each MoE layer swaps its MLP all-reduce for
    dispatch + combine all-to-alls of the tokens' k routed copies."""
    alpha = sc["deployment.link_latency_s"]
    message = tokens * m["d_model"] * ACTIVATION_BYTES
    ep = min(sc["deployment.ep"], tp)
    if ep <= 1 or moe_layers <= 0:
        return 2 * layers * _allreduce(message, tp, link, alpha)
    a2a = (ep - 1) / ep * message * m["moe_top_k"] / link + alpha
    return (2 * layers - moe_layers) * _allreduce(message, tp, link, alpha) + moe_layers * 2 * a2a


def _prefill(S, m, hw, peak, b_w, tp, pp, link, stage, sc):
    """Latency of one prompt alone: it crosses the pp stages one after another."""
    C = S * sc["deployment.prefix_cache_hit_rate"]  # cached prefix: not recomputed, still attended
    new = S - C
    if new <= 0:
        return 0.0
    flops = _prefill_flops(S, C, m, sc["workload.input_tokens_cv"])
    experts = m["moe_experts"]
    touched = experts * (1 - (1 - m["moe_top_k"] / experts) ** new) if experts > 0 else 0.0
    weights = (m["dense_params"] + m["moe_layers"] * touched * m["expert_params"]) * b_w
    t = max(
        flops / (tp * peak * hw["compute_efficiency"]),
        weights / (tp * hw["hbm_bandwidth"] * hw["bandwidth_efficiency"]),
    )
    comm = _comm(new, m, m["layers"], m["moe_layers"], tp, link, sc)
    return t + comm + _handoff(new, m, pp, stage, sc)


def derated_hardware(sc, catalog):
    """Return (hardware row, clock scale) after forcing facility.servers_per_rack."""
    hw = _row(catalog, "hardware", sc["hardware"])
    density = sc["facility.servers_per_rack"]
    if density is None:
        return hw, 1.0
    rack = _row(catalog, "cooling", sc["facility.cooling"])["rack_power_limit"]
    cap = (rack / density - hw["server_overhead_power"]) / hw["accelerators_per_server"]
    if cap >= hw["tdp"]:
        return hw, 1.0
    if cap <= hw["idle_power"]:
        return hw, 0.0
    # dynamic power ~ f^3 under DVFS: the clock that fits the cap scales every peak FLOP/s
    scale = ((cap - hw["idle_power"]) / (hw["tdp"] - hw["idle_power"])) ** (1 / 3)
    hw = {k: v * scale if k.startswith("peak_flops_") else v for k, v in hw.items()}
    hw["tdp"] = cap
    return hw, scale


def replica(sc, catalog, hw):
    """Return (status, outputs) of one replica; ``auto`` tp / pp try 1, 2, 4, ... (tp <= domain)."""
    tps = [sc["deployment.tp"]]
    if sc["deployment.tp"] == "auto":
        tps = [2**i for i in range(7) if 2**i <= min(hw["scaleup_domain"], 64)]
    pps = [sc["deployment.pp"]]
    if sc["deployment.pp"] == "auto":
        pps = [
            pp for pp in (1, 2, 4, 8, 16) if pp <= _row(catalog, "models", sc["model"])["layers"]
        ]
    results = [replica_at(tp, pp, sc, catalog, hw) for pp in pps for tp in tps]
    feasible = [r for r in results if r[0] == st.FEASIBLE]
    if not feasible:
        return results[-1]
    best = max(r[1]["tokens_per_s_per_accelerator"] for r in feasible)
    return next(r for r in feasible if r[1]["tokens_per_s_per_accelerator"] == best)


def replica_at(tp, pp, sc, catalog, hw):
    """Return (status, outputs) of a replica of tp x pp accelerators."""
    m = _row(catalog, "models", sc["model"])
    drafting = sc["deployment.draft_model"] is not None
    d = _row(catalog, "models", sc["deployment.draft_model"]) if drafting else m
    fb = _row(catalog, "fabrics", sc["network.fabric"])
    b_w, b_kv = BYTES[sc["deployment.weight_dtype"]], BYTES[sc["deployment.kv_dtype"]]
    peak = hw[COMPUTE[sc["deployment.weight_dtype"]]] or hw["peak_flops_bf16"]
    S, O = sc["workload.input_tokens"], sc["workload.output_tokens"]
    C = S * sc["deployment.prefix_cache_hit_rate"]
    cv_in, cv_out = sc["workload.input_tokens_cv"], sc["workload.output_tokens_cv"]
    out = {
        "tensor_parallel": tp,
        "pipeline_parallel": pp,
        "accelerators_per_replica": tp * pp,
        "weight_bytes": (m["total_params"] + (d["total_params"] if drafting else 0)) * b_w,
    }
    if pp > m["layers"]:
        return st.MORE_STAGES_THAN_LAYERS, out
    kv_tok = m["kv_elements_per_token"] * b_kv
    kv_d = d["kv_elements_per_token"] * b_kv if drafting else 0.0
    out["kv_bytes_per_token"] = kv_tok + kv_d
    free = (
        tp * pp * hw["hbm_capacity"] * (1 - sc["deployment.memory_reserve_frac"])
        - out["weight_bytes"]
    )
    if free < 0:
        return st.WEIGHTS_DO_NOT_FIT, out
    if m["max_context"] < S + O:
        return st.CONTEXT_TOO_LONG, out
    # a sequence in the batch is length-biased: it holds S + E[O^2]/E[O] tokens of KV
    held = S + O * (1 + cv_out**2)
    b_max = math.floor(free / (held * (kv_tok + kv_d)))
    if b_max < 1:
        return st.KV_DOES_NOT_FIT, out
    b_max = b_max if sc["deployment.max_batch"] is None else min(b_max, sc["deployment.max_batch"])
    k = sc["deployment.draft_tokens"] if drafting else 0
    E = _expected_tokens(k, sc["deployment.acceptance_rate"]) if drafting else 1.0
    chunked = sc["deployment.prefill"] == "chunked"
    budget = sc["deployment.step_token_budget"]
    if chunked:  # decode tokens B (k + 1) plus prompt tokens B E (S - C) / O fit the budget
        by_budget = budget / (k + 1 + E * (S - C) / O)
        b_max = min(b_max, math.floor(by_budget) if by_budget >= 1 else by_budget)
    out["max_batch_size"] = b_max
    domain = hw["scaleup_domain"]
    scaleout = hw["scaleout_bandwidth"] * fb["effective_bandwidth_frac"]
    link = hw["scaleup_bandwidth"] if tp <= domain else scaleout
    stage = hw["scaleup_bandwidth"] if tp * pp <= domain else scaleout
    c = S + O * (1 + cv_out**2) / 2
    t_pf = _prefill(S, m, hw, peak, b_w, tp, pp, link, stage, sc)
    if drafting:  # the draft model prefills the prompt too
        t_pf += _prefill(S, d, hw, peak, b_w, tp, pp, link, stage, sc)
    t_occ = t_pf / pp  # pipelined prompts start every 1/pp of a prompt's latency

    def step(b):
        return _token_time(b, c, m, d, hw, peak, b_w, kv_tok, kv_d, tp, pp, link, stage, sc, t_occ)

    tpot = math.inf if sc["workload.tpot_slo_s"] is None else sc["workload.tpot_slo_s"]
    if step(b_max) <= tpot:
        batch = b_max
    elif b_max <= 1 or step(1) > tpot:
        return st.TPOT_UNREACHABLE, out
    else:  # bisection on a monotone function
        lo, hi = 1, b_max
        while hi - lo > 1:
            mid = math.floor((lo + hi) / 2)
            lo, hi = (mid, hi) if step(mid) <= tpot else (lo, mid)
        batch = lo
    tpot_b = step(batch)
    tau = O * tpot_b / batch  # replica time per request at full occupancy
    q = sc["workload.ttft_quantile"]  # None: the TTFT target bounds the mean
    # the q-th prompt relative to the mean, lengths lognormal with the given cv
    sigma = math.sqrt(math.log(1 + cv_in**2))
    longer = 1.0 if q is None else math.exp(NormalDist().inv_cdf(q) * sigma - sigma**2 / 2)
    if chunked:  # the prompt flows through the budget left by the decode tokens
        cycle = tpot_b * E
        s = (S - C) * cycle / (budget - batch * (k + 1))
        duration, at_target = max(cycle, s), max(cycle, s * longer)
    else:
        s, duration = t_occ, t_pf
        at_target = t_pf * longer
    spread = 1 + cv_in**2

    def wait(r):  # M/G/1 mean (Pollaczek-Khinchine) or its exponential-tail quantile
        if r >= 1:
            return math.inf
        mean = r * s * spread / (2 * (1 - r))
        if q is None:
            return mean
        return 0.0 if r <= 1 - q else mean / r * math.log(r / (1 - q))

    ttft = math.inf if sc["workload.ttft_slo_s"] is None else sc["workload.ttft_slo_s"]
    cap = sc["workload.max_utilisation"]
    slack = ttft - at_target
    if slack < 0:
        return st.TTFT_UNREACHABLE, out
    if math.isinf(slack) or s <= 0:
        rho = cap
    else:  # the largest prefill-path utilisation whose wait fits the slack
        lo, hi = 0.0, 1.0
        while hi - lo > 1e-15:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if wait(mid) <= slack else (lo, mid)
        rho = min(lo * tau / s, cap)
    r = rho * s / tau
    decode_only = (
        _token_time(batch, c, m, d, hw, peak, b_w, kv_tok, kv_d, tp, pp, link, stage,
                    {**sc, "deployment.prefill": "whole"}, 0.0)
    )  # fmt: skip
    out.update(
        batch_size=batch,
        tpot_s=tpot_b,
        prefill_time_s=duration,
        ttft_s=at_target + wait(r),
        replica_requests_per_s=1 / tau,
        target_utilisation=rho,
        tokens_per_s_per_accelerator=batch / tpot_b / (tp * pp),
        max_tokens_per_s_per_accelerator=b_max / step(b_max) / (tp * pp),
        prefill_share=1 - decode_only / tpot_b,
    )
    return st.FEASIBLE, out


def _ceil(x):
    """Ceiling as a float, as the kernel counts (a whole number that never wraps around)."""
    return float(math.ceil(x))


def _floor(x):
    """Floor as a float, as the kernel counts."""
    return float(math.floor(x))


def fleet(sc, catalog, rep, years, hw):
    """Return (status, per-year outputs as lists) for a feasible replica operating point."""
    fb = _row(catalog, "fabrics", sc["network.fabric"])
    cl = _row(catalog, "cooling", sc["facility.cooling"])
    aps = hw["accelerators_per_server"]
    if sc["facility.servers_per_rack"] is None:
        per_rack = _floor(cl["rack_power_limit"] / (aps * hw["tdp"] + hw["server_overhead_power"]))
    else:
        per_rack = sc["facility.servers_per_rack"]
    if per_rack < 1:
        return st.RACK_POWER_EXCEEDED, {}
    n_rep = rep["accelerators_per_replica"]
    lam, rho = rep["replica_requests_per_s"], rep["target_utilisation"]
    life, dep = sc["finance.hardware_lifetime_years"], sc["finance.depreciation_years"]
    rental = sc["finance.rental_usd_per_accelerator_hour"]
    rental = hw["rental_price"] if rental is None else rental / 3600
    rental = rental if rental > 0 else math.nan
    input_share = rep["prefill_share"]  # share of replica time spent on prompts
    out: dict[str, list] = {}
    bought, spend, facility_spend = [], [], []
    built = 0.0
    owned = sc["facility.build_usd_per_kw"] is not None
    building_life = sc["facility.building_life_years"]
    tco = npv = rent_tco = 0.0
    for y in range(years):
        rate = sc["workload.requests_per_day"] / 86400 * (1 + sc["workload.growth_per_year"]) ** y
        peak = rate * sc["workload.peak_to_mean"]
        base = _ceil(peak / (lam * rho))
        replicas = base + _ceil(sc["deployment.spare_frac"] * base)
        if n_rep >= aps:
            servers = replicas * _ceil(n_rep / aps)
        else:
            servers = _ceil(replicas / _floor(aps / n_rep))
        acc = servers * aps
        busy = rate / lam * n_rep / acc if acc else 0.0
        peak_busy = peak / lam * n_rep / acc if acc else 0.0
        # fat tree: tiers L with N <= 2 (k/2)^L; switches (2L-1) N / k; transceivers 2 N L
        ends = acc if servers > 1 else 0
        k = fb["switch_radix"]
        tiers = 0 if ends <= 1 else next(L for L in range(1, 2000) if ends <= 2 * (k / 2) ** L)
        switches = 0 if tiers == 0 else (1 if tiers == 1 else _ceil((2 * tiers - 1) * ends / k))
        xcvr = 2 * ends * tiers
        net_w = (
            switches * fb["switch_power"] + xcvr * fb["transceiver_power"] + ends * fb["nic_power"]
        )
        net_usd = (
            switches * fb["switch_price"] + xcvr * fb["transceiver_price"] + ends * fb["nic_price"]
        )
        server_w = hw["server_overhead_power"]
        it = (
            acc * (hw["idle_power"] + (hw["tdp"] - hw["idle_power"]) * busy)
            + servers * server_w
            + net_w
        )
        it_peak = acc * hw["tdp"] + servers * server_w + net_w
        fac = it * cl["pue"]
        requests = rate * SECONDS_PER_YEAR
        tokens = requests * sc["workload.output_tokens"]
        alive = sum(bought[max(0, y - life + 1) : y])
        bought.append(max(0.0, acc - alive))
        decline = (1 - sc["finance.price_decline_per_year"]) ** y
        hw_capex = bought[-1] * (hw["price_purchase"] + hw["server_price"] / aps) * decline
        net_capex = bought[-1] * (net_usd / acc if acc else 0.0) * decline
        spend.append(hw_capex + net_capex)
        # an owned facility builds capacity for peak IT kW as the fleet grows
        fac_capex = (
            max(0.0, it_peak - built) / 1000 * sc["facility.build_usd_per_kw"] if owned else 0.0
        )
        built = max(built, it_peak) if owned else 0.0
        facility_spend.append(fac_capex)
        capex = spend[-1] + fac_capex
        depreciation = (
            sum(spend[max(0, y - dep + 1) : y + 1]) / dep
            + sum(facility_spend[max(0, y - building_life + 1) : y + 1]) / building_life
        )
        energy = fac * SECONDS_PER_YEAR / 3.6e6 * sc["finance.electricity_usd_per_kwh"]
        facility = (
            0.0 if owned else it_peak / 1000 * sc["facility.colocation_usd_per_kw_month"] * 12
        )
        maintenance = sc["finance.maintenance_frac_per_year"] * sum(
            spend[max(0, y - life + 1) : y + 1]
        )
        staff = (
            sc["finance.staff_per_1000_accelerators"]
            * acc
            / 1000
            * sc["finance.staff_cost_usd_per_year"]
        )
        software = acc * sc["finance.software_usd_per_accelerator_year"]
        opex = energy + facility + maintenance + staff + software
        tco += capex + opex
        npv += (capex + opex) / (1 + sc["finance.discount_rate"]) ** y
        rent = acc * rental * SECONDS_PER_YEAR
        rent_tco += rent + staff + software
        accrual = depreciation + opex
        row = {
            "accelerators": acc,
            "servers": servers,
            "racks": _ceil(servers / per_rack),
            "utilisation": busy,
            "peak_utilisation": peak_busy,
            "it_power_w": it,
            "facility_power_w": fac,
            "energy_per_token_j": fac * SECONDS_PER_YEAR / tokens if tokens else math.nan,
            "carbon_kg": fac
            * SECONDS_PER_YEAR
            / 3.6e6
            * sc["facility.grid_carbon_g_per_kwh"]
            / 1000,
            "generated_tokens": tokens,
            "capex_usd": capex,
            "facility_capex_usd": fac_capex,
            "floor_space_m2": _ceil(servers / per_rack) * cl["floor_area_per_rack"],
            "hardware_capex_usd": hw_capex,
            "network_capex_usd": net_capex,
            "depreciation_usd": depreciation,
            "energy_cost_usd": energy,
            "facility_cost_usd": facility,
            "maintenance_cost_usd": maintenance,
            "staff_cost_usd": staff,
            "software_cost_usd": software,
            "opex_usd": opex,
            "tco_usd": tco,
            "npv_usd": npv,
            "cost_per_million_output_tokens_usd": accrual * (1 - input_share) / tokens * 1e6
            if tokens
            else math.nan,
            "cost_per_million_input_tokens_usd": (
                accrual * input_share / (requests * sc["workload.input_tokens"]) * 1e6
                if tokens
                else math.nan
            ),
            "cost_per_request_usd": accrual / requests if tokens else math.nan,
            "rent_cost_usd": rent,
            "rent_tco_usd": rent_tco,
            "break_even_utilisation": accrual / rent if rent > 0 else math.nan,
        }
        for name, value in row.items():
            out.setdefault(name, []).append(value)
    code = st.ZERO_DEMAND if sc["workload.requests_per_day"] <= 0 else st.FEASIBLE
    return code, out


def evaluate(sc, catalog, years):
    """Return (status, scenario outputs, per-year outputs) of one scenario in config units."""
    hw, clock = derated_hardware(sc, catalog)
    if clock <= 0:
        return st.RACK_POWER_EXCEEDED, {}, {}
    code, rep = replica(sc, catalog, hw)
    if code != st.FEASIBLE:
        return code, rep, {}
    rep["clock_scale"] = clock
    code, per_year = fleet(sc, catalog, rep, years, hw)
    return code, rep, per_year
