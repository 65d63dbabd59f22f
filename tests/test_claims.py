"""The industry's claims (issue #4): presets run, the script's numbers are reproduced independently.

scripts/claims.py computes fleetsim's number for each claim from a preset's Dataset; each test here
recomputes that number another way from the same Dataset (plain numpy on the arrays, or another
output variable that must agree) and checks sanity properties the verdicts rely on.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fleetsim
from fleetsim import units

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import claims  # noqa: E402

PRESETS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("claim*.yaml"))
DAYS = units.SECONDS_PER_YEAR / units.SECONDS_PER_DAY


@pytest.fixture(scope="module")
def runs(real_catalog_module):
    """Every claim preset run once (shared by the tests of this module)."""
    return {key: claims.run(name) for key, name in claims.PRESETS.items()}


@pytest.fixture(scope="module")
def real_catalog_module():
    saved = os.environ.pop("FLEETSIM_DATA_DIR", None)
    fleetsim.catalog.load.cache_clear()
    yield
    if saved is not None:
        os.environ["FLEETSIM_DATA_DIR"] = saved
    fleetsim.catalog.load.cache_clear()


def _index(ds, dim, value):
    return int(np.flatnonzero(ds[dim].values == value)[0])


# --------------------------------------------------------------------------- presets
def test_every_claim_has_a_preset_and_the_script_uses_them_all():
    assert set(claims.PRESETS.values()) == set(PRESETS)
    for name in PRESETS:
        text = (ROOT / "conf" / "experiment" / f"{name}.yaml").read_text()
        assert text.startswith("# @package _global_\n"), name
        assert "Run: fleetsim experiment=" + name in text, name


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_and_runs(name, real_catalog_module):
    ds = fleetsim.run([f"experiment={name}"])
    assert int((ds.status.values == 0).sum()) >= 1
    feasible = ds.status == 0
    assert bool(np.isfinite(ds.tco_usd.where(feasible)).sum() > 0)


def test_cli_runs_a_preset(tmp_path, real_catalog_module):
    env = dict(os.environ)
    env.pop("FLEETSIM_DATA_DIR", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetsim",
            "experiment=claim1_roce_512",
            f"output.path={tmp_path}/c1.nc",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "fabric(2)" in result.stdout
    assert (tmp_path / "c1.nc").is_file()


def test_claims_csv_cites_resolvable_sources():
    with (ROOT / "data" / "sources.csv").open(newline="", encoding="utf-8") as handle:
        sources = {row["source_id"] for row in csv.DictReader(handle)}
    with claims.CLAIMS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        assert row["source_id"] in sources, row
        assert row["kind"] in {"claim", "spec", "estimate", "quote", "assumption", "derived"}, row
        float(row["value"])
    ids = {row["claim_id"] for row in rows if row["kind"] == "claim"}
    assert ids == {
        "roce_vs_infiniband",
        "hardware_share",
        "dense_air_rack",
        "chat_app",
        "batching",
        "four_bit_weights",
        "serving_vs_training",
    }


# --------------------------------------------------------------------------- claim 1
def test_roce_saving_is_the_difference_of_tco(runs):
    ds = runs["roce"]
    result = claims.check_roce(ds)
    tco = ds.tco_usd.values  # (fabric, year)
    ib, roce = _index(ds, "fabric", "infiniband"), _index(ds, "fabric", "roce")
    assert result.values["saving_usd"] == pytest.approx(tco[ib, -1] - tco[roce, -1], abs=1e-3)
    net = ds.network_capex_usd.values.sum(axis=-1)
    assert result.values["network_capex_diff_usd"] == pytest.approx(net[ib] - net[roce], abs=1e-3)
    assert result.values["gpus"] == 512
    assert np.all(ds.accelerators.values == 512)  # a flat 512-GPU cluster every year
    # network capex is bought once: the fabric's parts at catalog prices (24 switches, 2,048 optics, 512 NICs)
    assert net[ib] == pytest.approx(24 * 36_000 + 2048 * 366 + 512 * 2188)


def test_roce_never_dearer_than_infiniband_in_network_capex(real_catalog_module):
    ds = fleetsim.run(
        [
            "experiment=claim1_roce_512",
            "workload.requests_per_day=[1e5,1e6,1e7,3.7e7,1e8,1e9]",
            "hardware=[h100-sxm,b200,mi300x]",
        ]
    )
    net = ds.network_capex_usd.sum("year")
    assert bool((net.sel(fabric="roce") <= net.sel(fabric="infiniband") + 1e-6).all())


# --------------------------------------------------------------------------- claim 2
def test_hardware_share_is_capex_over_tco(runs):
    ds = runs["share"]
    result = claims.check_share(ds)
    point = ds.sel(claims.SHARE_DEFAULTS)
    capex = point.hardware_capex_usd.values.sum() + point.network_capex_usd.values.sum()
    assert result.values["share_default"] == pytest.approx(capex / point.tco_usd.values[-1])
    # tco at year 5 is the sum of the cash lines (tco_component) over the years
    lines = sum(
        point[v].values.sum()
        for v in (
            "hardware_capex_usd",
            "network_capex_usd",
            "energy_cost_usd",
            "facility_cost_usd",
            "maintenance_cost_usd",
            "staff_cost_usd",
            "software_cost_usd",
        )
    )
    assert point.tco_usd.values[-1] == pytest.approx(lines)
    whole = (ds.hardware_capex_usd + ds.network_capex_usd).sum("year") / ds.tco_usd.isel(year=-1)
    assert result.values["share_min"] == pytest.approx(float(whole.min()))
    assert result.values["share_max"] == pytest.approx(float(whole.max()))
    assert 0 < result.values["share_min"] < 0.40 < result.values["share_max"] < 1


def test_recurring_costs_lower_the_hardware_share(runs):
    share = claims.hardware_share(runs["share"])
    for dim in (
        "maintenance_frac_per_year",
        "software_usd_per_accelerator_year",
        "staff_per_1000_accelerators",
        "electricity_usd_per_kwh",
        "colocation_usd_per_kw_month",
    ):
        assert bool((share.diff(dim) <= 1e-12).all()), dim


# --------------------------------------------------------------------------- claim 3
def test_rack_losses_are_throughput_ratios(runs):
    compute, memory = runs["rack_compute"], runs["rack_memory"]
    result = claims.check_rack(compute, memory)
    for key, ds in (("compute", compute), ("memory", memory)):
        tps = ds.tokens_per_s_per_accelerator.values
        free = tps[np.isinf(ds.servers_per_rack.values)][0]
        for d, value in zip(ds.servers_per_rack.values, tps, strict=True):
            if np.isfinite(d):
                # in float64, as the claim divides (the stored throughputs are float32)
                expected = 1 - float(value) / float(free)
                assert result.values[f"loss_{key}[{d:.0f}]"] == pytest.approx(expected)
    assert result.values["over_limit[5]"] == pytest.approx(5 * 10_200 / 40_000)


def test_denser_racks_never_run_faster(runs):
    for ds in (runs["rack_compute"], runs["rack_memory"]):
        order = np.argsort(np.nan_to_num(ds.servers_per_rack.values, posinf=0))
        clock = ds.clock_scale.values[order]
        tps = ds.max_tokens_per_s_per_accelerator.values[order]
        assert np.all(np.diff(clock) <= 1e-12)
        assert np.all(np.diff(tps) <= 1e-9)


# --------------------------------------------------------------------------- claim 4
def test_chat_daily_cost_is_cost_per_request_times_requests(runs):
    ds = runs["chat"]
    result = claims.check_chat(ds)
    requests = float(claims.config_value(ds, "workload.requests_per_day"))
    assert requests == claims.claimed("chat_app", "daily_users") * claims.claimed(
        "chat_app", "queries_per_user_day"
    )
    per_request = float(ds.cost_per_request_usd.sel(year=1))
    assert result.values["daily_cost_usd"] == pytest.approx(per_request * requests)
    assert result.values["monthly_saving_usd"] == pytest.approx(
        0.2 * per_request * requests * DAYS / 12
    )
    prompt = result.values["prompt_tokens_at_claim"]
    assert 1024 < prompt < 65536


# --------------------------------------------------------------------------- claim 5
def test_batching_gain_and_gpu_reduction(runs):
    ds = runs["batching"]
    result = claims.check_batching(ds)
    one, free = _index(ds, "max_batch", 1.0), _index(ds, "max_batch", math.inf)
    tps = ds.max_tokens_per_s_per_accelerator.values
    assert result.values["throughput_gain"] == pytest.approx(tps[free] / tps[one])
    acc = ds.accelerators.values[:, 0]
    assert result.values["gpu_reduction"] == pytest.approx(1 - acc[free] / acc[one])


def test_max_batch_one_never_beats_no_cap(real_catalog_module):
    ds = fleetsim.run(
        [
            "model=[llama3.1-8b,llama3.1-70b,mixtral-8x7b]",
            "hardware=[h100-sxm,b200,mi300x]",
            "deployment.max_batch=[1,null]",
            "workload.output_tokens=[128,1024]",
        ]
    )
    one = ds.max_tokens_per_s_per_accelerator.sel(max_batch=1)
    free = ds.max_tokens_per_s_per_accelerator.sel(max_batch=math.inf)
    ok = np.isfinite(one) & np.isfinite(free)
    assert int(ok.sum()) > 0
    assert bool((one.where(ok) <= free.where(ok) * (1 + 1e-12)).where(ok, True).all())


# --------------------------------------------------------------------------- claim 6
def test_int4_weights_are_a_quarter_plus_scales(runs):
    ds = runs["int4_h100"]
    ratio = (
        ds.weight_bytes.sel(weight_dtype="int4") / ds.weight_bytes.sel(weight_dtype="bf16")
    ).values
    assert np.allclose(ratio[np.isfinite(ratio)], (0.5 + 2 / 128) / 2)
    assert np.allclose(ratio[np.isfinite(ratio)], 0.26, atol=0.003)
    result = claims.check_4bit(ds, runs["fp4_b200"])
    assert result.values["memory_reduction"] == pytest.approx(1 - (0.5 + 2 / 128) / 2)
    assert result.values["b200_weight_bytes_ratio"] == pytest.approx((0.5 + 1 / 16) / 2)


@pytest.mark.parametrize(("key", "four"), [("int4_h100", "int4"), ("fp4_b200", "fp4")])
def test_4bit_cost_ratios_at_the_cheapest_tp(runs, key, four):
    ds = runs[key]
    ratios = claims.four_bit_ratios(ds, four)
    tco = ds.tco_usd.isel(year=-1)  # (tp, weight_dtype)
    best = {}
    for dtype in ("bf16", four):
        column = tco.sel(weight_dtype=dtype).values
        best[dtype] = int(np.nanargmin(column))
    b, f = (
        tco.sel(weight_dtype="bf16").values[best["bf16"]],
        tco.sel(weight_dtype=four).values[best[four]],
    )
    assert ratios["tco_ratio[best]"] == pytest.approx(b / f)
    assert ratios["tp_bf16[best]"] == ds.tp.values[best["bf16"]]
    cpr = ds.cost_per_request_usd.sel(year=1)
    assert ratios["cpr_ratio[best]"] == pytest.approx(
        float(
            cpr.sel(weight_dtype="bf16").values[best["bf16"]]
            / cpr.sel(weight_dtype=four).values[best[four]]
        )
    )


# --------------------------------------------------------------------------- claim 7
def test_serving_to_training_ratio(runs):
    ds = runs["training"]
    result = claims.check_training(ds)
    requests = float(claims.config_value(ds, "workload.requests_per_day"))
    # serving cost over the life from the cost per request, training from the published hours
    serving = float((ds.cost_per_request_usd * requests * DAYS).sum("year"))
    budget = 7.0e6 * 2.95
    assert result.values["training_budget_usd"] == pytest.approx(budget)
    # the Dataset stores float32 (output.float32): agreement to its precision
    assert result.values["serving_cost_usd"] == pytest.approx(serving, rel=1e-6)
    assert result.values["serving_to_training"] == pytest.approx(serving / budget, rel=1e-6)
    assert result.values["break_even_check_ratio"] == pytest.approx(10, rel=0.1)


# --------------------------------------------------------------------------- the table
def test_table_and_markdown(runs):
    results = [
        claims.check_roce(runs["roce"]),
        claims.check_batching(runs["batching"]),
    ]
    text = claims.text_table(results)
    assert "disagrees" in text
    assert "claimed" in text.splitlines()[0]
    md = claims.markdown(results, 1.0)
    assert md.startswith("| # | claim | claimed | fleetsim | verdict | why |")
    assert md.count("\n| 1 |") == 1


def test_main_writes_markdown(tmp_path, monkeypatch, runs):
    monkeypatch.setattr(claims, "check_all", lambda: [claims.check_batching(runs["batching"])])
    out = tmp_path / "claims.md"
    assert claims.main(["--markdown", str(out)]) == 0
    assert out.read_text().startswith("| # |")
