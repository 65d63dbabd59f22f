"""Plain-Python oracle of fleetsim's kernel: the same equations, written out independently.

Readable and slow. It takes one scenario in *config* units (as a user writes it) plus the
catalog, and returns the status code, the scenario outputs and the per-year outputs by name.
It does not import fleetsim's physics, fleet, layout or kernel modules; only the catalog loader
(input data) and the status codes.
"""

from __future__ import annotations

import math

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
    return 2 * (n - 1) / n * message / bw + 2 * (n - 1) * alpha


def _token_time(batch, c, m, d, hw, peak, b_w, kv_tok, kv_d, tp, pp, link, sc):
    """Time per output token: one step, or speculative (k drafts, verify k + 1 in one step)."""
    k = sc["deployment.draft_tokens"] if sc["deployment.draft_model"] is not None else 0
    verify = _step_time(batch * (k + 1), c, m, hw, peak, b_w, kv_tok / (k + 1), tp, pp, link, sc)
    if k == 0:
        return verify
    draft = _step_time(batch, c, d, hw, peak, b_w, kv_d, tp, pp, link, sc)
    a = sc["deployment.acceptance_rate"]
    expected = (1 - a ** (k + 1)) / (1 - a)  # Leviathan et al. 2023, eq. 1
    return (verify + k * draft) / expected


def _step_time(batch, c, m, hw, peak, b_w, kv_tok, tp, pp, link, sc):
    micro = batch / pp
    flops = micro * (2 * m["active_params"] + m["attention_flops_per_context_token"] * c)
    experts = m["moe_experts"]
    touched = experts * (1 - (1 - m["moe_top_k"] / experts) ** micro) if experts > 0 else 0.0
    weights = (m["dense_params"] + m["moe_layers"] * touched * m["expert_params"]) * b_w
    traffic = weights + micro * c * kv_tok
    compute_time = flops / pp / (tp * peak * hw["compute_efficiency"])
    memory_time = traffic / pp / (tp * hw["hbm_bandwidth"] * hw["bandwidth_efficiency"])
    comm = _comm(micro, m, m["layers"] / pp, m["moe_layers"] / pp, tp, link, sc)
    return pp * (max(compute_time, memory_time) + comm) + sc["deployment.step_overhead_s"]


def _comm(tokens, m, layers, moe_layers, tp, link, sc):
    """TP all-reduces (2 per layer); with EP, each MoE layer swaps its MLP all-reduce for
    dispatch + combine all-to-alls of the tokens' k routed copies."""
    alpha = sc["deployment.link_latency_s"]
    message = tokens * m["d_model"] * ACTIVATION_BYTES
    ep = min(sc["deployment.ep"], tp)
    if ep <= 1 or moe_layers <= 0:
        return 2 * layers * _allreduce(message, tp, link, alpha)
    a2a = (ep - 1) / ep * message * m["moe_top_k"] / link + (ep - 1) * alpha
    return (2 * layers - moe_layers) * _allreduce(message, tp, link, alpha) + moe_layers * 2 * a2a


def _prefill(S, m, hw, peak, b_w, tp, pp, link, sc):
    C = S * sc["deployment.prefix_cache_hit_rate"]  # cached prefix: not recomputed, still attended
    new = S - C
    if new <= 0:
        return 0.0
    # causal attention of the new tokens: token i attends to i positions, i = C..S
    flops = 2 * m["active_params"] * new + m["attention_flops_per_context_token"] * 0.5 * (
        S * S - C * C
    )
    experts = m["moe_experts"]
    touched = experts * (1 - (1 - m["moe_top_k"] / experts) ** new) if experts > 0 else 0.0
    weights = (m["dense_params"] + m["moe_layers"] * touched * m["expert_params"]) * b_w
    n = tp * pp
    t = max(
        flops / (n * peak * hw["compute_efficiency"]),
        weights / (n * hw["hbm_bandwidth"] * hw["bandwidth_efficiency"]),
    )
    return t + _comm(new, m, m["layers"], m["moe_layers"], tp, link, sc)


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
    """Return (status, outputs) of one replica; ``deployment.tp=auto`` tries 1, 2, 4, ... <= domain."""
    if sc["deployment.tp"] != "auto":
        return replica_at(sc["deployment.tp"], sc, catalog, hw)
    results = []
    tp = 1
    while tp <= min(hw["scaleup_domain"], 64):
        results.append(replica_at(tp, sc, catalog, hw))
        tp *= 2
    feasible = [r for r in results if r[0] == st.FEASIBLE]
    if not feasible:
        return results[-1]
    best = max(r[1]["tokens_per_s_per_accelerator"] for r in feasible)
    return next(r for r in feasible if r[1]["tokens_per_s_per_accelerator"] == best)


def replica_at(tp, sc, catalog, hw):
    """Return (status, outputs) of a replica with tensor-parallel degree ``tp``."""
    m = _row(catalog, "models", sc["model"])
    drafting = sc["deployment.draft_model"] is not None
    d = _row(catalog, "models", sc["deployment.draft_model"]) if drafting else m
    fb = _row(catalog, "fabrics", sc["network.fabric"])
    pp = sc["deployment.pp"]
    b_w, b_kv = BYTES[sc["deployment.weight_dtype"]], BYTES[sc["deployment.kv_dtype"]]
    peak = hw[COMPUTE[sc["deployment.weight_dtype"]]] or hw["peak_flops_bf16"]
    S, O = sc["workload.input_tokens"], sc["workload.output_tokens"]
    out = {
        "tensor_parallel": tp,
        "accelerators_per_replica": tp * pp,
        "weight_bytes": (m["total_params"] + (d["total_params"] if drafting else 0)) * b_w,
    }
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
    b_max = math.floor(free / ((S + O) * (kv_tok + kv_d)))
    if b_max < 1:
        return st.KV_DOES_NOT_FIT, out
    b_max = b_max if sc["deployment.max_batch"] is None else min(b_max, sc["deployment.max_batch"])
    out["max_batch_size"] = b_max
    link = (
        hw["scaleup_bandwidth"]
        if tp <= hw["scaleup_domain"]
        else hw["scaleout_bandwidth"] * fb["effective_bandwidth_frac"]
    )
    c = S + O / 2

    def step(b):
        return _token_time(b, c, m, d, hw, peak, b_w, kv_tok, kv_d, tp, pp, link, sc)

    tpot = math.inf if sc["workload.tpot_slo_s"] is None else sc["workload.tpot_slo_s"]
    if step(1) > tpot:
        return st.TPOT_UNREACHABLE, out
    batch = 1  # linear scan from the top would be slow; bisection on a monotone function
    lo, hi = 1, b_max
    if step(hi) <= tpot:
        batch = hi
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if step(mid) <= tpot else (lo, mid)
        batch = lo
    t_pf = _prefill(S, m, hw, peak, b_w, tp, pp, link, sc)
    if drafting:  # the draft model prefills the prompt too
        t_pf += _prefill(S, d, hw, peak, b_w, tp, pp, link, sc)
    tau = t_pf + O * step(batch) / batch
    ttft = math.inf if sc["workload.ttft_slo_s"] is None else sc["workload.ttft_slo_s"]
    cap = sc["workload.max_utilisation"]
    slack = ttft - t_pf
    if slack < 0:
        return st.TTFT_UNREACHABLE, out
    if math.isinf(slack):
        rho = cap
    else:  # M/D/1 on the prefill path: wait = r t_pf / (2 (1 - r)), r = rho t_pf / tau
        r_max = 2 * slack / (t_pf + 2 * slack)
        rho = min(r_max * tau / t_pf, cap)
    r = rho * t_pf / tau
    out.update(
        batch_size=batch,
        tpot_s=step(batch),
        prefill_time_s=t_pf,
        ttft_s=t_pf + r * t_pf / (2 * (1 - r)),
        replica_requests_per_s=1 / tau,
        target_utilisation=rho,
        tokens_per_s_per_accelerator=O / tau / (tp * pp),
        max_tokens_per_s_per_accelerator=O / (t_pf + O * step(b_max) / b_max) / (tp * pp),
    )
    return st.FEASIBLE, out


def fleet(sc, catalog, rep, years, hw):
    """Return (status, per-year outputs as lists) for a feasible replica operating point."""
    fb = _row(catalog, "fabrics", sc["network.fabric"])
    cl = _row(catalog, "cooling", sc["facility.cooling"])
    aps = hw["accelerators_per_server"]
    if sc["facility.servers_per_rack"] is None:
        per_rack = math.floor(
            cl["rack_power_limit"] / (aps * hw["tdp"] + hw["server_overhead_power"])
        )
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
    input_share = rep["prefill_time_s"] * lam  # share of replica time spent on prompts
    out: dict[str, list] = {}
    bought, spend, facility_spend = [], [], []
    built = 0.0
    owned = sc["facility.build_usd_per_kw"] is not None
    building_life = sc["facility.building_life_years"]
    tco = npv = rent_tco = 0.0
    for y in range(years):
        rate = sc["workload.requests_per_day"] / 86400 * (1 + sc["workload.growth_per_year"]) ** y
        peak = rate * sc["workload.peak_to_mean"]
        base = math.ceil(peak / (lam * rho))
        replicas = base + math.ceil(sc["deployment.spare_frac"] * base)
        if n_rep >= aps:
            servers = replicas * math.ceil(n_rep / aps)
        else:
            servers = math.ceil(replicas / math.floor(aps / n_rep))
        acc = servers * aps
        busy = rate / lam * n_rep / acc if acc else 0.0
        peak_busy = peak / lam * n_rep / acc if acc else 0.0
        # fat tree: tiers L with N <= 2 (k/2)^L; switches (2L-1) N / k; transceivers 2 N L
        ends = acc if servers > 1 else 0
        k = fb["switch_radix"]
        tiers = 0 if ends <= 1 else next(L for L in range(1, 20) if ends <= 2 * (k / 2) ** L)
        switches = 0 if tiers == 0 else (1 if tiers == 1 else math.ceil((2 * tiers - 1) * ends / k))
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
            "racks": math.ceil(servers / per_rack),
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
            "floor_space_m2": math.ceil(servers / per_rack) * cl["floor_area_per_rack"],
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
