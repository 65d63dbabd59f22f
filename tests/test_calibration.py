"""Calibration: the fitted catalog reproduces published measurements (issue #3).

The efficiencies in data/hardware.csv are fitted by scripts/fit_efficiency.py to data/calibration.csv;
scripts/validate.py reports the errors. These tests pin a few predictions so a physics change that
moves them fails here (then re-run the fit and the validation), check that the catalog is exactly
what the fit writes, and that the cross-validation runs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import fit_efficiency as fe  # noqa: E402
import validate  # noqa: E402

#: |predicted / measured - 1| a pinned row may show: the issue's per-group target (median
#: |error| <= 20 %) with a margin for one row
PIN_TOLERANCE = 0.25

#: rows pinned per regime: fleetsim with the catalog as shipped (fitted on every covered row) must
#: land within PIN_TOLERANCE of the published measurement, which the test reads from
#: data/calibration.csv (the forward test, the time split, is scripts/validate.py's)
PINNED = {
    "offline": ("C01o", "C28", "C49o"),  # H100 TRT-LLM v4.1 70B; B200 TP1 FP4; 8x B200 v5.1
    "server": ("C01s", "C09s"),  # H100 TRT-LLM v4.1; MI300X vLLM v4.1
    "interactive": ("C54i", "C53i", "C62i", "C88i"),  # v5.1: 70B H200 x2, 70B MI300X TP1, 8B B200
    "moe": ("C16o", "C16s", "C43o", "C43s"),  # Mixtral H100 v4.1; DeepSeek-R1 8x B200 v5.1
}
#: pinned rows the current step-time model misses (issue #11: latency-bound regimes and MoE/MLA
#: are too optimistic); strict, so the mark must go when the physics gets them right
KNOWN_MISSES = {
    "C88i": "Interactive too optimistic: +33 % for 8B FP4 on B200",
    "C43s": "DeepSeek-R1 Server too optimistic: +81 % (measured Server/Offline 0.56, fleetsim 0.90)",
    "C53i": "Interactive too pessimistic: -39 % for 70B on H200 at its stated TP1 (stream + compute)",
    "C54i": "Interactive too pessimistic: -45 % for 70B on H200 at its stated TP1 (stream + compute)",
}


@pytest.fixture(scope="module")
def evaluator():
    return fe.Evaluator()


@pytest.fixture(scope="module")
def rows():
    return {r.id: r for r in fe.load_rows()}


def _train_rows():
    rows = fe.load_rows()
    return [r for r, t in zip(rows, fe.train_mask(rows), strict=True) if t]


@pytest.mark.parametrize(
    "row_id",
    [
        pytest.param(
            i,
            id=f"{regime}-{i}",
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[i])]
            if i in KNOWN_MISSES
            else [],
        )
        for regime, ids in PINNED.items()
        for i in ids
    ],
)
def test_pinned_row_is_within_tolerance_of_the_measurement(evaluator, rows, row_id):
    row = rows[row_id]
    eta = evaluator.catalog_efficiency(row.hardware, row.model_class)
    predicted = evaluator.operating_point(row, eta, evaluator.default_overhead())["tokens"]
    assert abs(predicted / row.measured - 1) <= PIN_TOLERANCE, (row.case, predicted, row.measured)


def test_pinned_rows_cover_their_regimes(rows):
    for regime, ids in PINNED.items():
        for i in ids:
            row = rows[i]
            if regime == "moe":
                assert row.model in ("mixtral-8x7b", "deepseek-r1"), i
            else:
                assert row.scenario == regime, i


def test_time_split_trains_only_on_rounds_before_v51():
    rows = fe.load_rows()
    mask = fe.train_mask(rows)
    assert mask.any()
    assert not mask.all()
    assert all(r.round in fe.PRE_V51_ROUNDS for r, t in zip(rows, mask, strict=True) if t)
    assert all("v5.1" in r.round for r, t in zip(rows, mask, strict=True) if not t)
    with pytest.raises(ValueError, match="train set 'v6'"):
        fe.train_mask(rows, "v6")


def test_rows_are_evaluated_with_the_conf_defaults(evaluator, rows):
    """The shipped fit applies a row's stated layout and sequence cap and nothing else of its
    engine's: the prefill mode and step token budget stay the conf defaults (chunked, 8192) for
    every scenario; the row's own facts are set. ``stated="all"`` applies those two as well."""
    cfg = fe.api.compose([])
    defaults = {
        "deployment.prefill": float(fe.config.PREFILL_MODES.index(cfg.deployment.prefill)),
        "deployment.step_token_budget": float(cfg.deployment.step_token_budget),
        "deployment.memory_reserve_frac": float(cfg.deployment.memory_reserve_frac),
    }
    for row_id in ("C01o", "C01s", "C49i", "C43s", "C61i"):
        row = rows[row_id]
        base = evaluator.base(row)
        for key, value in defaults.items():
            assert base[evaluator.slot[key]] == value, (row_id, key)
        assert base[evaluator.slot["workload.output_tokens"]] == row.output_tokens
        assert base[evaluator.slot["deployment.max_batch"]] == row.max_batch
        assert base[evaluator.slot["deployment.pp"]] == row.pp
    assert base[evaluator.slot["deployment.max_batch"]] == 600  # vLLM max_num_seqs of C61i
    base = evaluator.base(rows["C43s"])
    assert base[evaluator.slot["workload.output_tokens_cv"]] == 1.25  # DeepSeek-R1's spread
    assert base[evaluator.slot["workload.tpot_slo_s"]] == rows["C43s"].tpot_s
    # a row that states no settings gets the defaults; pp is one stage unless stated
    unstated = rows["C20o"]  # MLPerf v4.0: its submission's configs are not read
    assert unstated.max_batch is unstated.step_token_budget is unstated.prefill is None
    assert evaluator.base(unstated)[evaluator.slot["deployment.max_batch"]] == np.inf
    assert rows["C72o"].pp == 2  # 405B Offline on B200: TP2 x PP2
    every = fe.Evaluator("all").base(rows["C61i"])
    assert every[evaluator.slot["deployment.step_token_budget"]] == 40960
    assert every[evaluator.slot["deployment.prefill"]] == fe.config.PREFILL_MODES.index("whole")
    with pytest.raises(ValueError, match="expected one of layout, all"):
        fe.Evaluator("everything")


def test_efficiency_rows_are_fitted_and_cite_the_calibration():
    with open(ROOT / "data" / "sources.csv", newline="") as handle:
        sources = {r["source_id"] for r in csv.DictReader(handle)}
    assert fe.SOURCE_ID in sources
    measured = {r.hardware for r in _train_rows()}
    with open(ROOT / "data" / "hardware.csv", newline="") as handle:
        rows = [
            r
            for r in csv.DictReader(handle)
            if r["parameter"] in ("compute_efficiency", "bandwidth_efficiency")
        ]
    assert {r["hardware_id"] for r in rows} == set(fe.FAMILY)
    for r in rows:
        assert r["source_id"] == fe.SOURCE_ID
        expected = "fitted" if r["hardware_id"] in measured else "assumption"
        assert r["kind"] == expected, r["hardware_id"]
        assert "scripts/fit_efficiency.py" in r["note"]
        if r["parameter"] == "bandwidth_efficiency":
            assert 0.0 < float(r["value"]) <= fe.BANDWIDTH_CEILING


def test_catalog_is_what_the_fit_writes(evaluator):
    """Re-running scripts/fit_efficiency.py would not change data/hardware.csv,
    data/efficiency.csv or the conf."""
    rows = _train_rows()
    fitted = fe.fit(evaluator.grid_tables(rows), rows, anchors=evaluator.anchor_errors())
    text = fe.HARDWARE_CSV.read_text()
    assert fe.hardware_csv_text(fitted, rows, text) == text
    assert fe.efficiency_csv_text(fitted, rows) == fe.EFFICIENCY_CSV.read_text()
    assert fitted.overhead == pytest.approx(evaluator.default_overhead())
    conf = fe.DEPLOYMENT_YAML.read_text()
    assert fe.deployment_yaml_text(fitted.overhead, conf) == conf


def test_validation_runs_on_a_reduced_set():
    ids = ["C01o", "C01s", "C05o", "C05s", "C09o", "C09s", "C28", "C49o", "C49s", "C49i", "C62o",
           "C62i"]  # fmt: skip
    out = io.StringIO()
    result = validate.run(ids, coarse=True, out=out)
    text = out.getvalue()
    assert [r.id for r in result["rows"]] == ids
    assert list(result["train"]) == [True] * 7 + [False] * 5
    assert np.all(np.isfinite(result["time_split"]))
    assert np.all(np.isfinite(result["cv_system"]))
    n, median, p90, worst, _ = result["time_split_groups"][("all", "")]
    assert n == 5
    assert median <= p90 <= worst
    assert result["time_split_groups"][("llama2-70b", "interactive")][0] == 2
    # one system with Offline, Server and Interactive rows: both ratios, predicted vs measured
    system = {s for s, *_ in result["ratios"]["interactive"]}
    assert rows_system("C49i") in system
    assert rows_system("C62i") in system
    (meas,) = [m for s, m, _ in result["ratios"]["interactive"] if s == rows_system("C49i")]
    assert meas == pytest.approx(7443.18 / 12690.9)
    assert set(result["tails"]) == {"tpot", "ttft"}
    # the measured spread is the median p99 / mean of the rows with published means (every
    # Server / Interactive row here: MLPerf v4.1 and v5.1 log summaries)
    rows = {r.id: r for r in result["rows"]}
    with_means = [rows[i] for i in ("C01s", "C05s", "C09s", "C49s", "C49i", "C62i")]
    assert all(r.mean_tpot_s and r.mean_ttft_s for r in with_means)
    assert next(r for r in fe.load_rows() if r.id == "C20s").mean_tpot_s is None  # v4.0: not read
    spread = np.median([r.p99_tpot_s / r.mean_tpot_s for r in with_means])
    assert result["spreads"]["tpot_measured"] == pytest.approx(spread)
    assert result["spreads"]["tpot_fleetsim"] >= 1.0  # a p99 is never below the mean
    assert set(result["limits"]) == {"persistence", "spread"}
    for heading in ("TIME SPLIT", "Leave one system out", "Interactive/Offline", "p99", "target",
                    "p99 / mean", "beyond physics"):  # fmt: skip
        assert heading in text


def rows_system(row_id: str) -> str:
    return next(r.system for r in fe.load_rows() if r.id == row_id)


def test_kernel_anchors_are_the_peers_measured_kernel_steps():
    # the fit's anchors are aiconfigurator's column of PEERS.md's standard case
    assert {b: cells[2][1] for b, cells in validate.PEER_STANDARD_CASE.items()} == fe.KERNEL_ANCHORS


@pytest.fixture(scope="module")
def standard_case():
    return validate.peer_standard_case(io.StringIO())


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param(
            b,
            marks=[
                pytest.mark.xfail(
                    strict=True,
                    reason="-26 %: the static batch's 262k-token prefill takes 1.46x "
                    "aiconfigurator's TTFT (one eta_c for small- and large-M GEMMs; the fitted "
                    "3 ms step overhead); its TPOT is within 3 %",
                )
            ]
            if b == 256
            else [],
        )
        for b in sorted(validate.PEER_STANDARD_CASE)
    ],
)
def test_standard_case_is_closer_to_measured_kernels_than_the_roofline_peers(standard_case, batch):
    # PEERS.md's standard case: aiconfigurator interpolates measured NVIDIA kernels, llm-analysis
    # and GenZ are rooflines at 100 % of peak; fleetsim's tokens/s per GPU must be nearer the former
    tokens = standard_case[batch][2]
    roofline_peers, measured = (
        validate.PEER_STANDARD_CASE[batch][:2],
        validate.PEER_STANDARD_CASE[batch][2],
    )
    error = abs(tokens / measured[2] - 1)
    assert all(error < abs(peer[2] / measured[2] - 1) for peer in roofline_peers), batch
    assert error < 0.25, (batch, tokens, measured)


def test_board_power_factor_by_hand():
    # H100 PCIe 350 W at 756 dense BF16 TFLOP/s beside H100 SXM's 700 W at 989: (350/756)/(700/989)
    assert fe.power_factor("h100-pcie") == pytest.approx((350 / 756) / (700 / 989))
    assert fe.power_factor("mi300x") == pytest.approx(750 / 1000)  # same peak as MI325X
    assert fe.power_factor("h200-nvl") == 1.0  # 600 W at 835.5: more power per FLOP than H200
    assert fe.power_factor("h100-sxm") == 1.0  # no sibling
    # compute only, in grid steps: the pair of a part without its own scale is its family's with
    # the compute index moved by the factor (rounded to the 2 % grid)
    rows = _train_rows()
    fitted = fe.fit(fe.Evaluator().grid_tables(rows), rows)
    ic, im = fitted.family[fe.FAMILY["h200-nvl"]]
    steps = round(np.log((350 / 756) / (700 / 989)) / np.log(fe.GRID_RATIO))
    assert fe.power_steps("h100-pcie") == steps < 0
    assert fitted.indices("h100-pcie") == (ic + steps, im)
    assert fitted.indices("h200-nvl") == (ic, im)


def test_a_class_without_rows_takes_the_measured_vendors_shift():
    fit_ = fe.Fit((0.0,), 0, {"nvidia-hopper": (100, 80)}, {}, 0.0, {}, {("nvidia", "moe"): -7})
    assert fit_.class_sources("nvidia", "moe") == (("nvidia", "moe"),)
    assert fit_.class_sources("nvidia", "mla") == (("nvidia", "moe"),)  # MLA models route experts
    assert fit_.class_sources("amd", "moe") == (("nvidia", "moe"),)  # no AMD MoE rows
    assert fit_.class_sources("amd", "dense") == ()
    assert fit_.scale_shift("mi300x", "vllm", "moe") == -7
    # several vendors measured: their mean shift, rounded to the grid
    two = dataclasses.replace(fit_, class_shift={("nvidia", "moe"): -7, ("intel", "moe"): -2})
    assert two.class_sources("amd", "mla") == (("intel", "moe"), ("nvidia", "moe"))
    assert two.class_step("amd", "moe") == round((-7 - 2) / 2)
    assert two.class_step("intel", "moe") == -2  # a vendor's own rows come first


def _twin(row: fe.Row, **changes) -> fe.Row:
    return dataclasses.replace(row, **changes)


def test_persistence_forecast_by_hand(rows):
    """A later row is predicted by the median of its setup's latest earlier round, nothing else."""
    base = rows["C05o"]  # H200 TP1 FP8 TensorRT-LLM, Llama 2 70B Offline, v4.1
    table = [
        _twin(base, id="a", round="mlperf-inference-v4.0", measured=50.0),
        _twin(base, id="b", measured=100.0),
        _twin(base, id="c", measured=120.0, system="other"),
        _twin(base, id="d", round="mlperf-inference-v5.1", measured=121.0),
        _twin(base, id="e", round="mlperf-inference-v5.1", measured=99.0, tp=2),  # other layout
    ]
    earlier = np.array([True, True, True, False, False])
    errors = validate.persistence(table, earlier, ~earlier)
    # v4.1 (latest earlier round) median 110 predicts 121: -9.09 %; the TP2 row has no twin
    assert errors == {3: pytest.approx(100 * (110 / 121 - 1))}


def test_submitter_spread_by_hand(rows):
    """Each row is predicted by the median of the other systems' rows of its setup."""
    base = rows["C53o"]
    table = [
        _twin(base, id="a", system="A", measured=100.0),
        _twin(base, id="b", system="B", measured=100.0),
        _twin(base, id="c", system="C", measured=130.0),
        _twin(base, id="d", system="D", measured=80.0, weight_dtype="fp4"),  # a setup of its own
    ]
    errors = validate.submitter_spread(table, np.ones(4, dtype=bool))
    assert errors == pytest.approx({0: 15.0, 1: 15.0, 2: 100 * (100 / 130 - 1)})
    assert 3 not in errors
