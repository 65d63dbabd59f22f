"""Calibration: the fitted catalog reproduces published measurements (issue #3).

The efficiencies in data/hardware.csv are fitted by scripts/fit_efficiency.py to data/calibration.csv;
scripts/validate.py reports the errors. These tests pin a few predictions so a physics change that
moves them fails here (then re-run the fit and the validation), check that the catalog is exactly
what the fit writes, and that the cross-validation runs.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import fit_efficiency as fe  # noqa: E402
import validate  # noqa: E402

#: cross-validated worst |error| the calibration is accepted at (scripts/validate.py)
VALIDATED_ERROR = 0.35

#: row id -> fleetsim's prediction with the catalog as fitted (tokens/s per accelerator)
PINNED = {
    "C05o": 3608.0,  # llama2-70b, 8x H200, TensorRT-LLM FP8, MLPerf v4.1 Offline
    "C09s": 2630.0,  # llama2-70b, 8x MI300X, vLLM-ROCm FP8, MLPerf v4.1 Server
    "C14o": 453.0,  # llama2-70b, 8x L40S, TensorRT-LLM, MLPerf v4.1 Offline (TP over PCIe)
    "C28": 7054.0,  # llama3.1-70b, B200 TP1 FP4, TensorRT-LLM 1000/1000
}


@pytest.fixture(scope="module")
def evaluator():
    return fe.Evaluator()


@pytest.fixture(scope="module")
def rows():
    return {r.id: r for r in fe.load_rows()}


@pytest.mark.parametrize("row_id", sorted(PINNED))
def test_pinned_prediction(evaluator, rows, row_id):
    row = rows[row_id]
    eta = evaluator.catalog_efficiency(row.hardware)
    predicted = evaluator.operating_point(row, eta, evaluator.default_overhead())["tokens"]
    assert abs(predicted / row.measured - 1) <= VALIDATED_ERROR
    assert predicted == pytest.approx(PINNED[row_id], rel=0.02)


def test_efficiency_rows_are_fitted_and_cite_the_calibration():
    with open(ROOT / "data" / "sources.csv", newline="") as handle:
        sources = {r["source_id"] for r in csv.DictReader(handle)}
    assert fe.SOURCE_ID in sources
    measured = {r.hardware for r in fe.load_rows()}
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
    """Re-running scripts/fit_efficiency.py would not change data/hardware.csv or the conf."""
    rows = fe.load_rows()
    fitted = fe.fit(evaluator.grid_tables(rows), rows)
    text = fe.HARDWARE_CSV.read_text()
    assert fe.hardware_csv_text(fitted, rows, text) == text
    assert fitted.overhead == pytest.approx(evaluator.default_overhead())
    conf = fe.DEPLOYMENT_YAML.read_text()
    assert fe.deployment_yaml_text(fitted.overhead, conf) == conf


def test_cross_validation_runs_on_a_reduced_set():
    ids = ["C01o", "C01s", "C05o", "C05s", "C09o", "C09s", "C13o", "C14o", "C23", "C28", "C29"]
    result = validate.run(ids, coarse=True, out=io.StringIO())
    assert [r.id for r in result["rows"]] == ids
    cv = result["cv_system"]
    assert np.all(np.isfinite(cv))
    offline = result["summary"]["cross-validated, leave one system out"]["offline"]
    assert offline[2] == 8
    assert offline[0] < 100.0


def test_standard_case_is_closer_to_measured_kernels_than_the_roofline_peers():
    # PEERS.md's standard case: aiconfigurator interpolates measured NVIDIA kernels, llm-analysis
    # and GenZ are rooflines at 100 % of peak; fleetsim's tokens/s per GPU must be nearer the former
    cells = validate.peer_standard_case(io.StringIO())
    for batch, (_, _, tokens) in cells.items():
        roofline_peers, measured = (
            validate.PEER_STANDARD_CASE[batch][:2],
            validate.PEER_STANDARD_CASE[batch][2],
        )
        error = abs(tokens / measured[2] - 1)
        assert error < 0.25, (batch, tokens, measured)
        assert all(error < abs(peer[2] / measured[2] - 1) for peer in roofline_peers), batch
