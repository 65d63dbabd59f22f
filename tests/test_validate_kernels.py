"""The measured-GEMM check of fleetsim's kernel-class time (scripts/validate_kernels.py)."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import validate_kernels as vk  # noqa: E402


def test_every_measured_gemm_cites_a_source():
    with (ROOT / "data" / "sources.csv").open(newline="", encoding="utf-8") as handle:
        sources = {row["source_id"] for row in csv.DictReader(handle)}
    with vk.KERNELS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 648
    assert {r["source_id"] for r in rows} <= sources
    assert all(r["as_of"] and r["framework"] for r in rows)
    assert all(float(r["latency_s"]) > 0 for r in rows)


@pytest.mark.parametrize("p", [1.0, 2.0, 4.0])
def test_fit_recovers_a_known_composition(p):
    """Kernels made from a known composition give back its fractions of peak and latency."""
    rng = np.random.default_rng(3)
    stream = 10 ** rng.uniform(-6, -3, 200)
    math_ = stream * 10 ** rng.uniform(-2, 2, 200)
    measured = 5e-6 + ((math_ / 0.7) ** p + (stream / 0.8) ** p) ** (1 / p)
    eta_c, eta_m, t0, err = vk.fit_composition(stream, math_, measured, p)
    assert (eta_c, eta_m, t0) == pytest.approx((0.7, 0.8, 5e-6), abs=1e-9)
    assert np.max(np.abs(err)) < 1e-9


def test_stream_and_math_by_hand():
    g = {k: np.array([v]) for k, v in {"m": 16.0, "n": 8192.0, "k": 4096.0}.items()}
    moved, flops = vk.stream_and_math("fp8", g)
    # weight 8192 x 4096 at 1 B, input 16 x 4096 at 1 B, output 16 x 8192 at 2 B
    assert moved[0] == 8192 * 4096 + 16 * 4096 + 16 * 8192 * 2
    assert flops[0] == 2 * 16 * 8192 * 4096


def test_check_runs_on_the_measured_kernels():
    out = io.StringIO()
    result = vk.run(out)
    assert set(result) == {(h, d) for h in ("b200", "h100-sxm", "h200") for d in ("bf16", "fp8")}
    for entry in result.values():
        assert np.all(np.isfinite(entry["fleetsim"]))
        assert set(entry["fits"]) == set(vk.EXPONENTS)
    assert "fleetsim (eta" in out.getvalue()
