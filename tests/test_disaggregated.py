"""Disaggregated serving: a fleet-year by hand, the oracle on random draws, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fleetsim
from fleetsim import api, catalog, config
from fleetsim import status as st

from .oracle import evaluate

YEAR = 8760 * 3600.0
#: a small disaggregated fleet on the tiny catalog, every setting the hand computation needs
HAND = [
    "model=test-dense", "hardware=test-small", "deployment.serving=disaggregated",
    "deployment.tp=1", "deployment.pp=1", "deployment.weight_dtype=bf16",
    "deployment.kv_dtype=bf16", "deployment.max_batch=16", "deployment.spare_frac=0",
    "deployment.prefix_cache_hit_rate=0", "workload.input_tokens=1000",
    "workload.output_tokens=400", "workload.input_tokens_cv=0", "workload.output_tokens_cv=0",
    "workload.ttft_slo_s=null", "workload.tpot_slo_s=null", "workload.ttft_quantile=null",
    "workload.tpot_quantile=null", "workload.requests_per_day=172800", "workload.peak_to_mean=1",
    "workload.growth_per_year=0", "workload.max_utilisation=0.9", "network.fabric=infiniband",
    "facility.cooling=air", "facility.build_usd_per_kw=null", "facility.servers_per_rack=null",
    "finance.maintenance_frac_per_year=0", "finance.staff_per_1000_accelerators=0",
    "finance.software_usd_per_accelerator_year=0", "finance.price_decline_per_year=0",
    "finance.years=1", "output.float32=false",
]  # fmt: skip


def _row(table: str, entry: str) -> dict:
    t = catalog.load().tables[table]
    return dict(zip(t.columns, t.values[t.ids.index(entry)], strict=True))


def test_one_disaggregated_fleet_year_by_hand(tiny_catalog_env):
    ds = fleetsim.run(HAND).squeeze()
    assert int(ds.status) == st.FEASIBLE
    m, hw = _row("models", "test-dense"), _row("hardware", "test-small")
    fb, cl = _row("fabrics", "infiniband"), _row("cooling", "air")
    cfg = api.compose(HAND)
    overhead = float(cfg.deployment.step_overhead_s)
    alpha = float(cfg.deployment.link_latency_s)
    S, O, B = 1000, 400, 16
    kv_token = m["kv_elements_per_token"] * 2  # BF16 cache
    bw, peak = hw["hbm_bandwidth"] * hw["bandwidth_efficiency"], hw["peak_flops_bf16"] * 0.5
    assert hw["compute_efficiency"] == 0.5  # the fraction of peak used just above
    a = m["attention_flops_per_context_token"]
    # activations outside the weights, per token, BF16 (TP1: replicated and split alike)
    act = (m["activation_elements_per_token"] + m["split_activation_elements_per_token"]) * 2
    # prefill pool: one TP1 replica passes a 1000-token prompt alone: weights once, the tokens'
    # activations, the GEMM math, causal attention a S^2 / 2, one engine step
    t_prefill = (m["dense_params"] * 2 + act * S) / bw + 2 * m["active_params"] * S / peak
    t_prefill += 0.5 * a * S * S / peak + overhead
    assert float(ds.prefill_time_s) == pytest.approx(t_prefill, rel=1e-12)
    # KV transfer: a one-device scale-up domain, so the prompt's 1000 x kv bytes go over the
    # 100 Gb/s NIC at the fabric's 0.9 efficiency, one lane (TP1 on both sides)
    transfer = S * kv_token / (hw["scaleout_bandwidth"] * fb["effective_bandwidth_frac"]) + alpha
    assert float(ds.kv_transfer_s) == pytest.approx(transfer, rel=1e-12)
    # no TTFT target: the prefill replicas run at the 0.9 cap; TTFT = M/D/1 wait + prefill + send
    rho = 0.9
    wait = rho * t_prefill / (2 * (1 - rho))
    assert float(ds.prefill_planned_utilisation) == rho
    assert float(ds.ttft_s) == pytest.approx(t_prefill + transfer + wait, rel=1e-12)
    # decode pool: pure decode steps of 16 sequences at mean context S + O / 2 (no prompts)
    c = S + O / 2
    step = (m["dense_params"] * 2 + act * B) / bw + 2 * m["active_params"] * B / peak
    step += B * c * kv_token / bw + B * c * a / peak + overhead
    assert float(ds.tpot_s) == pytest.approx(step, rel=1e-12)
    assert float(ds.batch_size) == B
    # replicas for 2 requests/s: prefill 0.9 / t_prefill each, decode 0.9 x 16 / (400 step)
    rate = 172800 / 86400
    prefill_replicas = math.ceil(rate / (rho / t_prefill))
    decode_replicas = math.ceil(rate / (rho * B / (O * step)))
    assert (prefill_replicas, decode_replicas) == (2, 6)  # 4 accelerators per server
    year = ds  # one year, squeezed
    assert float(year.prefill_accelerators) == 4
    assert float(year.decode_accelerators) == 8
    assert float(year.accelerators) == 12
    assert float(year.prefill_decode_ratio) == 0.5
    # money, year 1: hardware at list price; both pools on one fabric of 12 ports (the KV cache
    # crosses it): one switch, 2 x 12 transceivers, shared 8:4, and a NIC per accelerator
    unit = hw["price_purchase"] + hw["server_price"] / 4
    switching = fb["switch_price"] + 24 * fb["transceiver_price"]
    switching_w = fb["switch_power"] + 24 * fb["transceiver_power"]
    depreciation_years = int(cfg.finance.depreciation_years)
    price = float(cfg.finance.electricity_usd_per_kwh) / 3.6e6
    colo = float(cfg.facility.colocation_usd_per_kw_month) * 12 / 1000

    def pool(accelerators, servers, busy, net_usd, net_w):
        it = accelerators * (hw["idle_power"] + (hw["tdp"] - hw["idle_power"]) * busy)
        it += servers * hw["server_overhead_power"] + net_w
        it_peak = accelerators * hw["tdp"] + servers * hw["server_overhead_power"] + net_w
        capex = accelerators * unit + net_usd
        opex = it * cl["pue"] * YEAR * price + it_peak * colo
        return capex, capex / depreciation_years + opex, opex

    busy_p = rate * t_prefill / 4  # each prompt holds one accelerator for t_prefill
    busy_d = rate * O * step / B / 8
    capex_p, accrual_p, opex_p = pool(
        4, 1, busy_p, switching * 4 / 12 + 4 * fb["nic_price"],
        switching_w * 4 / 12 + 4 * fb["nic_power"],
    )  # fmt: skip
    capex_d, accrual_d, opex_d = pool(
        8, 2, busy_d, switching * 8 / 12 + 8 * fb["nic_price"],
        switching_w * 8 / 12 + 8 * fb["nic_power"],
    )  # fmt: skip
    assert float(year.prefill_utilisation) == pytest.approx(busy_p, rel=1e-12)
    assert float(year.decode_utilisation) == pytest.approx(busy_d, rel=1e-12)
    assert float(year.utilisation) == pytest.approx((4 * busy_p + 8 * busy_d) / 12, rel=1e-12)
    assert float(year.prefill_tco_usd) == pytest.approx(capex_p + opex_p, rel=1e-12)
    assert float(year.decode_tco_usd) == pytest.approx(capex_d + opex_d, rel=1e-12)
    assert float(year.tco_usd) == pytest.approx(capex_p + opex_p + capex_d + opex_d, rel=1e-12)
    requests = rate * YEAR
    assert float(year.cost_per_million_input_tokens_usd) == pytest.approx(
        accrual_p / (requests * S) * 1e6, rel=1e-12
    )
    assert float(year.cost_per_million_output_tokens_usd) == pytest.approx(
        accrual_d / (requests * O) * 1e6, rel=1e-12
    )
    assert float(year.cost_per_request_usd) == pytest.approx(
        (accrual_p + accrual_d) / requests, rel=1e-12
    )


def _draw_overrides(rng: np.random.Generator) -> list[str]:
    def pick(values, k):
        return "[" + ",".join(str(v) for v in rng.choice(values, size=k, replace=False)) + "]"

    return [
        "deployment.serving=disaggregated",
        f"model={pick(['llama3.1-70b', 'deepseek-r1', 'mixtral-8x7b', 'llama3.1-8b'], 2)}",
        f"hardware={pick(['h100-sxm', 'gb200', 'mi300x', 'h200'], 2)}",
        f"deployment.prefill_hardware=[null,{rng.choice(['h200', 'b200', 'l40s'])}]",
        f"deployment.tp={pick(['auto', 1, 4, 8], 2)}",
        f"deployment.pp={rng.choice(['1', 'auto'])}",
        f"deployment.prefill={rng.choice(['chunked', 'whole'])}",
        f"deployment.weight_dtype={pick(['bf16', 'fp8', 'fp4'], 2)}",
        f"deployment.kv_dtype={rng.choice(['bf16', 'fp8'])}",
        f"deployment.engine=[vendor,{rng.choice(['vllm', 'sglang', 'trtllm'])}]",
        f"deployment.prefix_cache_hit_rate=[0,{rng.uniform(0, 0.9):.3f}]",
        f"deployment.draft_model=[null,{rng.choice(['llama3.1-8b', 'llama2-7b'])}]",
        f"workload.input_tokens={pick([300, 2000, 9000], 2)}",
        f"workload.output_tokens={int(rng.integers(20, 900))}",
        f"workload.input_tokens_cv={rng.uniform(0, 1.5):.3f}",
        f"workload.tpot_slo_s=[null,{rng.uniform(0.01, 0.15):.4f}]",
        f"workload.ttft_slo_s=[null,{rng.uniform(0.05, 3):.3f}]",
        f"workload.ttft_quantile={rng.choice(['null', '0.99'])}",
        f"workload.tpot_quantile={rng.choice(['null', '0.99'])}",
        f"workload.requests_per_day=[0,{rng.uniform(1e5, 1e9):.0f}]",
        f"network.fabric={rng.choice(['infiniband', 'roce'])}",
        f"facility.servers_per_rack={rng.choice(['null', '4'])}",
        f"finance.rental_usd_per_accelerator_hour={rng.choice(['null', '2.5'])}",
        "finance.years=4",
        "output.float32=false",
    ]


def _point_scenario(scenario, point) -> dict:
    values = {key: vals[0] for key, vals in scenario.values.items()}
    for spec in config.FIELDS:
        if spec.name in point.coords:
            values[spec.key] = point[spec.name].values.item()
        value = values[spec.key]
        if spec.kind == "integer" and isinstance(value, str) and value != "auto":
            values[spec.key] = int(value)
        if spec.kind == "catalog" and value == "none":  # a null catalog id is labelled "none"
            values[spec.key] = None
        if spec.nullable and isinstance(value, float) and math.isinf(value):
            values[spec.key] = None
    return values


@pytest.mark.parametrize("seed", [11, 12])
def test_disaggregated_kernel_matches_oracle(real_catalog_env, seed):
    rng = np.random.default_rng(seed)
    cfg = api.compose(_draw_overrides(rng))
    scenario = config.validate(cfg, catalog.load().ids())
    ds = api.run_config(cfg, progress=False)
    flat = ds.stack(scenario_index=ds["status"].dims)
    picks = rng.choice(flat.sizes["scenario_index"], size=120, replace=False)
    compared = {code: 0 for code in st.MEANINGS}
    for i in picks:
        point = flat.isel(scenario_index=int(i))
        sc = _point_scenario(scenario, point)
        code, rep, per_year = evaluate(sc, catalog.load(), scenario.years)
        assert int(point["status"]) == code, sc
        compared[code] += 1
        if code not in st.SERVABLE:
            continue
        for name, expected in rep.items():
            assert float(point[name]) == pytest.approx(expected, rel=1e-9), (name, sc)
        for name, expected in per_year.items():
            np.testing.assert_allclose(
                point[name].values, expected, rtol=1e-9, err_msg=f"{name} {sc}"
            )
    assert compared[st.FEASIBLE] > 10, compared


LOOSE = [
    "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=4", "deployment.pp=1",
    "deployment.weight_dtype=fp8", "deployment.kv_dtype=fp8", "workload.input_tokens=2000",
    "workload.input_tokens_cv=0.5", "workload.requests_per_day=1e8", "finance.years=3",
    "output.float32=false",
]  # fmt: skip


def test_disaggregated_ttft_has_no_decode_interference(real_catalog_env):
    # whatever the decode pool does (output length, TPOT target, batch cap), TTFT is the prefill
    # pool's M/G/1 wait + prefill + KV transfer, and nothing else
    ds = fleetsim.run([
        *LOOSE, "deployment.serving=disaggregated", "workload.output_tokens=[50,500,2000]",
        "workload.tpot_slo_s=[null,0.05]", "deployment.max_batch=[null,8]",
        "workload.ttft_slo_s=[null,1.0]",
    ])  # fmt: skip
    assert bool((ds.status == st.FEASIBLE).all())
    ttft = ds.ttft_s
    for dim in ("output_tokens", "tpot_slo_s", "max_batch"):
        assert float(abs(ttft - ttft.isel({dim: 0})).max()) == 0.0, dim
    s = 1 / ds.prefill_replica_requests_per_s
    rho = ds.prefill_planned_utilisation
    wait = rho * s * (1 + 0.5**2) / (2 * (1 - rho))
    np.testing.assert_allclose(ttft, ds.prefill_time_s + ds.kv_transfer_s + wait, rtol=1e-12)


def test_a_faster_fabric_never_raises_ttft(real_catalog_env):
    fabrics = catalog.load().tables["fabrics"]
    eff = dict(zip(fabrics.ids, fabrics.values[:, fabrics.columns.index("effective_bandwidth_frac")],
                   strict=True))  # fmt: skip
    slow, fast = sorted(("infiniband", "roce"), key=eff.__getitem__)
    assert eff[fast] > eff[slow]
    ds = fleetsim.run([
        *LOOSE, "deployment.serving=disaggregated", "workload.output_tokens=300",
        "hardware=[h100-sxm,gb200]", "deployment.tp=[4,8]", "workload.input_tokens=[2000,32000]",
        "model=llama3.1-8b", "network.fabric=[infiniband,roce]", "workload.ttft_slo_s=[null,0.5,3]",
    ])  # fmt: skip
    a, b = ds.sel(fabric=fast), ds.sel(fabric=slow)
    both = (a.status == st.FEASIBLE) & (b.status == st.FEASIBLE)
    assert int(both.sum()) >= 8
    assert bool((a.kv_transfer_s <= b.kv_transfer_s).where(both, True).all())
    assert bool((a.ttft_s <= b.ttft_s * (1 + 1e-12)).where(both, True).all())
    # at a TTFT target the time saved on the wire lets the prefill replicas run busier
    assert bool((a.prefill_accelerators <= b.prefill_accelerators).where(both, True).all())
    assert bool((a.kv_transfer_s < b.kv_transfer_s).where(both, False).any())


def test_free_transfer_on_the_same_hardware_costs_what_aggregated_does(real_catalog_env):
    # No TTFT/TPOT target: both modes run every replica at the utilisation cap, and a request
    # costs the same accelerator-time -- its prefill pass (whole prompts, one per pass: a step
    # budget of one prompt's 2,000 tokens; the aggregated replica stalls its batch for it) plus
    # O decode steps at the KV-limited batch; the KV
    # transfer only adds to TTFT, which no target bounds. So the replica time per request is
    # the same to rounding, and the fleets differ only by whole replicas, spares and servers,
    # which two pools round up each on their own: at 1e9 requests/day (~10^3-10^4
    # accelerators) under 1 % of TCO. (With chunked prefill the aggregated replica also shares
    # the weight reads between prompt and decode tokens, a further gap in its favour.)
    ds = fleetsim.run([
        *LOOSE, "deployment.serving=[aggregated,disaggregated]", "deployment.prefill=whole",
        "deployment.step_token_budget=2000", "workload.output_tokens=[200,1000]",
        "workload.ttft_slo_s=null",
        "workload.tpot_slo_s=null", "deployment.link_latency_s=0",
        "model=[llama3.1-70b,llama3.1-8b]", "workload.requests_per_day=1e9",
    ])  # fmt: skip
    assert bool((ds.status == st.FEASIBLE).all())
    agg, dis = ds.sel(serving="aggregated"), ds.sel(serving="disaggregated")
    np.testing.assert_allclose(
        1 / agg.replica_requests_per_s,
        1 / dis.replica_requests_per_s + 1 / dis.prefill_replica_requests_per_s,
        rtol=1e-12,
    )
    tco = ds.tco_usd.isel(year=-1)
    gap = tco.sel(serving="disaggregated") / tco.sel(serving="aggregated") - 1
    assert float(abs(gap).max()) < 0.01, gap.values


def test_the_summary_shows_both_answers_side_by_side(real_catalog_env):
    from fleetsim.analysis.summary import summarise

    ds = fleetsim.run([
        "model=deepseek-r1", "hardware=gb200", "deployment.serving=[aggregated,disaggregated]",
        "deployment.tp=auto", "finance.years=2",
    ])  # fmt: skip
    text = summarise(ds)
    rows = {line.split()[2]: line for line in text.splitlines() if line.startswith("  ") and
            line.split()[0].isdigit()}  # fmt: skip
    assert set(rows) == {"aggregated", "disaggregated"}
    assert "prefill + decode pools" in text
    last = ds.prefill_accelerators.sel(serving="disaggregated").isel(year=-1)
    pools = f"{float(last.squeeze()):,.0f} + "
    assert pools in rows["disaggregated"]
    assert "prefill TP" in rows["disaggregated"]
    assert " / decode TP" in rows["disaggregated"]
    assert "prefill TP" not in rows["aggregated"]


def test_every_published_deployment_is_predicted(real_catalog_env):
    import io
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import validate_disaggregated

    out = io.StringIO()
    errors = validate_disaggregated.report(out)
    assert set(errors) == {"M072", "M073", "M074", "M075", "M076", "M077"}
    assert all(math.isfinite(e) for e in errors.values()), out.getvalue()
    assert "median |error|" in out.getvalue()


def test_the_interactivity_frontier_counts_both_pools(real_catalog_env):
    from fleetsim.analysis import interactivity_frontier

    ds = fleetsim.run([
        "model=llama3.1-70b", "hardware=h200", "deployment.tp=auto", "finance.years=1",
        "deployment.weight_dtype=fp8", "deployment.serving=[aggregated,disaggregated]",
        "workload.tpot_slo_s=[0.02,0.05,0.1]", "output.float32=false",
    ])  # fmt: skip
    front = interactivity_frontier(ds, by=("hardware", "serving"))
    assert set(front["serving"]) == {"aggregated", "disaggregated"}
    dis = ds.sel(serving="disaggregated").squeeze()
    # a request's accelerator-seconds in both pools, over its output tokens
    per_request = dis.accelerators_per_replica / dis.replica_requests_per_s
    per_request = per_request + dis.prefill_accelerators_per_replica / (
        dis.prefill_replica_requests_per_s
    )
    expected = (
        dis.tokens_per_s_per_accelerator
        * dis.accelerators_per_replica
        / (dis.replica_requests_per_s * per_request)
    )
    points = front[front["serving"] == "disaggregated"].set_index("tpot_slo_s")
    for target, value in points["tokens_per_s_per_accelerator"].items():
        assert value == pytest.approx(float(expected.sel(tpot_slo_s=target)), rel=1e-12)
        assert value < float(dis.tokens_per_s_per_accelerator.sel(tpot_slo_s=target))


@pytest.mark.parametrize("prefill", ["b200", "null"])
def test_a_mix_of_disaggregated_fleets_is_the_sum_of_its_pools(real_catalog_env, prefill):
    # each hardware type of the mix is a disaggregated fleet of its own at its share of the
    # demand (prefill on B200 beside either, or on the pool's own type); pool sizes, power and
    # money add up, pool utilisations are weighted by the pool's accelerators, the ratio is of
    # the sums
    common = [
        "model=llama3.1-70b", "deployment.serving=disaggregated", "deployment.tp=auto",
        f"deployment.prefill_hardware={prefill}", "finance.years=3", "output.float32=false",
    ]  # fmt: skip
    mixed = fleetsim.run([*common, "mix.candidates=[h100-sxm,h200]", "mix.shares=[[0.25,0.75]]"])
    a = fleetsim.run([*common, "hardware=h100-sxm", "workload.requests_per_day=1.25e6"])
    b = fleetsim.run([*common, "hardware=h200", "workload.requests_per_day=3.75e6"])
    mixed, a, b = (ds.squeeze(drop=True) for ds in (mixed, a, b))
    assert int(mixed.status) == int(a.status) == int(b.status) == st.FEASIBLE
    for name in ("accelerators", "tco_usd", "prefill_accelerators", "decode_accelerators",
                 "prefill_servers", "decode_servers", "prefill_it_power_w", "decode_tco_usd"):  # fmt: skip
        np.testing.assert_allclose(mixed[name], a[name] + b[name], rtol=1e-12, err_msg=name)
    for pool in ("prefill", "decode"):
        n_a, n_b = a[f"{pool}_accelerators"], b[f"{pool}_accelerators"]
        util = (a[f"{pool}_utilisation"] * n_a + b[f"{pool}_utilisation"] * n_b) / (n_a + n_b)
        np.testing.assert_allclose(mixed[f"{pool}_utilisation"], util, rtol=1e-12)
    ratio = mixed.prefill_accelerators / mixed.decode_accelerators
    np.testing.assert_allclose(mixed.prefill_decode_ratio, ratio, rtol=1e-12)
    assert float(mixed.ttft_s) == max(float(a.ttft_s), float(b.ttft_s))
    # an aggregated mix still has no per-pool outputs
    plain = fleetsim.run([*common[:1], "mix.candidates=[h100-sxm,h200]", "mix.shares=[[0.25,0.75]]",
                          "finance.years=3"])  # fmt: skip
    assert bool(plain.prefill_accelerators.isnull().all())
    assert bool(plain.prefill_decode_ratio.isnull().all())


def test_low_demand_lays_the_pools_out_in_small_replicas(real_catalog_env):
    # Llama 3.1 70B on GB200 (4 GPUs a server), one year, no growth: each fixed TP's decode
    # fleet by hand is ceil(peak / (rate x utilisation)) replicas plus 10 % spares, in whole
    # servers. At 1e5 requests/day one replica carries the demand whatever its size, so the
    # search keeps the smallest fleet (TP1 and TP2 fit one server; TP2 decodes more per GPU)
    # where the most tokens/s per GPU (TP4) would buy twice the GPUs; at 1e9 the two agree.
    ds = fleetsim.run([
        "model=llama3.1-70b", "hardware=gb200", "deployment.serving=disaggregated",
        "deployment.pp=1", "deployment.tp=[1,2,4,8,auto]", "workload.requests_per_day=[1e5,1e9]",
        "workload.growth_per_year=0", "finance.years=1", "output.float32=false",
    ]).squeeze()  # fmt: skip
    assert bool((ds.status == st.FEASIBLE).all())
    aps = _row("hardware", "gb200")["accelerators_per_server"]
    for demand, expected in ((1e5, 2), (1e9, 4)):
        at = ds.sel(requests_per_day=demand)
        peak = demand / 86400 * float(api.compose([]).workload.peak_to_mean)
        by_hand = {}
        for tp in (1, 2, 4, 8):
            d = at.sel(tp=str(tp))
            base = math.ceil(peak / float(d.replica_requests_per_s * d.target_utilisation))
            replicas = base + math.ceil(0.1 * base)
            servers = replicas * tp / aps if tp >= aps else math.ceil(replicas / (aps // tp))
            by_hand[tp] = servers * aps
            assert float(d.decode_accelerators) == by_hand[tp]
        rate = {tp: float(at.sel(tp=str(tp)).tokens_per_s_per_accelerator) for tp in by_hand}
        fewest = min(by_hand.values())
        chosen = max((tp for tp in by_hand if by_hand[tp] == fewest), key=rate.__getitem__)
        auto = at.sel(tp="auto")
        assert chosen == expected
        assert float(auto.tensor_parallel) == chosen
        assert float(auto.decode_accelerators) == fewest
        assert max(rate, key=rate.__getitem__) == 4  # the most tokens/s per GPU
    low = ds.sel(requests_per_day=1e5, tp="auto")
    assert float(low.decode_accelerators) < float(
        ds.sel(requests_per_day=1e5, tp="4").decode_accelerators
    )
    # the prefill pool too (here): no larger a fleet than any fixed TP gives it
    assert float(low.prefill_accelerators) <= min(
        float(ds.sel(requests_per_day=1e5, tp=str(tp)).prefill_accelerators) for tp in (1, 2, 4, 8)
    )
