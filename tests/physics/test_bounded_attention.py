"""Hand-computed values for bounded attention: sliding windows, chunked layers, sparse selection.

Each expected value is worked out in the comment beside it from the published model config (the
rows in data/models.csv) and the equations in fleetsim.physics.model_shapes' docstrings.
"""

from __future__ import annotations

import pytest

from fleetsim import catalog
from fleetsim.physics import model_shapes as ms
from fleetsim.physics.operating_point import model_at
from fleetsim.precision import BYTES_PER_ELEMENT, DTYPES


def _model(model_id: str) -> dict[str, float]:
    table = catalog.load().tables["models"]
    return dict(zip(table.columns, table.values[table.ids.index(model_id)], strict=True))


def test_gpt_oss_120b_kv_bytes_per_token_at_8k_context():
    # gpt-oss-120b: 36 layers alternate sliding (window 128) and full attention, 8 KV heads x 64.
    # Each half: 18 layers x 2 (K, V) x 8 x 64 = 18,432 elements per token.
    m = _model("gpt-oss-120b")
    assert m["kv_elements_per_token"] == 18_432
    assert m["bounded_kv_elements_per_token"] == 18_432
    assert m["attention_span"] == 128
    # a sequence of 8,192 tokens holds 18,432 x 8,192 + 18,432 x 128 = 153,354,240 elements,
    # 306,708,480 B in BF16: 37,440 B per token (a model without windows: 73,728 B per token)
    held = ms.kv_elements_held(18_432.0, 18_432.0, 128.0, 0.0, 8192.0)
    assert held == 153_354_240
    assert held * 2 / 8192 == 37_440
    per_token = model_at(_vector(m), 8192.0, 8192.0, 8192.0, 0.0, 0.0)[0]
    assert per_token * 2 == pytest.approx(37_440)


def test_gpt_oss_decode_attention_is_bounded_on_window_layers():
    # full layers: 4 L h d_h = 4 x 18 x 64 x 64 = 294,912 FLOP per context token; the window
    # layers the same coefficient but over at most 128 tokens. At c = 8,192:
    # 294,912 x 8,192 + 294,912 x 128 = 2,453,667,840 FLOP per decoded token
    m = _model("gpt-oss-120b")
    assert m["attention_flops_per_context_token"] == 294_912
    got = ms.attention_flops_at(294_912.0, 294_912.0, 128.0, 8192.0)
    assert got == 2_453_667_840
    # below the window both halves see the whole context: 2 x 294,912 x 100
    assert ms.attention_flops_at(294_912.0, 294_912.0, 128.0, 100.0) == 58_982_400


def test_llama4_scout_chunked_layers():
    # 48 layers, 36 chunked (8,192 tokens) + 12 global; 8 KV heads x 128:
    # global 2 x 12 x 8 x 128 = 24,576 el/token; chunked 2 x 36 x 8 x 128 = 73,728 el/token.
    m = _model("llama4-scout")
    assert (m["kv_elements_per_token"], m["bounded_kv_elements_per_token"]) == (24_576, 73_728)
    # at 32,768 tokens: 24,576 x 32,768 + 73,728 x 8,192 = 1,409,286,144 elements held
    assert ms.kv_elements_held(24_576.0, 73_728.0, 8192.0, 0.0, 32768.0) == 1_409_286_144


def test_deepseek_v32_sparse_attention_grows_with_selected_tokens():
    # DSA: the main MLA attention sees 2,048 selected tokens; the indexer (64 heads x 128, one
    # shared 128-element key per token and layer) scores all of them, on 61 layers:
    # indexer FLOPs 2 x 61 x 64 x 128 = 999,424 per context token; KV 61 x 128 = 7,808.
    m = _model("deepseek-v3.2")
    assert m["kv_elements_per_token"] == 7_808
    assert m["attention_flops_per_context_token"] == 999_424
    assert m["bounded_kv_elements_per_token"] == 35_136  # 61 x (512 + 64), as DeepSeek-V3
    assert m["bounded_attention_flops_per_context_token"] == 16_990_208
    assert m["bounded_kv_kept"] == 1
    # at c = 32,768: 999,424 x 32,768 + 16,990,208 x 2,048 = 67,545,071,616 FLOP per token,
    # against DeepSeek-V3's 16,990,208 x 32,768 = 556,735,135,744 (8.2x more)
    assert ms.attention_flops_at(999_424.0, 16_990_208.0, 2048.0, 32768.0) == 67_545_071_616
    # every token's latent is kept: (7,808 + 35,136) x 32,768 = 1,407,188,992 elements held,
    # but a decode step reads 7,808 x 32,768 + 35,136 x 2,048 = 327,811,072
    assert ms.kv_elements_held(7_808.0, 35_136.0, 2048.0, 1.0, 32768.0) == 1_407_188_992
    assert ms.kv_elements_read(7_808.0, 35_136.0, 2048.0, 32768.0) == 327_811_072


def test_prefill_attention_coefficient_with_a_window():
    # S = 1,000, window 128, nothing cached, no spread: full part sum_i i = S^2/2 = 500,000
    # context-token pairs; window part 128 x 1,000 - 128^2 / 2 = 119,808. With a_f = a_b = 1:
    # a_eff = 1 + 119,808 / 500,000 = 1.239616
    assert ms.prefill_attention_coefficient(1.0, 1.0, 128.0, 1000.0, 0.0, 0.0) == pytest.approx(
        1.239616
    )
    # within the window the bounded part is quadratic too (and keeps the spread factor): 2
    assert ms.prefill_attention_coefficient(1.0, 1.0, 128.0, 100.0, 0.0, 1.0) == pytest.approx(2)
    # cached prefix C = 500: window part (119,808 - (64,000 - 8,192)) = 64,000;
    # full part (1,000^2 - 500^2) / 2 = 375,000 -> 1 + 64,000 / 375,000
    assert ms.prefill_attention_coefficient(1.0, 1.0, 128.0, 1000.0, 500.0, 0.0) == pytest.approx(
        1 + 64_000 / 375_000
    )


def test_models_without_bounded_layers_are_unchanged():
    # Llama 3.3 70B: one full part, 4 x 80 x 64 x 128 = 2,621,440, whatever the context
    m = _model("llama3.3-70b")
    kv_held, kv_read, decode, prefill = model_at(_vector(m), 3000.0, 2000.0, 1000.0, 0.0, 0.5)
    assert kv_held == kv_read == 163_840
    assert decode == prefill == 2_621_440


def test_mxfp4_and_nvfp4_scale_overhead():
    # MXFP4: 4-bit elements + one E8M0 byte per 32 -> 0.53125 B; NVFP4 ("fp4"): one E4M3 byte
    # per 16 -> 0.5625 B. gpt-oss-120b all in MXFP4: 116.83e9 x 0.53125 = 62.07 GB
    bytes_of = dict(zip(DTYPES, BYTES_PER_ELEMENT, strict=True))
    assert bytes_of["mxfp4"] == 0.53125
    assert bytes_of["fp4"] == 0.5625
    assert ms.weight_bytes(116.83e9, bytes_of["mxfp4"]) == pytest.approx(62.0659375e9)


def test_shared_experts_are_always_read():
    # Llama 4 Scout: routed experts 48 x 16 x 3 x 5120 x 8192 = 96.64e9 params; everything else
    # (attention, embeddings, the shared expert every token uses) is read every step:
    # 109e9 - 96,636,764,160 = 12,363,235,840
    m = _model("llama4-scout")
    assert m["dense_params"] == 109e9 - 48 * 16 * 3 * 5120 * 8192 == 12_363_235_840


def test_window_and_sparse_rows_need_their_companions(tmp_path):
    import shutil

    from fleetsim.errors import CatalogError

    data = tmp_path / "data"
    shutil.copytree(catalog.paths.data_dir(), data)
    rows = (data / "models.csv").read_text().splitlines()
    kept = [r for r in rows if not r.startswith("gpt-oss-20b,attention_window,")]
    (data / "models.csv").write_text("\n".join(kept) + "\n")
    with pytest.raises(
        CatalogError, match="gpt-oss-20b: local_attention_layers needs attention_window"
    ):
        catalog.load.__wrapped__(data)


def _vector(m: dict[str, float]):
    import numpy as np

    return np.array([m[c] for c in catalog.MODEL_COLUMNS], dtype=np.float64)
