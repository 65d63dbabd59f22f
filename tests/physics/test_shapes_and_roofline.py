"""Hand-computed values for model shapes, roofline, collectives, memory, queueing, power.

Each expected value is derived in the comment beside it from the published model shape or the
equation in the function's docstring, not from fleetsim itself.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from fleetsim.physics import collectives, memory, model_shapes, power, queueing, roofline, serving


def test_kv_bytes_per_token_gqa_llama31_70b():
    # Llama 3.1 70B: 80 layers, 8 KV heads, head dim 128; K and V; BF16 = 2 B
    # 2 * 80 * 8 * 128 = 163,840 elements -> 327,680 B per token
    elements = model_shapes.kv_elements_per_token("gqa", 80, 8, 128)
    assert elements == 163_840
    assert elements * 2 == 327_680


def test_kv_bytes_per_token_mha_llama2_7b():
    # Llama 2 7B is MHA: 32 layers x 32 KV heads x 128 x 2 (K, V) = 262,144 elements = 0.5 MiB in BF16
    assert model_shapes.kv_elements_per_token("mha", 32, 32, 128) * 2 == 512 * 1024


def test_kv_elements_mla_deepseek_v3():
    # DeepSeek-V3: 61 layers x (512 latent + 64 rotary) = 35,136 elements; BF16 -> 70,272 B per token
    assert model_shapes.kv_elements_per_token("mla", 61, 0, 128, 512, 64) == 35_136


def test_attention_flops_coefficients():
    # GQA/MHA: 4 L h d_h = 4 * 80 * 64 * 128 = 2,621,440 FLOP per context token (Llama 3.1 70B)
    assert model_shapes.attention_flops_per_context_token("gqa", 80, 64, 128) == 2_621_440
    # MLA: 2 L h (2 r + r_rope) = 2 * 61 * 128 * (1024 + 64) = 16,990,208
    assert (
        model_shapes.attention_flops_per_context_token("mla", 61, 128, 128, 512, 64) == 16_990_208
    )


def test_flops_per_token_and_prefill():
    # 2 Pa + a c = 2 * 70e9 + 2,621,440 * 1000 = 1.4e11 + 2.62144e9
    assert model_shapes.decode_flops_per_token(70e9, 2_621_440.0, 1000.0) == pytest.approx(
        1.4262144e11
    )
    # prefill S=100: 2 Pa S + a S^2 / 2 = 1.4e13 + 1.31072e10
    assert model_shapes.prefill_flops(70e9, 2_621_440.0, 100.0, 0.0, 0.0) == pytest.approx(
        1.4e13 + 1.31072e10
    )


def test_prefill_attention_follows_the_second_moment_of_prompt_length():
    # prompts of mean 100 with cv 1: E[S^2] = 2 * 100^2, so the attention term doubles
    got = model_shapes.prefill_flops(70e9, 2_621_440.0, 100.0, 0.0, 1.0)
    assert got == pytest.approx(1.4e13 + 2 * 1.31072e10)


def test_prefill_flops_with_a_cached_prefix():
    # S = 100 tokens of which C = 60 are cached: 2 Pa (S - C) + a (S^2 - C^2) / 2
    # = 2 * 70e9 * 40 + 2,621,440 * (10,000 - 3,600) / 2 = 5.6e12 + 8.388608e9
    got = model_shapes.prefill_flops(70e9, 2_621_440.0, 100.0, 60.0, 0.0)
    assert got == pytest.approx(5.6e12 + 8.388608e9)


def test_experts_touched():
    # one token routes to exactly k experts; two tokens: E (1 - (1 - k/E)^2) = 8 (1 - 0.5625) = 3.5
    assert model_shapes.experts_touched(8.0, 2.0, 1.0) == pytest.approx(2.0)
    assert model_shapes.experts_touched(8.0, 2.0, 2.0) == pytest.approx(3.5)
    assert model_shapes.experts_touched(8.0, 2.0, 1e4) == pytest.approx(8.0)
    assert model_shapes.experts_touched(0.0, 0.0, 10.0) == 0.0


def test_weight_bytes_fp8_and_int4():
    # 70e9 params in FP8 = 70 GB; INT4 with one FP16 scale per 128 weights = 0.515625 B/weight
    assert model_shapes.weight_bytes(70e9, 1.0) == 70e9
    assert model_shapes.weight_bytes(70e9, 0.5 + 2 / 128) == pytest.approx(36.09375e9)


def test_allreduce():
    # m = 1 MB over 8 devices at 100 GB/s, alpha = 1 us: reduce-scatter + all-gather, one step each
    # 2 * 7/8 * 1e6 / 1e11 + 2 * 1e-6 = 1.75e-5 + 2e-6 = 1.95e-5 s
    assert collectives.allreduce_time(1e6, 8.0, 1e11, 1e-6) == pytest.approx(1.95e-5)
    assert collectives.allreduce_time(1e6, 1.0, 1e11, 1e-6) == 0.0


def test_roofline_picks_the_slower_side():
    # compute 1e12 / (2 * 1e15 * 0.5) = 1 ms; memory 1e9 / (2 * 2e12 * 1.0) = 0.25 ms -> 1 ms
    assert roofline.roofline_time(1e12, 1e9, 2.0, 1e15, 2e12, 0.5, 1.0) == pytest.approx(1e-3)
    # memory-bound: 1e10 B / (1 * 2e12) = 5 ms > 1e9 FLOP / 1e15 = 1 us
    assert roofline.roofline_time(1e9, 1e10, 1.0, 1e15, 2e12, 1.0, 1.0) == pytest.approx(5e-3)


def test_decode_step_by_hand():
    # 10B dense model, 10 layers, d=4096, a = 4*10*32*128 = 163,840, kv = 40,960 B/token (BF16),
    # one accelerator with 1 PFLOP/s and 2 TB/s at full efficiency, B = 100, c = 1000:
    # FLOPs = 100 * (2e10 + 163,840 * 1000) = 2.016384e12 -> 2.016 ms
    # bytes = 2e10 + 100 * 1000 * 40,960 = 2.4096e10 -> 12.048 ms (memory-bound)
    step = serving.decode_step_time(
        100.0, 1000.0, 0.0, 0.0, 10e9, 163_840.0, 2e10, 0.0, 0.0, 0.0, 0.0, 40_960.0, 10.0, 4096.0,
        2.0, 1.0, 1.0, 1.0, 1e15, 2e12, 1.0, 1.0, 4e11, 5e-6, 4e11, 0.0,
    )  # fmt: skip
    assert step == pytest.approx(0.012048)
    # with TP=2 the work halves (6.024 ms) and two all-reduces per layer of 100*4096*2 B = 819,200 B
    # each: 2 * 10 * (2 * 1/2 * 819200 / 4e11 + 2 * 5e-6) = 20 * (2.048e-6 + 1e-5) = 2.4096e-4 s
    step_tp2 = serving.decode_step_time(
        100.0, 1000.0, 0.0, 0.0, 10e9, 163_840.0, 2e10, 0.0, 0.0, 0.0, 0.0, 40_960.0, 10.0, 4096.0,
        2.0, 2.0, 1.0, 1.0, 1e15, 2e12, 1.0, 1.0, 4e11, 5e-6, 4e11, 0.0,
    )  # fmt: skip
    assert step_tp2 == pytest.approx(0.006024 + 2.4096e-4)


def test_prompt_chunks_ride_the_decode_step_weight_reads():
    # The step above (12.048 ms, memory-bound; compute 2.016 ms) also carries 400 prompt tokens
    # with 8e12 FLOPs: compute 10.016 ms, bytes + 400 x 40,960 B of KV written = 2.41124e10 B
    # -> 12.0562 ms. The weights are read once, so the prompts cost 8 us, not 8 ms alone.
    step = serving.decode_step_time(
        100.0, 1000.0, 400.0, 8e12, 10e9, 163_840.0, 2e10, 0.0, 0.0, 0.0, 0.0, 40_960.0, 10.0,
        4096.0, 2.0, 1.0, 1.0, 1.0, 1e15, 2e12, 1.0, 1.0, 4e11, 5e-6, 4e11, 0.0,
    )  # fmt: skip
    assert step == pytest.approx(0.0120562)
    # 4x the prompt FLOPs make the step compute-bound: 2.016384e12 + 3.2e13 FLOP -> 34.016 ms
    step = serving.decode_step_time(
        100.0, 1000.0, 400.0, 3.2e13, 10e9, 163_840.0, 2e10, 0.0, 0.0, 0.0, 0.0, 40_960.0, 10.0,
        4096.0, 2.0, 1.0, 1.0, 1.0, 1e15, 2e12, 1.0, 1.0, 4e11, 5e-6, 4e11, 0.0,
    )  # fmt: skip
    assert step == pytest.approx(0.034016384)


def test_pipeline_stages_hand_over_activations():
    # 4 stages, 100 tokens of d = 4096 in BF16 = 819,200 B per send over 50 GB/s, 5 us latency:
    # 3 * (5e-6 + 1.6384e-5) = 6.4152e-5 s
    got = collectives.pipeline_transfer_time(100.0, 4096.0, 2.0, 4.0, 5e10, 5e-6)
    assert got == pytest.approx(6.4152e-5)
    assert collectives.pipeline_transfer_time(100.0, 4096.0, 2.0, 1.0, 5e10, 5e-6) == 0.0
    # the decode step with pp = 2 at B = 100: two micro-batches of 50, each stage holding half the
    # layers: per stage memory (1e10 + 50 * 1000 * 40,960 / 2) / 2e12 = 5.512 ms, x 2 stages,
    # + one hand-over of 50 tokens: 5e-6 + 409,600 / 5e10 = 1.3192e-5 s
    step = serving.decode_step_time(
        100.0, 1000.0, 0.0, 0.0, 10e9, 163_840.0, 2e10, 0.0, 0.0, 0.0, 0.0, 40_960.0, 10.0,
        4096.0, 2.0, 1.0, 2.0, 1.0, 1e15, 2e12, 1.0, 1.0, 4e11, 5e-6, 5e10, 0.0,
    )  # fmt: skip
    assert step == pytest.approx(2 * (1e10 + 50 * 1000 * 40_960 / 2) / 2e12 + 1.3192e-5)


def test_max_batch_by_hand():
    # 80 GB, 10 % reserved, 20 GB of weights -> 52 GB free; a sequence of 1280 tokens x 40,960 B
    # = 52,428,800 B -> floor(991.8) = 991 sequences
    assert memory.max_batch_size(80e9, 0.1, 2e10, 1280 * 40_960.0) == 991
    assert memory.max_batch_size(80e9, 0.1, 8e10, 1.0) < 0  # weights alone do not fit


def test_mg1_wait_and_ttft_utilisation():
    # M/D/1 (cv 0): rho s / (2 (1 - rho)) = 0.5 * 1 / 1 = 0.5 s; M/M/1-like spread (cv 1) doubles it
    assert queueing.mg1_wait(0.5, 1.0, 0.0) == pytest.approx(0.5)
    assert queueing.mg1_wait(0.5, 1.0, 1.0) == pytest.approx(1.0)
    assert math.isinf(queueing.mg1_wait(1.0, 1.0, 0.0))
    # TTFT 1.1 s, prefill 1 s, tau 4 s: slack 0.1 -> prefill-path rho 0.2/1.2 = 1/6 -> replica rho 4/6
    rho = queueing.utilisation_for_ttft(1.1, 1.0, 1.0, 4.0, 0.0, math.inf, 0.95)
    assert rho == pytest.approx(2 / 3)
    # and back: TTFT at that utilisation = 1 + (1/6) * 1 / (2 * 5/6) = 1.1 s
    assert queueing.time_to_first_token(rho, 1.0, 1.0, 4.0, 0.0, math.inf) == pytest.approx(1.1)
    # prompt lengths with cv 1: prefill-path rho 0.2 / (2 + 0.2) = 1/11 -> replica rho 4/11
    rho = queueing.utilisation_for_ttft(1.1, 1.0, 1.0, 4.0, 1.0, math.inf, 0.95)
    assert rho == pytest.approx(4 / 11)
    assert queueing.time_to_first_token(rho, 1.0, 1.0, 4.0, 1.0, math.inf) == pytest.approx(1.1)
    # chunked: 0.25 s to the first token, the prompt occupies the prefill path 0.1 s, slack 0.05
    # -> rho_pf = 0.1 / (0.1 + 0.1) = 0.5 -> replica rho 0.5 * 4 / 0.1 = 20, capped at 0.9
    assert queueing.utilisation_for_ttft(0.3, 0.25, 0.1, 4.0, 0.0, math.inf, 0.9) == 0.9
    args = (1.0, 1.0, 4.0, 0.0, math.inf, 0.9)
    assert queueing.utilisation_for_ttft(0.5, *args) == -1.0  # prefill alone misses it
    assert queueing.utilisation_for_ttft(math.inf, *args) == 0.9


def test_accelerator_power():
    # 100 W idle, 700 W busy, 25 % busy: 100 + 600 * 0.25 = 250 W
    assert power.accelerator_power(100.0, 700.0, 0.25) == 250.0


def test_all_to_all_and_expert_parallel_communication():
    # all-to-all of m = 8 MB over 8 devices at 100 GB/s, alpha 1 us: 7/8 * 8e6 / 1e11 + 1e-6
    assert collectives.all_to_all_time(8e6, 8.0, 1e11, 1e-6) == pytest.approx(7e-5 + 1e-6)
    # 10 layers, 4 of them MoE, top-2, 100 tokens x 4096 x 2 B = 819,200 B per all-reduce, TP8/EP8:
    # all-reduce r = 2 * 7/8 * 819200 / 1e11 + 2e-6 = 1.4336e-5 + 2e-6 = 1.6336e-5
    # all-to-all of 2 x 819200 B: 7/8 * 1638400 / 1e11 + 1e-6 = 1.4336e-5 + 1e-6 = 1.5336e-5
    # (10 attention + 6 dense MLP) all-reduces + 4 x 2 all-to-alls
    r, a = 1.6336e-5, 1.5336e-5
    got = collectives.model_parallel_time(100.0, 4096.0, 2.0, 10.0, 4.0, 2.0, 8.0, 8.0, 1e11, 1e-6)
    assert got == pytest.approx(16 * r + 8 * a)
    # without expert parallelism: two all-reduces per layer
    plain = collectives.model_parallel_time(
        100.0, 4096.0, 2.0, 10.0, 4.0, 2.0, 8.0, 1.0, 1e11, 1e-6
    )
    assert plain == pytest.approx(20 * r)


def test_waiting_time_quantiles():
    assert queueing.normal_quantile(0.975) == pytest.approx(1.959963985, rel=1e-9)
    for q in (0.5, 0.6, 0.9, 0.97, 0.99, 0.999, 0.9999):  # both branches of the approximation
        assert queueing.normal_quantile(q) == pytest.approx(NormalDist().inv_cdf(q), abs=1e-12)
    # lognormal lengths with cv 1: sigma^2 = ln 2, the median is the mean / sqrt(2)
    assert queueing.length_quantile_ratio(1.0, 0.5) == pytest.approx(2**-0.5)
    assert queueing.length_quantile_ratio(0.0, 0.99) == 1.0
    assert queueing.length_quantile_ratio(1.0, math.inf) == 1.0  # the mean
    # M/M/1 (exponential service, cv 1) at rho 0.5, s = 1 s: P(W > t) = 0.5 exp(-0.5 t), so the
    # 99th percentile is 2 ln 50 = 7.824 s; the mean is 1 s
    assert queueing.mg1_wait_quantile(0.5, 1.0, 1.0, 0.99) == pytest.approx(2 * math.log(50))
    assert queueing.mg1_wait_quantile(0.5, 1.0, 1.0, math.inf) == pytest.approx(1.0)
    assert queueing.mg1_wait_quantile(0.005, 1.0, 1.0, 0.99) == 0.0  # 99 % never wait
    # the utilisation found for a p99 target gives that p99 back
    rho = queueing.utilisation_for_ttft(3.0, 1.0, 1.0, 4.0, 1.0, 0.99, 0.95)
    assert 0 < rho < 0.95
    assert queueing.time_to_first_token(rho, 1.0, 1.0, 4.0, 1.0, 0.99) == pytest.approx(3.0)
