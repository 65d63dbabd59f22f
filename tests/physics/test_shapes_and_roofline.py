"""Hand-computed values for model shapes, step times, collectives, memory, queueing, power.

Each expected value is derived in the comment beside it from the published model shape or the
equation in the function's docstring, not from fleetsim itself.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from fleetsim.catalog import MODEL_COLUMNS
from fleetsim.physics import collectives, memory, model_shapes, power, queueing, serving


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


def test_activation_elements_llama2_70b_and_deepseek_v3():
    # Llama 2 70B: 80 layers, d = 8192, 64 heads, 8 KV heads, head dim 128, SwiGLU F = 28,672.
    # Replicated per layer: 6d (attention block) + 6d (MLP) = 12 * 8192 = 98,304 -> x 80;
    # split per layer: 128 * (6 * 64 + 4 * 8) = 53,248 and 6 * 28,672 = 172,032 -> x 80
    replicated, split = model_shapes.activation_elements_per_token(
        "gqa", 80, 0, 8192, 64, 8, 128, 28_672, 0
    )
    assert replicated == 80 * 98_304 == 7_864_320
    assert split == 80 * (53_248 + 172_032) == 18_022_400
    # DeepSeek-V3: 61 layers (58 MoE with one shared expert of 2048, 3 dense of F = 18,432),
    # d = 7168, 128 heads of 128, MLA r = 512, r_rope = 64. Replicated: 61 * 6d + 3 * 6d +
    # 58 * 6d (a shared expert is an MLP); split: 61 * (6 * 128 * 128 + 2 * 128 * (1024 + 64))
    # + 6 * (3 * 18,432 + 58 * 2048)
    replicated, split = model_shapes.activation_elements_per_token(
        "mla", 61, 58, 7168, 128, 0, 128, 18_432, 2048, 512, 64
    )
    assert replicated == (61 + 3 + 58) * 6 * 7168
    # without shared experts a MoE layer's MLP side is the router's input and the combine's
    # output beside the fused add + RMSNorm: 5d (Mixtral: 32 MoE layers, d = 4096, F unused)
    replicated, _ = model_shapes.activation_elements_per_token(
        "gqa", 32, 32, 4096, 32, 8, 128, 14_336, 0
    )
    assert replicated == 32 * (6 + 5) * 4096
    assert split == 61 * (98_304 + 278_528) + 6 * (55_296 + 118_784)


def test_activations_add_to_the_dense_stream_split_over_the_group():
    # DENSE_10B with 1e5 replicated and 2e5 split activation elements per token; 100 decode
    # tokens on TP2 move 100 * (1e5 + 2e5 / 2) * 2 B = 4e7 B more per device: 20 us at 2 TB/s
    columns = list(MODEL_COLUMNS)
    md = DENSE_10B.copy()
    md[columns.index("activation_elements_per_token")] = 1e5
    md[columns.index("split_activation_elements_per_token")] = 2e5
    args = (100.0, 100.0, 1000.0, 0.0)
    rest = (2.0, 40_960.0, 2.0, 1.0, 1.0, 1.0, *DEVICE)
    plain = serving.stage_compute_time(*args, DENSE_10B, *rest)
    assert serving.stage_compute_time(*args, md, *rest) - plain == pytest.approx(4e7 / 2e12)


def test_attention_flops_coefficients():
    # GQA/MHA: 4 L h d_h = 4 * 80 * 64 * 128 = 2,621,440 FLOP per context token (Llama 3.1 70B)
    assert model_shapes.attention_flops_per_context_token("gqa", 80, 64, 128) == 2_621_440
    # MLA: 2 L h (2 r + r_rope) = 2 * 61 * 128 * (1024 + 64) = 16,990,208
    assert (
        model_shapes.attention_flops_per_context_token("mla", 61, 128, 128, 512, 64) == 16_990_208
    )


def test_prefill_flops():
    # prefill S=100: 2 Pa S + a S^2 / 2 = 1.4e13 + 1.31072e10
    assert model_shapes.prefill_flops(70e9, 2_621_440.0, 100.0, 0.0, 0.0) == pytest.approx(
        1.4e13 + 1.31072e10
    )
    assert model_shapes.prefill_attention_flops(2_621_440.0, 100.0, 0.0, 0.0) == pytest.approx(
        1.31072e10
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


def test_scaleup_link_bandwidth_of_a_mesh_and_a_switch():
    # MI300X platform: 7 direct links of 64 GB/s (448 GB/s in all); an NVSwitch: no peer links (0)
    mesh = collectives.scaleup_link_bandwidth
    assert mesh(448e9, 64e9, 1.0) == pytest.approx(64e9)  # TP2, or a pipeline hand-off
    assert mesh(448e9, 64e9, 3.0) == pytest.approx(192e9)  # TP4: 3 of the 7 links
    assert mesh(448e9, 64e9, 7.0) == pytest.approx(448e9)  # TP8: all of them
    assert mesh(448e9, 64e9, 15.0) == pytest.approx(448e9)  # never above the device's total
    assert mesh(450e9, 0.0, 1.0) == 450e9  # switched: any peer at the full bandwidth
    # so a TP2 all-reduce of 1 MB on the mesh takes 7x the switched one's bandwidth term
    t_mesh = collectives.allreduce_time(1e6, 2.0, mesh(448e9, 64e9, 1.0), 0.0)
    assert t_mesh == pytest.approx(2 * 0.5 * 1e6 / 64e9)


def _model(
    dense,
    active,
    layers=10.0,
    d_model=4096.0,
    kv=40_960.0,
    attention=163_840.0,
    expert=0.0,
    moe_layers=0.0,
    experts=0.0,
    top_k=0.0,
    kv_shards=8.0,
):
    """A model-table row (catalog.MODEL_COLUMNS order); kv and attention per token, all layers."""
    values = dict(total_params=dense + moe_layers * experts * expert, active_params=active,
                  layers=layers, d_model=d_model, kv_elements_per_token=kv,
                  attention_flops_per_context_token=attention, dense_params=dense,
                  expert_params=expert, moe_layers=moe_layers, moe_experts=experts,
                  moe_top_k=top_k, max_context=1e6, kv_shards=kv_shards)  # fmt: skip
    return np.array([values.get(c, 0.0) for c in MODEL_COLUMNS])  # no bounded attention


DENSE_10B = _model(1e10, 1e10)
#: devices: 1 PFLOP/s (GEMMs and attention alike), 2 TB/s, full efficiency
DEVICE = (1e15, 1e15, 2e12, 1.0, 1.0)


def test_kernel_time_adds_the_stream_and_the_math():
    # 1e9 B at 2 TB/s = 0.5 ms plus 1e12 FLOP at 1 PFLOP/s x 0.5 = 2 ms
    assert serving.kernel_time(1e9, 1e12, 1e15, 2e12, 0.5, 1.0) == pytest.approx(2.5e-3)


def test_decode_step_by_hand():
    # 10B dense model (BF16: 2e10 B), 10 layers, d = 4096, a = 163,840 FLOP and kv = 40,960 B per
    # context token; B = 100 at c = 1000 on one device:
    # dense GEMMs: 2e10 B / 2e12 = 10 ms + 2 * 1e10 * 100 FLOP / 1e15 = 2 ms
    # attention: 100 * 1000 * 40,960 B / 2e12 = 2.048 ms + 100 * 1000 * 163,840 / 1e15 = 16.384 us
    step = serving.decode_step_time(100.0, 1000.0, 0.0, 0.0, DENSE_10B, 2.0, 40_960.0, 1.0, 1.0,
                                    1.0, 1.0, *DEVICE, 4e11, 5e-6, 4e11, 0.0)  # fmt: skip
    assert step == pytest.approx(0.014064384)
    # TP2 halves every kernel (8 KV heads split two ways) and adds two all-reduces per layer of
    # 100 * 4096 * 2 B = 819,200 B: 2 * 10 * (2 * 1/2 * 819,200 / 4e11 + 2 * 5e-6) = 2.4096e-4 s
    step_tp2 = serving.decode_step_time(100.0, 1000.0, 0.0, 0.0, DENSE_10B, 2.0, 40_960.0, 2.0,
                                        1.0, 1.0, 1.0, *DEVICE, 4e11, 5e-6, 4e11, 0.0)  # fmt: skip
    assert step_tp2 == pytest.approx(0.014064384 / 2 + 2.4096e-4)


def test_step_time_is_linear_in_the_batch():
    # measured kernels give t(B) = t0 + c B (module notes): the additive form has no knee
    steps = [
        serving.decode_step_time(
            b,
            1000.0,
            0.0,
            0.0,
            DENSE_10B,
            2.0,
            40_960.0,
            1.0,
            1.0,
            1.0,
            1.0,
            *DEVICE,
            4e11,
            5e-6,
            4e11,
            0.0,
        )  # fmt: skip
        for b in (1.0, 200.0, 400.0, 800.0)
    ]
    slopes = np.diff(steps) / np.diff([1.0, 200.0, 400.0, 800.0])
    assert slopes == pytest.approx([slopes[0]] * 3)
    # c = 2e10 FLOP / 1e15 + 1000 * 40,960 B / 2e12 = 20 us + 20.48 us per sequence
    assert slopes[0] == pytest.approx(4.048e-5 + 163_840.0 * 1000 / 1e15)


def test_prompt_chunks_ride_the_decode_step_weight_reads():
    # The step above also carries 400 prompt tokens whose attention costs 8e11 FLOP: their GEMMs
    # add 2 * 1e10 * 400 / 1e15 = 8 ms, their attention 0.8 ms; the weights are read once.
    step = serving.decode_step_time(100.0, 1000.0, 400.0, 8e11, DENSE_10B, 2.0, 40_960.0, 1.0,
                                    1.0, 1.0, 1.0, *DEVICE, 4e11, 5e-6, 4e11, 0.0)  # fmt: skip
    assert step == pytest.approx(0.014064384 + 8e-3 + 8e-4)


def test_mla_decode_attention_is_compute_bound_and_data_parallel_attention_splits_the_latent():
    # DeepSeek-V3 attention only (no weights): a = 16,990,208 FLOP and 35,136 B (FP8 latent) per
    # cached token over 61 layers; 64 sequences at 4,096 tokens on H200-like devices (989 TFLOP/s
    # BF16, 4.8 TB/s, full efficiency):
    # KV 64 * 4096 * 35,136 B = 9.2107e9 B -> 1.9189 ms; math 64 * 4096 * 16,990,208 = 4.4539e12
    # FLOP -> 4.5034 ms: the absorbed MLA attention is compute-bound (about 484 FLOP/B)
    md = _model(0.0, 0.0, layers=61.0, d_model=7168.0, kv=35_136.0, attention=16_990_208.0,
                kv_shards=1.0)  # fmt: skip
    device = (989e12, 989e12, 4.8e12, 1.0, 1.0)
    kv = 64 * 4096 * 35_136.0 / 4.8e12
    math_ = 64 * 4096 * 16_990_208.0 / 989e12
    assert math_ > kv
    one = serving.stage_compute_time(64.0, 64.0, 4096.0, 0.0, md, 1.0, 35_136.0, 1.0, 1.0, 1.0,
                                     1.0, *device)  # fmt: skip
    assert one == pytest.approx(kv + math_)
    # TP8: the heads split 8 ways but every device reads the whole shared latent
    tp8 = serving.stage_compute_time(64.0, 64.0, 4096.0, 0.0, md, 1.0, 35_136.0, 8.0, 1.0, 1.0,
                                     1.0, *device)  # fmt: skip
    assert tp8 == pytest.approx(kv + math_ / 8)
    # attention data-parallel over the 8 devices: each attends for its own 8 sequences
    adp8 = serving.stage_compute_time(64.0, 64.0, 4096.0, 0.0, md, 1.0, 35_136.0, 8.0, 8.0, 1.0,
                                      1.0, *device)  # fmt: skip
    assert adp8 == pytest.approx((kv + math_) / 8)


def test_grouped_expert_gemm_at_few_tokens_per_expert():
    # DeepSeek-V3 routed experts only: 58 MoE layers, 256 experts of 3 * 7168 * 2048 = 44,040,192
    # params, top-8, FP8; 64 tokens on 8 devices with EP8 (attention data-parallel):
    # experts touched 256 (1 - (1 - 8/256)^64) = 222.44 (2.2 tokens each);
    # per device: bytes 58 * 222.44 * 44,040,192 / 8, FLOPs 2 * 58 * 8 * 64 * 44,040,192 / 8;
    # the busiest device computes 1 + sqrt(2 ln 8 / (512 / 8)) = 1.2549 x the mean token load,
    # and moves that many assignments' activations, (2 * 7168 + 6 * 2048) elements each in BF16
    expert = 3 * 7168 * 2048.0
    md = _model(1.0, 8 * 58 * expert, layers=58.0, d_model=7168.0, kv=0.0, attention=0.0,
                expert=expert, moe_layers=58.0, experts=256.0, top_k=8.0, kv_shards=1.0)  # fmt: skip
    touched = 256 * (1 - (1 - 8 / 256) ** 64)
    assert touched == pytest.approx(222.44, abs=0.01)
    device = (1979e12, 989e12, 4.8e12, 1.0, 1.0)
    memory = 58 * touched * expert / 8 / 4.8e12
    math_ = 2 * 58 * 8 * 64 * expert / 8 / 1979e12
    straggler = 1 + math.sqrt(2 * math.log(8) / 64)
    got = serving.stage_compute_time(64.0, 0.0, 0.0, 0.0, md, 1.0, 0.0, 8.0, 8.0, 8.0, 1.0,
                                     *device)  # fmt: skip
    dense = 1.0 / 8 / 4.8e12  # the one dense parameter's byte
    activations = 58 * 64 * 8 / 8 * straggler * (2 * 7168 + 6 * 2048) * 2 / 4.8e12
    assert got == pytest.approx(dense + memory + activations + math_ * straggler)
    assert serving.expert_straggler(512.0, 8.0) == pytest.approx(straggler)
    assert serving.expert_straggler(512.0, 1.0) == 1.0


def test_pipeline_stages_hand_over_activations():
    # 4 stages, 100 tokens of d = 4096 in BF16 = 819,200 B per send over 50 GB/s, 5 us latency:
    # 3 * (5e-6 + 1.6384e-5) = 6.4152e-5 s
    got = collectives.pipeline_transfer_time(100.0, 4096.0, 2.0, 4.0, 5e10, 5e-6)
    assert got == pytest.approx(6.4152e-5)
    assert collectives.pipeline_transfer_time(100.0, 4096.0, 2.0, 1.0, 5e10, 5e-6) == 0.0
    # the decode step with pp = 2 at B = 100: two micro-batches of 50, each stage holding half
    # the layers: per stage (1e10 + 50 * 1000 * 40,960 / 2) / 2e12 + (2e10 * 50 + 50 * 1000 *
    # 163,840) / 2 / 1e15, x 2 stages, + one hand-over of 50 tokens: 5e-6 + 409,600 / 5e10
    step = serving.decode_step_time(100.0, 1000.0, 0.0, 0.0, DENSE_10B, 2.0, 40_960.0, 1.0, 1.0,
                                    1.0, 2.0, *DEVICE, 4e11, 5e-6, 5e10, 0.0)  # fmt: skip
    stage = (1e10 + 50 * 1000 * 40_960 / 2) / 2e12 + (1e12 + 50 * 1000 * 163_840) / 2 / 1e15
    assert step == pytest.approx(2 * stage + 5e-6 + 409_600 / 5e10)


def test_max_batch_by_hand():
    # 80 GB, 10 % reserved, 20 GB of weights -> 52 GB free; a sequence of 1280 tokens x 40,960 B
    # = 52,428,800 B -> floor(991.8) = 991 sequences
    assert memory.max_batch_size(80e9, 0.1, 2e10, 1280 * 40_960.0) == 991
    assert memory.max_batch_size(80e9, 0.1, 8e10, 1.0) < 0  # weights alone do not fit


#: (slots, lifetime factor) of a replica so wide that no request waits for a slot
NO_SLOTS = (1e12, 0.5)


def _erlang_c(c: int, load: float) -> float:
    """Exact Erlang C by the Erlang B recursion B_k = a B_{k-1} / (k + a B_{k-1})."""
    b = 1.0
    for k in range(1, c + 1):
        b = load * b / (k + load * b)
    return b / (1 - load / c * (1 - b))


def test_slot_wait_of_a_continuous_batching_replica():
    # one slot, rho 0.5, lifetime 1 s, exponential lifetimes (factor 1) is M/M/1: mean wait
    # rho / (mu - lambda) = 0.5 / 0.5 = 1 s; 8 slots: exact Erlang C
    assert queueing.slot_wait_quantile(0.5, 1.0, 1.0, 1.0, math.inf) == pytest.approx(1.0)
    mean8 = _erlang_c(8, 6.0) * 1.0 / (8 * 0.25)
    assert queueing.slot_wait_quantile(0.75, 8.0, 1.0, 1.0, math.inf) == pytest.approx(mean8)
    assert queueing.slot_wait_quantile(1e-9, 1.0, 1.0, 1.0, 0.99) == 0.0  # an idle replica
    # 300 slots at rho 0.9 (beta = 0.1 sqrt 300 = 1.732): Halfin-Whitt's P_W = 0.0509 against the
    # exact Erlang C 0.0457 (+11 %), so the p99 wait L ln(P_W / 0.01) / (300 * 0.1) is 7 % long
    lifetime = 11.0  # 300 output tokens at 37 ms
    exact = _erlang_c(300, 270.0)
    p99 = queueing.slot_wait_quantile(0.9, 300.0, lifetime, 1.0, 0.99)
    assert p99 == pytest.approx(lifetime * math.log(exact / 0.01) / 30.0, rel=0.08)
    assert p99 > lifetime * math.log(exact / 0.01) / 30.0  # errs long: conservative
    # deterministic lifetimes (factor 1/2) halve it; 99 % of requests never wait at rho 0.8
    assert queueing.slot_wait_quantile(0.9, 300.0, lifetime, 0.5, 0.99) == pytest.approx(p99 / 2)
    assert queueing.slot_wait_quantile(0.8, 300.0, lifetime, 1.0, 0.99) == 0.0
    assert math.isinf(queueing.slot_wait_quantile(1.0, 300.0, lifetime, 1.0, 0.99))
    # the slots bound the utilisation a TTFT target allows: with a 0.5 s slack on a 300-slot
    # replica of 11 s lifetimes, rho stops where the p99 slot wait reaches the slack
    rho = queueing.utilisation_for_ttft(0.6, 0.1, 0.0, lifetime / 300, 0.0, 0.99, 1.0, 300.0, 1.0)
    assert queueing.slot_wait_quantile(rho, 300.0, lifetime, 1.0, 0.99) == pytest.approx(0.5)
    assert 0.85 < rho < 0.95


def test_mg1_wait_and_ttft_utilisation():
    # M/D/1 (cv 0): rho s / (2 (1 - rho)) = 0.5 * 1 / 1 = 0.5 s; M/M/1-like spread (cv 1) doubles it
    assert queueing.mg1_wait(0.5, 1.0, 0.0) == pytest.approx(0.5)
    assert queueing.mg1_wait(0.5, 1.0, 1.0) == pytest.approx(1.0)
    assert math.isinf(queueing.mg1_wait(1.0, 1.0, 0.0))
    # TTFT 1.1 s, prefill 1 s, tau 4 s: slack 0.1 -> prefill-path rho 0.2/1.2 = 1/6 -> replica rho 4/6
    rho = queueing.utilisation_for_ttft(1.1, 1.0, 1.0, 4.0, 0.0, math.inf, 0.95, *NO_SLOTS)
    assert rho == pytest.approx(2 / 3)
    # and back: TTFT at that utilisation = 1 + (1/6) * 1 / (2 * 5/6) = 1.1 s
    assert queueing.time_to_first_token(
        rho, 1.0, 1.0, 4.0, 0.0, math.inf, *NO_SLOTS
    ) == pytest.approx(1.1)
    # prompt lengths with cv 1: prefill-path rho 0.2 / (2 + 0.2) = 1/11 -> replica rho 4/11
    rho = queueing.utilisation_for_ttft(1.1, 1.0, 1.0, 4.0, 1.0, math.inf, 0.95, *NO_SLOTS)
    assert rho == pytest.approx(4 / 11)
    assert queueing.time_to_first_token(
        rho, 1.0, 1.0, 4.0, 1.0, math.inf, *NO_SLOTS
    ) == pytest.approx(1.1)
    # chunked: 0.25 s to the first token, the prompt occupies the prefill path 0.1 s, slack 0.05
    # -> rho_pf = 0.1 / (0.1 + 0.1) = 0.5 -> replica rho 0.5 * 4 / 0.1 = 20, capped at 0.9
    assert queueing.utilisation_for_ttft(0.3, 0.25, 0.1, 4.0, 0.0, math.inf, 0.9, *NO_SLOTS) == 0.9
    args = (1.0, 1.0, 4.0, 0.0, math.inf, 0.9, *NO_SLOTS)
    assert queueing.utilisation_for_ttft(0.5, *args) == -1.0  # prefill alone misses it
    assert queueing.utilisation_for_ttft(math.inf, *args) == 0.9


def test_accelerator_power():
    # 100 W idle, 700 W busy, 25 % busy: 100 + 600 * 0.25 = 250 W
    assert power.accelerator_power(100.0, 700.0, 0.25) == 250.0


def test_all_to_all_and_expert_parallel_communication():
    # all-to-all of m = 8 MB over 8 devices at 100 GB/s, alpha 1 us: 7/8 * 8e6 / 1e11 + 1e-6
    assert collectives.all_to_all_time(8e6, 8.0, 1e11, 1e-6) == pytest.approx(7e-5 + 1e-6)
    # 10 layers, 4 of them MoE, top-2, 100 tokens x 4096 x 2 B = 819,200 B, 8 devices:
    # all-reduce over 8: r = 2 * 7/8 * 819200 / 1e11 + 2e-6 = 1.6336e-5 s
    r = 1.6336e-5
    # tensor-parallel attention: every device holds every token, so the experts (EP or not)
    # need one all-reduce after them: 20 all-reduces, as a dense model
    for ep in (1.0, 8.0):
        got = collectives.model_parallel_time(100.0, 4096.0, 2.0, 10.0, 4.0, 2.0, 8.0, 1.0, ep,
                                              1e11, 1e-6)  # fmt: skip
        assert got == pytest.approx(20 * r)
    # attention data-parallel over 8 (no attention all-reduce) + EP8: dispatch and combine of
    # each device's 100/8 tokens x 2 experts: 7/8 * 819,200 * 2 / 8 / 1e11 + 1e-6 = 2.792e-6 s
    a = 7 / 8 * 819_200 * 2 / 8 / 1e11 + 1e-6
    got = collectives.model_parallel_time(100.0, 4096.0, 2.0, 10.0, 4.0, 2.0, 8.0, 8.0, 8.0, 1e11,
                                          1e-6)  # fmt: skip
    assert got == pytest.approx(4 * 2 * a)


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
    # the decay rate: 1 - rho for M/M/1; for M/D/1 the root of rho (e^x - 1) = x
    assert queueing.mg1_decay_rate(0.5, 1.0) == pytest.approx(0.5)
    x = queueing.mg1_decay_rate(0.46, 0.0)
    assert x > 2 * (1 - 0.46)  # lighter than the heavy-traffic tail
    assert 0.46 * (math.exp(x) - 1) == pytest.approx(x, rel=1e-12)
    for rho in (1e-9, 1 - 1e-16):  # the root stays finite and positive at the extremes
        assert 0 < queueing.mg1_decay_rate(rho, 0.0) < math.inf
        assert 0 < queueing.mg1_decay_rate(rho, 3.0) < math.inf
    # M/D/1 at rho 0.46, s = 1 s: W = 0.46 / (2 x 0.54) = 0.4259 s; C = x W; p99 = ln(100 C) / x
    mean = 0.46 / (2 * 0.54)
    assert queueing.mg1_wait_quantile(0.46, 1.0, 0.0, 0.99) == pytest.approx(
        math.log(100 * x * mean) / x
    )
    # the utilisation found for a p99 target gives that p99 back
    rho = queueing.utilisation_for_ttft(3.0, 1.0, 1.0, 4.0, 1.0, 0.99, 0.95, 64.0, 1.0)
    assert 0 < rho < 0.95
    assert queueing.time_to_first_token(rho, 1.0, 1.0, 4.0, 1.0, 0.99, 64.0, 1.0) == pytest.approx(
        3.0
    )


def test_decay_rate_from_a_known_root_is_the_root():
    # the utilisation search starts each decay-rate root from the one at the utilisation tried
    # before (the tangent through it): from any known root, near or far, above or below, and
    # from none (NaN), it is the root found from the heavy-traffic start (to 1e-12: near rho = 1
    # the excess is flat at its root, x ~ 2 (1 - rho), so its last digits are rounding)
    for cv in (0.0, 0.3, 1.0, 2.0):
        for rho in (1e-6, 0.05, 0.3, 0.46, 0.7, 0.9, 0.999):
            cold = queueing.mg1_decay_rate(rho, cv)
            for rho0 in (1e-6, 0.1, rho * (1 - 1e-9), rho * 1.01, 0.5, 0.95, 0.999999):
                known = queueing.mg1_decay_rate(rho0, cv)
                warm = queueing.decay_rate_from(rho, cv, known, rho0)
                assert warm == pytest.approx(cold, rel=1e-12, abs=0), (cv, rho, rho0)
            assert queueing.decay_rate_from(rho, cv, math.nan, math.nan) == cold
    # the search with warm-started roots finds the utilisation bisection finds (tests/oracle.py
    # mirrors the kernel the same way): the p99 wait at it is the slack
    for cv in (0.0, 1.0):
        rho = queueing.utilisation_for_ttft(3.0, 1.0, 1.0, 4.0, cv, 0.99, 0.95, 64.0, 1.0)
        lo, hi = 0.0, 0.95
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            wait = queueing.queueing_wait(mid, 1.0, 4.0, cv, 64.0, 1.0, 0.99)
            lo, hi = (mid, hi) if wait <= 2.0 else (lo, mid)
        assert rho == pytest.approx(lo, rel=1e-12)


def test_mg1_p99_wait_matches_a_simulated_queue():
    # Lindley's recursion W' = max(0, W + S - A) for 200,000 Poisson arrivals at rho 0.46 with
    # deterministic and with gamma (cv 0.5) service of 1 s: the p99 wait within 5 % (the
    # heavy-traffic tail rho exp(-rho t / W) is 19 % and 11 % long here)
    rng = np.random.default_rng(7)
    n, rho = 200_000, 0.46
    gaps = rng.exponential(1 / rho, n)
    for cv, service in ((0.0, np.ones(n)), (0.5, rng.gamma(4.0, 0.25, n))):
        steps = service[:-1] - gaps[1:]
        wait, waits = 0.0, np.empty(n - 1)
        for i, step in enumerate(steps):
            waits[i] = wait
            wait = max(0.0, wait + step)
        simulated = np.quantile(waits[10_000:], 0.99)
        assert queueing.mg1_wait_quantile(rho, 1.0, cv, 0.99) == pytest.approx(simulated, rel=0.05)
