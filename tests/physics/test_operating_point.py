"""The replica operating point: chunked vs whole prefill, length spread, token budget, layouts."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

import fleetsim
from fleetsim import catalog
from fleetsim import status as st
from fleetsim.physics import model_shapes, operating_point, queueing, serving

OFFLINE = ["workload=offline", "finance.years=1"]


def _hbm(hardware: str) -> float:
    table = catalog.load().tables["hardware"]
    row = dict(zip(table.columns, table.values[table.ids.index(hardware)], strict=True))
    return row["hbm_capacity"]


def test_chunked_prefill_is_never_slower_than_whole_prompts_without_a_binding_budget():
    # chunk tokens share the decode steps' weight reads: max(a + b, c + d) <= max(a, c) + max(b, d)
    ds = fleetsim.run([
        *OFFLINE, "model=[llama3.1-8b,llama3.1-70b,mixtral-8x7b]", "hardware=[h100-sxm,mi300x,l40s]",
        "deployment.tp=auto", "deployment.pp=1", "deployment.weight_dtype=fp8", "deployment.prefill=[chunked,whole]",
        "deployment.step_token_budget=10000000", "workload.input_tokens=[128,2048]",
    ])  # fmt: skip
    tokens = ds["max_tokens_per_s_per_accelerator"]
    chunked, whole = tokens.sel(prefill="chunked"), tokens.sel(prefill="whole")
    both = np.isfinite(chunked) & np.isfinite(whole)
    assert int(both.sum()) >= 12
    assert bool((chunked >= whole * (1 - 1e-12)).where(both, True).all())
    assert bool((chunked > whole * 1.01).where(both, False).any())  # and it matters somewhere


def test_whole_prompts_stall_the_batch_by_their_prefill_time():
    # the B / O prompts arriving per output token are prefilled m at a time in passes of their
    # own (m = B / O, at least 1, at most the 8,192-token budget's 4.096 prompts of 2,000), each
    # pass taking prefill_time_s: TPOT = decode step + (B / O) / m passes, so the prompts' share
    # of TPOT is (B / O) / m x prefill_time_s / TPOT
    ds = fleetsim.run([
        *OFFLINE, "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=4", "deployment.pp=1",
        "deployment.prefill=whole", "workload.input_tokens=2000", "workload.output_tokens=200",
        "workload.max_utilisation=0.9",
    ]).squeeze()  # fmt: skip
    b, t_pass = float(ds.batch_size), float(ds.prefill_time_s)
    m = min(max(b / 200, 1.0), 8192 / 2000)
    assert 1.0 < b / 200 < 8192 / 2000  # here m = B / O: one pass per output token
    assert float(ds.prefill_share) == pytest.approx(b / 200 / m * t_pass / float(ds.tpot_s))
    # TTFT = half the decode step in progress (the prompt joins at a step boundary; the decode
    # step is TPOT less the prompts' share) + its pass + the wait for one of the batch's B slots
    # (each held for the request's whole output, B tau; fixed outputs: Lee-Longton factor 1/2)
    # + the M/D/1 wait on the prefill path, each prompt holding it t_pass / m, busy
    # rho t_pass / (m tau) of the time
    tau, rho = 1 / float(ds.replica_requests_per_s), float(ds.target_utilisation)
    decode_step = float(ds.tpot_s) * (1 - float(ds.prefill_share))
    service = t_pass / m
    r = rho * service / tau
    slot = queueing.slot_wait_quantile(rho, b, b * tau, 0.5, math.inf)
    assert slot > 0
    expected = 0.5 * decode_step + t_pass + slot + r * service / (2 * (1 - r))
    assert float(ds.ttft_s) == pytest.approx(expected)
    # at full utilisation (the offline preset's) the slots are never free: TTFT is unbounded
    full = fleetsim.run([*OFFLINE, "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=4"])
    assert math.isinf(float(full.ttft_s.squeeze()))


@pytest.mark.parametrize("cv", [0.0, 1.0])
def test_kv_capacity_is_set_by_the_length_biased_sequences(cv):
    # a sequence found in the batch holds S + E[O^2]/E[O] = S + O (1 + cv^2) tokens of KV
    ds = fleetsim.run([
        *OFFLINE, "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=4", "deployment.pp=1",
        "deployment.prefill=whole", "workload.input_tokens=1000", "workload.output_tokens=1000",
        f"workload.output_tokens_cv={cv}",
    ]).squeeze()  # fmt: skip
    free = 4 * _hbm("h100-sxm") * (1 - 0.1) - float(ds.weight_bytes)
    held = 1000 + 1000 * (1 + cv**2)
    assert float(ds.max_batch_size) == math.floor(free / (held * float(ds.kv_bytes_per_token)))


def test_the_step_token_budget_caps_the_batch_even_below_one_sequence():
    # a step carries B decode tokens and B S / O prompt tokens: B <= budget / (1 + S / O)
    ds = fleetsim.run([
        *OFFLINE, "model=llama3.1-8b", "hardware=h200", "deployment.tp=1", "deployment.pp=1",
        "deployment.weight_dtype=fp8", "workload.input_tokens=[1024,4000]",
        "workload.output_tokens=[256,10]", "deployment.step_token_budget=100",
    ]).squeeze()  # fmt: skip
    assert float(ds.max_batch_size.sel(input_tokens=1024, output_tokens=256)) == 20
    # 100 / (1 + 400) = 0.249: on average a quarter of a sequence decodes while prompts fill the steps
    fraction = ds.sel(input_tokens=4000, output_tokens=10)
    assert int(fraction.status) == st.FEASIBLE
    assert float(fraction.batch_size) == pytest.approx(100 / 401)


def test_pipeline_search_places_a_model_too_large_for_one_server():
    # Llama 3.1 405B in BF16 (~810 GB) does not fit 8 x 80 GB; two pipeline stages do
    ds = fleetsim.run([
        *OFFLINE, "model=llama3.1-405b", "hardware=h100-sxm", "deployment.tp=auto",
        "deployment.pp=[1,auto]",
    ]).squeeze()  # fmt: skip
    assert int(ds.status.sel(pp="1")) == st.WEIGHTS_DO_NOT_FIT
    found = ds.sel(pp="auto")
    assert int(found.status) == st.FEASIBLE
    assert float(found.pipeline_parallel) >= 2
    assert float(found.accelerators_per_replica) == float(found.tensor_parallel) * float(
        found.pipeline_parallel
    )


def test_a_wider_prompt_spread_never_allows_a_busier_replica():
    # M/G/1: the same mean prefill with more spread waits longer, so a TTFT target allows less load
    ds = fleetsim.run([
        "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=4", "deployment.pp=1", "finance.years=1",
        "deployment.prefill=whole", "workload.input_tokens=8000", "workload.ttft_slo_s=3",
        "workload.ttft_quantile=null",
        "workload.input_tokens_cv=[0,0.5,1,2]",
    ]).squeeze()  # fmt: skip
    utilisation = ds.target_utilisation.values
    assert np.all(np.diff(utilisation) <= 0)
    assert utilisation[-1] < 0.9 * utilisation[0]


def test_more_pipeline_stages_than_layers_is_flagged():
    ds = fleetsim.run([*OFFLINE, "model=llama3.1-8b", "hardware=h100-sxm", "deployment.pp=64"])
    assert int(ds.status.squeeze()) == st.MORE_STAGES_THAN_LAYERS


def test_a_p99_ttft_target_plans_a_less_busy_replica_than_a_mean_target():
    ds = fleetsim.run([
        "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=4", "deployment.pp=1", "finance.years=1",
        "deployment.prefill=whole", "workload.input_tokens=8000", "workload.ttft_slo_s=3",
        "workload.input_tokens_cv=0.5", "workload.ttft_quantile=[null,0.9,0.99]",
    ]).squeeze()  # fmt: skip
    utilisation = ds.target_utilisation.values
    assert utilisation[0] > utilisation[1] > utilisation[2] > 0
    # ttft_s is the mean; the p99 target binds the p99 (3 s); the mean stays below the targets
    assert float(ds.ttft_p99_s.values[2]) == pytest.approx(3.0)
    assert np.all(ds.ttft_s.values < 3.0)
    assert np.all(ds.ttft_p99_s.values >= ds.ttft_s.values)


def _serving_row(model: str) -> np.ndarray:
    table = catalog.load().tables["models"]
    return table.values[table.ids.index(model)]


def _hardware_row(hardware: str) -> dict:
    table = catalog.load().tables["hardware"]
    return dict(zip(table.columns, table.values[table.ids.index(hardware)], strict=True))


#: Llama 3.1 70B at FP8 on one H100 server, plain tensor parallelism, chunked prefill, no targets
TP8_CHUNKED = [
    "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=8", "deployment.pp=1", "finance.years=1",
    "deployment.weight_dtype=fp8", "deployment.kv_dtype=fp8", "deployment.ep=1",
    "deployment.attention_dp=1", "deployment.prefill=chunked", "workload.tpot_slo_s=null",
    "workload.ttft_slo_s=null",
]  # fmt: skip


def _tp8_step(batch: float, context: float, prompt: float, prompt_tokens: float) -> float:
    """Return the TP8_CHUNKED replica's step time at ``batch`` sequences of mean ``context``,
    carrying ``prompt_tokens`` tokens of ``prompt``-token prompts, by hand."""
    md, hw = _serving_row("llama3.1-70b"), _hardware_row("h100-sxm")
    kv = md[catalog.MODEL_COLUMNS.index("kv_elements_per_token")] * 1.0
    attention = model_shapes.prefill_attention_flops(
        md[catalog.MODEL_COLUMNS.index("attention_flops_per_context_token")], prompt, 0.0, 0.0
    )
    return serving.decode_step_time(
        batch, context, prompt_tokens, attention * prompt_tokens / prompt, md, 1.0, kv, 8.0, 1.0,
        1.0, 1.0, hw["peak_flops_fp8"], hw["peak_flops_bf16"], hw["hbm_bandwidth"],
        hw["compute_efficiency"], hw["bandwidth_efficiency"], hw["scaleup_bandwidth"], 5e-6,
        hw["scaleup_bandwidth"], _overhead(),
    )  # fmt: skip


def test_a_long_prompt_takes_ceil_s_over_chunk_full_chunk_steps():
    # a 9,000-token prompt with 2,000 tokens of the step budget left to it (budget 2,016, 16
    # decoding sequences) needs ceil(9000 / 2000) = 5 steps, each carrying a full 2,000-token
    # chunk beside the 16 decode tokens
    ds = fleetsim.run([
        *TP8_CHUNKED, "workload.input_tokens=9000", "workload.output_tokens=500",
        "deployment.max_batch=16", "deployment.step_token_budget=2016",
    ]).squeeze()  # fmt: skip
    assert float(ds.batch_size) == 16
    full = _tp8_step(16.0, 9000.0 + 250.0, 9000.0, 2000.0)
    assert float(ds.prefill_time_s) == pytest.approx(5 * full)
    # the mean TTFT waits for the prefill path on top
    assert float(ds.ttft_s) >= float(ds.prefill_time_s)


def test_a_short_prompt_rides_with_its_neighbours_after_the_step_in_progress():
    # 64 sequences of 500 output tokens: 64 / 500 = 0.128 other prompts arrive per step, so the
    # step a 500-token prompt rides in carries 500 x 1.128 = 564 prompt tokens (well inside the
    # 8,128 the decode tokens leave). The prompt first waits out the step in progress, half a
    # step on average and 99 % of one at the p99; then the queueing waits come on top.
    ds = fleetsim.run([
        *TP8_CHUNKED, "workload.input_tokens=500", "workload.output_tokens=500",
        "workload.input_tokens_cv=0", "workload.output_tokens_cv=0",
        "workload.max_utilisation=0.5", "deployment.max_batch=64",
    ]).squeeze()  # fmt: skip
    assert float(ds.batch_size) == 64
    full = _tp8_step(64.0, 500.0 + 250.0, 500.0, 500.0 * (1.0 + 64.0 / 500.0))
    assert float(ds.prefill_time_s) == pytest.approx(full)
    step, tau = float(ds.tpot_s), 1 / float(ds.replica_requests_per_s)
    service = 500.0 / (8192.0 - 64.0) * full  # the prompt's share of the prefill budget
    args = (service, tau, 0.0, 64.0, 0.5)
    wait = queueing.queueing_wait(0.5, *args, math.inf)
    assert float(ds.ttft_s) == pytest.approx(0.5 * step + full + wait)
    wait99 = queueing.queueing_wait(0.5, *args, 0.99)
    assert float(ds.ttft_p99_s) == pytest.approx(0.99 * step + full + wait99)


def _overhead() -> float:
    cfg = fleetsim.api.compose([])
    return float(cfg.deployment.step_overhead_s)


def test_tpot_quantile_by_hand():
    # 300 sequences at a mean TPOT of 30 ms; each extra sequence adds 10 us per token, each prompt
    # 10 ms spread over its 300-token neighbours; z = 2.326 (p99):
    # variance 1e-10 * 2 * 300 / 3 + 1e-4 * 300 * (1 + 0) / 300^2 = 2e-8 + 3.3333e-7
    z = NormalDist().inv_cdf(0.99)
    got = operating_point.tpot_at_quantile(0.03, 300.0, z, 1e-5, 0.01, 300.0, 0.0)
    assert got == pytest.approx(0.03 + z * math.sqrt(2e-8 + 1e-4 / 300))
    assert operating_point.tpot_at_quantile(0.03, 300.0, 0.0, 1e-5, 0.01, 300.0, 0.0) == 0.03
    # prompts of spread length (cv 1) double the arrivals' variance
    wide = operating_point.tpot_at_quantile(0.03, 300.0, z, 0.0, 0.01, 300.0, 1.0)
    assert wide == pytest.approx(0.03 + z * math.sqrt(2 * 1e-4 / 300))


def test_a_p99_tpot_target_bounds_the_per_request_p99():
    # with the target on the p99, the p99 TPOT meets it and the batch is smaller than with the
    # target on the mean
    ds = fleetsim.run([
        "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=8", "deployment.pp=1", "finance.years=1",
        "deployment.weight_dtype=fp8", "deployment.kv_dtype=fp8", "workload.tpot_slo_s=0.03",
        "workload.ttft_slo_s=null", "workload.tpot_quantile=[null,0.99]",
    ]).squeeze()  # fmt: skip
    mean, p99 = ds.isel(tpot_quantile=0), ds.isel(tpot_quantile=1)
    assert float(p99.tpot_p99_s) <= 0.03 < float(mean.tpot_p99_s)
    assert float(mean.tpot_s) <= 0.03
    assert float(p99.batch_size) < float(mean.batch_size)
    assert 1.0 < float(p99.tpot_p99_s) / float(p99.tpot_s) < 1.5


def test_deepseek_is_served_with_data_parallel_attention_and_expert_parallelism():
    # MLA's latent is whole on every tensor-parallel device; attention DP splits it by sequence
    ds = fleetsim.run([
        *OFFLINE, "model=deepseek-v3", "hardware=h200", "deployment.tp=8", "deployment.pp=1",
        "deployment.weight_dtype=fp8", "deployment.kv_dtype=fp8",
        "deployment.attention_dp=[1,8,auto]", "deployment.ep=[1,8,auto]",
    ]).squeeze()  # fmt: skip
    tokens = ds.max_tokens_per_s_per_accelerator
    assert float(tokens.sel(attention_dp="8", ep="8")) > float(tokens.sel(attention_dp="1", ep="1"))
    auto = ds.sel(attention_dp="auto", ep="auto")
    assert float(auto.attention_data_parallel) == 8
    assert float(auto.expert_parallel) == 8


def test_the_layout_search_ranks_by_tokens_per_accelerator_at_the_planned_utilisation():
    # 16,384-token prompts under a 1 s TTFT: TP4 x PP2 has the highest full-occupancy rate but
    # must idle to keep its prefill queue short; the search keeps the layout serving the most
    # per accelerator at its planned utilisation, which needs the fewest accelerators
    base = ["model=llama3.1-70b", "hardware=h200", "deployment.weight_dtype=fp8",
            "deployment.kv_dtype=fp8", "workload.input_tokens=16384", "workload.ttft_slo_s=1.0",
            "finance.years=1"]  # fmt: skip
    grid = fleetsim.run([*base, "deployment.tp=[1,2,4,8]", "deployment.pp=[1,2,4,8,16]"])
    grid = grid.isel(year=0).squeeze(drop=True)

    def argmax(values):
        stacked = values.fillna(-1.0).stack(layout=("tp", "pp"))
        return tuple(float(x) for x in stacked.layout.values[int(np.argmax(stacked.data))])

    sustained = grid.tokens_per_s_per_accelerator * grid.target_utilisation
    chosen = fleetsim.run(base).isel(year=0).squeeze(drop=True)
    layout = (float(chosen.tensor_parallel), float(chosen.pipeline_parallel))
    assert layout == argmax(sustained)
    # the full-occupancy choice differs
    assert layout != argmax(grid.tokens_per_s_per_accelerator)
    assert float(chosen.accelerators) == float(grid.accelerators.min())
