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


def _step_time(batch, c, m, hw, peak, b_w, kv_tok, tp, pp, link, sc):
    micro = batch / pp
    flops = micro * (2 * m["active_params"] + m["attention_flops_per_context_token"] * c)
    experts = m["moe_experts"]
    touched = experts * (1 - (1 - m["moe_top_k"] / experts) ** micro) if experts > 0 else 0.0
    weights = (m["dense_params"] + m["moe_layers"] * touched * m["expert_params"]) * b_w
    traffic = weights + micro * c * kv_tok
    compute_time = flops / pp / (tp * peak * hw["compute_efficiency"])
    memory_time = traffic / pp / (tp * hw["hbm_bandwidth"] * hw["bandwidth_efficiency"])
    comm = (
        2
        * (m["layers"] / pp)
        * _allreduce(
            micro * m["d_model"] * ACTIVATION_BYTES, tp, link, sc["deployment.link_latency_s"]
        )
    )
    return pp * (max(compute_time, memory_time) + comm) + sc["deployment.step_overhead_s"]


def _prefill(S, m, hw, peak, b_w, tp, pp, link, sc):
    flops = 2 * m["active_params"] * S + 0.5 * m["attention_flops_per_context_token"] * S * S
    experts = m["moe_experts"]
    touched = experts * (1 - (1 - m["moe_top_k"] / experts) ** S) if experts > 0 else 0.0
    weights = (m["dense_params"] + m["moe_layers"] * touched * m["expert_params"]) * b_w
    n = tp * pp
    t = max(
        flops / (n * peak * hw["compute_efficiency"]),
        weights / (n * hw["hbm_bandwidth"] * hw["bandwidth_efficiency"]),
    )
    return t + 2 * m["layers"] * _allreduce(
        S * m["d_model"] * ACTIVATION_BYTES, tp, link, sc["deployment.link_latency_s"]
    )


def replica(sc, catalog):
    """Return (status, outputs) of one replica's operating point."""
    hw = _row(catalog, "hardware", sc["hardware"])
    m = _row(catalog, "models", sc["model"])
    fb = _row(catalog, "fabrics", sc["network.fabric"])
    tp, pp = sc["deployment.tp"], sc["deployment.pp"]
    b_w, b_kv = BYTES[sc["deployment.weight_dtype"]], BYTES[sc["deployment.kv_dtype"]]
    peak = hw[COMPUTE[sc["deployment.weight_dtype"]]] or hw["peak_flops_bf16"]
    S, O = sc["workload.input_tokens"], sc["workload.output_tokens"]
    out = {"accelerators_per_replica": tp * pp, "weight_bytes": m["total_params"] * b_w}
    kv_tok = m["kv_elements_per_token"] * b_kv
    out["kv_bytes_per_token"] = kv_tok
    free = (
        tp * pp * hw["hbm_capacity"] * (1 - sc["deployment.memory_reserve_frac"])
        - out["weight_bytes"]
    )
    if free < 0:
        return st.WEIGHTS_DO_NOT_FIT, out
    if m["max_context"] < S + O:
        return st.CONTEXT_TOO_LONG, out
    b_max = math.floor(free / ((S + O) * kv_tok))
    if b_max < 1:
        return st.KV_DOES_NOT_FIT, out
    out["max_batch_size"] = b_max
    link = (
        hw["scaleup_bandwidth"]
        if tp <= hw["scaleup_domain"]
        else hw["scaleout_bandwidth"] * fb["effective_bandwidth_frac"]
    )
    c = S + O / 2

    def step(b):
        return _step_time(b, c, m, hw, peak, b_w, kv_tok, tp, pp, link, sc)

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


def fleet(sc, catalog, rep, years):
    """Return (status, per-year outputs as lists) for a feasible replica operating point."""
    hw = _row(catalog, "hardware", sc["hardware"])
    fb = _row(catalog, "fabrics", sc["network.fabric"])
    cl = _row(catalog, "cooling", sc["facility.cooling"])
    aps = hw["accelerators_per_server"]
    server_w = aps * hw["tdp"] + hw["server_overhead_power"]
    per_rack = math.floor(cl["rack_power_limit"] / server_w)
    if per_rack < 1:
        return st.RACK_POWER_EXCEEDED, {}
    n_rep = rep["accelerators_per_replica"]
    lam, rho = rep["replica_requests_per_s"], rep["target_utilisation"]
    life, dep = sc["finance.hardware_lifetime_years"], sc["finance.depreciation_years"]
    price_per_kwh = sc["finance.electricity_usd_per_kwh"]
    out = {
        k: []
        for k in (
            "accelerators",
            "servers",
            "racks",
            "utilisation",
            "peak_utilisation",
            "it_power_w",
            "facility_power_w",
            "energy_per_token_j",
            "generated_tokens",
            "capex_usd",
            "depreciation_usd",
            "energy_cost_usd",
            "facility_cost_usd",
            "maintenance_cost_usd",
            "staff_cost_usd",
            "opex_usd",
            "tco_usd",
            "cost_per_million_output_tokens_usd",
        )
    }
    bought, spend, tco = [], [], 0.0
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
        it = (
            acc * (hw["idle_power"] + (hw["tdp"] - hw["idle_power"]) * busy)
            + servers * hw["server_overhead_power"]
            + net_w
        )
        it_peak = acc * hw["tdp"] + servers * hw["server_overhead_power"] + net_w
        fac = it * cl["pue"]
        tokens = rate * sc["workload.output_tokens"] * SECONDS_PER_YEAR
        unit = hw["price_purchase"] + hw["server_price"] / aps + (net_usd / acc if acc else 0.0)
        alive = sum(bought[max(0, y - life + 1) : y])
        bought.append(max(0.0, acc - alive))
        spend.append(bought[-1] * unit * (1 - sc["finance.price_decline_per_year"]) ** y)
        depreciation = sum(spend[max(0, y - dep + 1) : y + 1]) / dep
        energy = fac * SECONDS_PER_YEAR / 3.6e6 * price_per_kwh
        facility = it_peak / 1000 * sc["facility.colocation_usd_per_kw_month"] * 12
        maintenance = sc["finance.maintenance_frac_per_year"] * sum(
            spend[max(0, y - life + 1) : y + 1]
        )
        staff = (
            sc["finance.staff_per_1000_accelerators"]
            * acc
            / 1000
            * sc["finance.staff_cost_usd_per_year"]
        )
        opex = energy + facility + maintenance + staff
        tco += spend[-1] + opex
        row = dict(
            accelerators=acc,
            servers=servers,
            racks=math.ceil(servers / per_rack),
            utilisation=busy,
            peak_utilisation=peak_busy,
            it_power_w=it,
            facility_power_w=fac,
            energy_per_token_j=fac * SECONDS_PER_YEAR / tokens if tokens else math.nan,
            generated_tokens=tokens,
            capex_usd=spend[-1],
            depreciation_usd=depreciation,
            energy_cost_usd=energy,
            facility_cost_usd=facility,
            maintenance_cost_usd=maintenance,
            staff_cost_usd=staff,
            opex_usd=opex,
            tco_usd=tco,
            cost_per_million_output_tokens_usd=(depreciation + opex) / tokens * 1e6
            if tokens
            else math.nan,
        )
        for name, value in row.items():
            out[name].append(value)
    code = st.ZERO_DEMAND if sc["workload.requests_per_day"] <= 0 else st.FEASIBLE
    return code, out


def evaluate(sc, catalog, years):
    """Return (status, scenario outputs, per-year outputs) of one scenario in config units."""
    code, rep = replica(sc, catalog)
    if code != st.FEASIBLE:
        return code, rep, {}
    code, per_year = fleet(sc, catalog, rep, years)
    return code, rep, per_year
