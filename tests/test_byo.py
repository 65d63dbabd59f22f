"""Bring your own model (Hugging Face config.json) or accelerator (YAML), catalog selections,
did-you-mean hints and ``fleetsim catalog``.

The config fixtures in tests/data/hf were written for these tests from the published configs
of five families (Llama, Qwen3-MoE, Mixtral, DeepSeek-V3/V3.2, gpt-oss; plus Llama 4).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fleetsim import api, byo, catalog
from fleetsim.errors import CatalogError, ConfigError

ROOT = Path(__file__).resolve().parents[1]
HF = Path(__file__).parent / "data" / "hf"
TEMPLATE = ROOT / "data" / "templates" / "accelerator.yaml"
#: the kernel columns a config.json fixes exactly (parameter counts are compared separately)
SHAPE = (
    "layers", "d_model", "kv_elements_per_token", "attention_flops_per_context_token",
    "bounded_kv_elements_per_token", "bounded_attention_flops_per_context_token",
    "attention_span", "bounded_kv_kept", "expert_params", "moe_layers", "moe_experts", "moe_top_k",
)  # fmt: skip


def _catalog_row(model_id: str) -> dict[str, float]:
    t = catalog.load().tables["models"]
    return dict(zip(t.columns, t.values[t.ids.index(model_id)], strict=True))


@pytest.mark.parametrize(
    ("fixture", "model_id", "total_rel"),
    [
        ("llama-3.1-8b.json", "llama3.1-8b", 1e-6),  # the catalog's own derived count
        ("qwen3-30b-a3b.json", "qwen3-30b-a3b", 0.002),  # card: 30.5B
        ("mixtral-8x7b.json", "mixtral-8x7b", 0.001),  # paper: 46.7B
        ("deepseek-v3.json", "deepseek-v3", 0.001),  # 671B
        ("deepseek-v3.2.json", "deepseek-v3.2", 0.002),  # + the indexer's 0.85B
        ("gpt-oss-20b.json", "gpt-oss-20b", 0.001),  # card: 20.91B
        ("llama-4-scout.json", "llama4-scout", 0.02),  # 109B stated includes the vision encoder
    ],
)
def test_hf_config_gives_the_catalog_shape(fixture, model_id, total_rel):
    row, labels, digest = byo._entry(str(HF / fixture), "models")
    t = catalog.load().tables["models"]
    got = dict(zip(t.columns, row, strict=True))
    expected = _catalog_row(model_id)
    for column in SHAPE:
        assert got[column] == expected[column], column
    assert got["total_params"] == pytest.approx(expected["total_params"], rel=total_rel)
    assert labels["attention_kind"] == catalog.load().labels["models"][model_id]["attention_kind"]
    assert digest == hashlib.sha256((HF / fixture).read_bytes()).hexdigest()


def test_hf_config_active_parameters_by_hand():
    # Mixtral 8x7B: routed experts 32 layers x 8 x 3 x 4096 x 14336 = 45.097e9; a token uses 2
    # of 8, so active = total - 32 x 6 x 3 x 4096 x 14336 = 46,702,792,704 - 33,822,867,456
    params = byo.model_parameters("m.json", json.loads((HF / "mixtral-8x7b.json").read_text()))
    assert params["total_params"] == 46_702_792_704
    assert params["active_params"] == 46_702_792_704 - 32 * 6 * 3 * 4096 * 14336
    assert params["moe_dense_layers"] == 0


def test_hf_config_errors_name_the_file_and_key(tmp_path):
    config = json.loads((HF / "llama-3.1-8b.json").read_text())
    del config["num_hidden_layers"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(config))
    with pytest.raises(CatalogError, match=r"broken.json: missing key num_hidden_layers"):
        byo._entry(str(path), "models")
    config["num_hidden_layers"] = 32.5
    path.write_text(json.dumps(config))
    with pytest.raises(CatalogError, match=r"num_hidden_layers=32.5; allowed: a whole number"):
        byo._entry(str(path), "models")
    path.write_text("{not json")
    with pytest.raises(CatalogError, match=r"broken.json: not valid JSON"):
        byo._entry(str(path), "models")


def test_accelerator_template_is_the_catalog_h100():
    row, labels, _ = byo._entry(str(TEMPLATE), "hardware")
    t = catalog.load().tables["hardware"]
    expected = dict(zip(t.columns, t.values[t.ids.index("h100-sxm")], strict=True))
    got = dict(zip(t.columns, row, strict=True))
    for column in t.columns:
        # the template leaves the rental price out; its efficiency pair is a snapshot of a fit
        # that scripts/fit_efficiency.py may have moved since
        if column not in ("rental_price", "compute_efficiency", "bandwidth_efficiency"):
            assert got[column] == pytest.approx(expected[column]), column
    assert got["rental_price"] == 0.0
    assert labels == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hbm_capacity: lots\n", r"hbm_capacity='lots'; allowed: a number with its unit \(B, GB"),
        ("hbm_capacity: 80 parsecs\n", r"hbm_capacity='80.0' 'parsecs': unknown unit 'parsecs'"),
        ("hbm_memory: 80 GB\n", r"unknown key 'hbm_memory'; allowed: peak_flops_bf16"),
        ("tdp: 99999 W\n", r"tdp=99999.0 W is 99999 W; allowed \[10, 5000\] W"),
        ("segment: orbital\n", r"segment='orbital'; allowed: datacenter, pcie, cloud, announced"),
    ],
)
def test_accelerator_file_errors(tmp_path, text, message):
    body = TEMPLATE.read_text()
    key = text.split(":")[0]
    lines = [line for line in body.splitlines() if not line.startswith(f"{key}:")]
    path = tmp_path / "acc.yaml"
    path.write_text("\n".join(lines) + "\n" + text)
    with pytest.raises(CatalogError, match=message):
        byo._entry(str(path), "hardware")


def test_missing_required_accelerator_key(tmp_path):
    path = tmp_path / "acc.yaml"
    path.write_text(
        "".join(ln + "\n" for ln in TEMPLATE.read_text().splitlines() if not ln.startswith("tdp:"))
    )
    with pytest.raises(CatalogError, match=r"acc.yaml: .*missing required parameter\(s\) tdp"):
        byo._entry(str(path), "hardware")


def test_files_sweep_beside_catalog_ids_and_are_recorded(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    model = "./tests/data/hf/gpt-oss-20b.json"
    ds = api.run([
        f"model=[{model},gpt-oss-20b]", "hardware=[h100-sxm,./data/templates/accelerator.yaml,h20]",
        "deployment.weight_dtype=mxfp4", "workload.input_tokens=1000", "workload.output_tokens=200",
        "finance.years=1",
    ])  # fmt: skip
    assert list(ds["model"].values) == [model, "gpt-oss-20b"]
    assert list(ds["hardware"].values) == ["h100-sxm", "./data/templates/accelerator.yaml", "h20"]
    sha = hashlib.sha256((ROOT / model).read_bytes()).hexdigest()
    assert f"{model} sha256={sha}" in ds.attrs["catalog_files"]
    toks = ds["tokens_per_s_per_accelerator"]
    assert np.isfinite(toks.isel(hardware=1).values).all()  # the template runs like an id
    assert np.isfinite(toks.values).all()
    # H20 has no public price: its ownership costs are NaN (not free), its rent and power known
    tco = ds["tco_usd"]
    assert np.isnan(tco.sel(hardware="h20").values).all()
    assert np.isfinite(tco.sel(hardware="h100-sxm").values).all()
    assert np.isfinite(ds["it_power_w"].sel(hardware="h20").values).all()


def test_all_selections():
    ids = catalog.load().ids()
    cfg, loaded = byo.extend(
        api.compose(["model=all:moe", "hardware=all:announced"]), catalog.load()
    )
    assert list(cfg.hardware) == ["vr200", "mi455x"]
    moe = [i for i in ids["models"] if _catalog_row(i)["moe_experts"] > 0]
    assert list(cfg.model) == moe
    assert "gpt-oss-120b" in moe
    assert "llama3.3-70b" not in moe
    cfg, _ = byo.extend(api.compose(["model=all"]), catalog.load())
    assert list(cfg.model) == list(ids["models"])
    with pytest.raises(
        CatalogError, match=r"all:pcie.*allowed: catalog ids, a file, or all, all:dense"
    ):
        byo.extend(api.compose(["model=all:pcie"]), catalog.load())


@pytest.mark.parametrize(
    ("override", "hint"),
    [
        ("model=gptoss", "did you mean 'gpt-oss-120b'?"),
        ("model=qwen3", "did you mean 'qwen3-235b-a22b'?"),
        ("model=openai/gpt-oss-20b", "did you mean 'gpt-oss-20b'?"),
        ("hardware=h100", "did you mean 'h100-sxm'?"),
        ("hardware=rubin", "did you mean 'vr200'?"),
    ],
)
def test_did_you_mean_uses_ids_and_aliases(override, hint):
    with pytest.raises(ConfigError, match=hint.replace("?", r"\?")):
        api.run([override])


def _cli(*args):
    env = dict(os.environ)
    env.pop("FLEETSIM_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "fleetsim", "catalog", *args],
        capture_output=True, text=True, timeout=120, env=env, cwd="/",
    )  # fmt: skip


def test_catalog_list_and_show():
    listed = _cli("list", "models")
    assert listed.returncode == 0, listed.stderr
    assert "gpt-oss-120b" in listed.stdout
    assert "window 128" in listed.stdout
    assert "sparse top-2048" in listed.stdout
    hardware = _cli("list", "hardware")
    assert hardware.returncode == 0
    assert "gb300" in hardware.stdout
    assert "announced" in hardware.stdout
    shown = _cli("show", "deepseek-v3.2")
    assert shown.returncode == 0
    assert "sparse_attention_top_k" in shown.stdout
    assert "https://huggingface.co/deepseek-ai/DeepSeek-V3.2-Exp" in shown.stdout
    missing = _cli("show", "gptoss")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1
    assert "did you mean 'gpt-oss-120b'?" in missing.stderr
