"""Speculative decoding: expected tokens per verify step and the time per token, by hand."""

from __future__ import annotations

import pytest

import fleetsim
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
