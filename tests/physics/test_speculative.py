"""Speculative decoding: expected tokens per verify step and the time per token, by hand."""

from __future__ import annotations

import pytest

import fleetsim
from fleetsim import catalog
from fleetsim.physics import speculative


def test_expected_tokens_per_step():
    # (1 - a^(k+1)) / (1 - a): k = 4, a = 0.8 -> (1 - 0.32768) / 0.2 = 3.3616
    assert speculative.expected_tokens_per_step(4.0, 0.8) == pytest.approx(3.3616)
    assert speculative.expected_tokens_per_step(4.0, 0.0) == 1.0  # nothing accepted: 1 token
    assert speculative.expected_tokens_per_step(4.0, 1.0) == 5.0  # all accepted: k + 1


def test_time_per_token():
    # verify 30 ms + 4 draft steps of 5 ms = 50 ms per step, 3.3616 tokens -> 14.874 ms per token
    got = speculative.speculative_time_per_token(0.030, 0.005, 4.0, 0.8)
    assert got == pytest.approx(0.050 / 3.3616)


def test_a_good_draft_cuts_latency_at_batch_one_and_a_useless_one_adds_to_it():
    ds = fleetsim.run([
        "model=llama3.1-70b", "hardware=h100-sxm", "deployment.tp=4", "deployment.pp=1", "deployment.max_batch=1",
        "deployment.draft_model=[null,llama3.1-8b]", "deployment.acceptance_rate=[0.0,0.8]",
        "finance.years=1",
    ]).squeeze(drop=True)  # fmt: skip
    plain = ds["tpot_s"].sel(draft_model="none", acceptance_rate=0.8)
    good = ds["tpot_s"].sel(draft_model="llama3.1-8b", acceptance_rate=0.8)
    useless = ds["tpot_s"].sel(draft_model="llama3.1-8b", acceptance_rate=0.0)
    assert float(good) < float(plain) < float(useless)
    # the draft's weights and KV cache share the replica's memory
    assert float(ds["weight_bytes"].sel(draft_model="llama3.1-8b", acceptance_rate=0.8)) > float(
        ds["weight_bytes"].sel(draft_model="none", acceptance_rate=0.8)
    )


def test_deepseek_mtp_module_is_a_one_block_draft_of_the_config_shapes():
    # DeepSeek-V3's MTP module (arXiv:2412.19437 section 2.2; config_671B.json shapes): its own
    # embedding and output head (129,280 x 7,168 each), a 7,168 x 14,336 projection, three
    # norms and one MoE block (MLA attention, 256 routed + 1 shared experts, gate with bias)
    d, vocab, expert = 7168, 129280, 3 * 7168 * 2048
    attention = (d * 1536 + 1536 + 1536 * 128 * 192 + d * 576 + 512 + 512 * 128 * 256
                 + 128 * 128 * d)  # fmt: skip
    total = 2 * vocab * d + 2 * d * d + 3 * d + attention + 257 * expert + 256 * d + 256 + 2 * d
    active = attention + 9 * expert + 256 * d + 2 * d * d + vocab * d  # no FLOPs for the lookup
    table = catalog.load().tables["models"]
    row = dict(
        zip(catalog.MODEL_COLUMNS, table.values[table.ids.index("deepseek-v3-mtp")], strict=True)
    )
    assert row["total_params"] == pytest.approx(total, rel=1e-7)  # the HF README: "14B"
    assert row["active_params"] == pytest.approx(active, rel=1e-6)
    assert row["layers"] == 1
    assert row["moe_layers"] == 1
    # as the draft of DeepSeek-R1 (one token, the report's 85 % acceptance) it cuts the TPOT
    # and its weights share the replica's memory
    ds = fleetsim.run([
        "model=deepseek-r1", "hardware=b200", "deployment.tp=8", "deployment.pp=1",
        "deployment.weight_dtype=fp4", "deployment.kv_dtype=fp8", "deployment.max_batch=64",
        "deployment.draft_model=[null,deepseek-v3-mtp]", "deployment.draft_tokens=1",
        "deployment.acceptance_rate=0.85", "workload=offline", "finance.years=1",
    ]).squeeze(drop=True)  # fmt: skip
    plain, mtp = (ds.sel(draft_model=m) for m in ("none", "deepseek-v3-mtp"))
    assert float(mtp.tpot_s) < float(plain.tpot_s)
    assert float(mtp.tokens_per_s_per_accelerator) > float(plain.tokens_per_s_per_accelerator)
    assert float(mtp.weight_bytes) > float(plain.weight_bytes)
