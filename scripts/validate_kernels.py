"""Check fleetsim's kernel-class time against measured GEMM kernels (one GEMM at a time).

``data/gemm_kernels.csv`` holds measured latencies of single GEMMs -- ``m`` tokens times an
``n x k`` weight, in BF16 and FP8, on H100 SXM, H200 and B200 (TensorRT-LLM 1.3.0rc20 kernels as
aiconfigurator collected them, source ``aiconfigurator_gemm``). For each accelerator and format
this prints how far fleetsim's :func:`fleetsim.physics.serving.kernel_time` -- the weight and
activation stream *plus* the multiply-adds, at the catalog's fitted fractions of peak -- lands
from the measurements, by regime (memory-bound, near the ridge, compute-bound), and then how well
compositions of the two times fit the same kernels when their fractions of peak and a fixed
per-kernel latency are fitted to them:

.. math:: t = t_0 + \\left(t_{stream}^p + t_{math}^p\\right)^{1/p}

``p = 1`` is fleetsim's sum, ``p -> inf`` the roofline's max. The step model is checked against
serving measurements by ``scripts/validate.py``; this is its mechanism alone, on data that
``scripts/fit_efficiency.py`` does not fit.

Usage: ``python scripts/validate_kernels.py``.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fleetsim import catalog, precision
from fleetsim.layout import ACTIVATION_BYTES
from fleetsim.physics.serving import kernel_time

ROOT = Path(__file__).resolve().parents[1]
KERNELS_CSV = ROOT / "data" / "gemm_kernels.csv"
#: regimes by the ratio of the math time to the stream time at full peak
REGIMES = (("memory-bound", 0.0, 0.3), ("ridge", 0.3, 3.0), ("compute-bound", 3.0, np.inf))
#: compositions tried: the exponent p of the p-norm of the stream and math times
EXPONENTS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 8.0)
#: grids of the fitted fractions of peak and per-kernel latency [1], [1], [s]
COMPUTE_GRID = np.linspace(0.30, 1.0, 71)
BANDWIDTH_GRID = np.linspace(0.40, 1.0, 61)
LATENCY_GRID = np.arange(0.0, 31e-6, 1e-6)


def load(path: Path = KERNELS_CSV) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Return the measured GEMMs by (accelerator, format): arrays ``m, n, k, t`` [1, 1, 1, s]."""
    groups: dict[tuple[str, str], list[list[float]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            groups.setdefault((row["hardware_id"], row["dtype"]), []).append(
                [float(row[c]) for c in ("m", "n", "k", "latency_s")]
            )
    return {
        key: dict(zip(("m", "n", "k", "t"), np.array(values).T, strict=True))
        for key, values in groups.items()
    }


def stream_and_math(dtype: str, g: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return each GEMM's bytes moved and FLOPs [B], [FLOP].

    Bytes: the ``n x k`` weight at its format, the ``m x k`` input at the same format (FP8 GEMMs
    read quantised activations) and the ``m x n`` output at :data:`ACTIVATION_BYTES`; FLOPs
    ``2 m n k``.
    """
    b_w = precision.BYTES_PER_ELEMENT[precision.DTYPES.index(dtype)]
    moved = g["n"] * g["k"] * b_w + g["m"] * g["k"] * b_w + g["m"] * g["n"] * ACTIVATION_BYTES
    return moved, 2.0 * g["m"] * g["n"] * g["k"]


def _hardware(table, hardware_id: str, dtype: str) -> dict[str, float]:
    row = table.values[table.ids.index(hardware_id)]
    col = table.columns.index
    return {
        "peak": float(row[col(precision.COMPUTE_COLUMN[precision.DTYPES.index(dtype)])]),
        "bandwidth": float(row[col("hbm_bandwidth")]),
        "eta_c": float(row[col("compute_efficiency")]),
        "eta_m": float(row[col("bandwidth_efficiency")]),
    }


def fit_composition(
    stream: np.ndarray, math_: np.ndarray, measured: np.ndarray, p: float
) -> tuple[float, float, float, np.ndarray]:
    """Fit ``eta_c, eta_m, t0`` of the p-norm composition by grid search on the |log error|.

    Parameters
    ----------
    stream, math_ : ndarray
        Stream and math times at full peak bandwidth and FLOP/s. [s]
    measured : ndarray
        Measured latencies. [s]
    p : float
        Exponent of the composition. [1]

    Returns
    -------
    tuple
        ``eta_c, eta_m, t0`` minimising the median |log error|, and the log errors there.
    """
    a = math_[None, :] / COMPUTE_GRID[:, None]  # (c, rows)
    b = stream[None, :] / BANDWIDTH_GRID[:, None]  # (m, rows)
    core = (a[:, None, :] ** p + b[None, :, :] ** p) ** (1.0 / p)  # (c, m, rows)
    best = (np.inf, 0.0, 0.0, 0.0)
    for t0 in LATENCY_GRID:
        err = np.log((core + t0) / measured)
        loss = np.median(np.abs(err), axis=-1)
        i, j = np.unravel_index(np.argmin(loss), loss.shape)
        if loss[i, j] < best[0]:
            best = (loss[i, j], COMPUTE_GRID[i], BANDWIDTH_GRID[j], t0)
    _, eta_c, eta_m, t0 = best
    pred = t0 + ((math_ / eta_c) ** p + (stream / eta_m) ** p) ** (1.0 / p)
    return eta_c, eta_m, t0, np.log(pred / measured)


def _by_regime(ratio: np.ndarray, err: np.ndarray) -> str:
    cells = []
    for _, lo, hi in REGIMES:
        s = (ratio >= lo) & (ratio < hi)
        cells.append(f"{100 * np.median(err[s]):+6.1f} {100 * np.median(np.abs(err[s])):5.1f}")
    return "   ".join(cells)


def run(out=sys.stdout) -> dict[tuple[str, str], dict]:
    """Print the tables; return per (accelerator, format) fleetsim's and each composition's errors."""
    table = catalog.load().tables["hardware"]
    result: dict[tuple[str, str], dict] = {}
    print(
        f"fleetsim's kernel time vs measured GEMMs ({KERNELS_CSV.relative_to(ROOT)}: "
        "TensorRT-LLM 1.3.0rc20 kernels collected by aiconfigurator)",
        file=out,
    )
    head = "   ".join(f"{name:>12s}" for name, *_ in REGIMES)
    print(
        f"  signed and |error| % per regime (math / stream time at peak: < 0.3, 0.3-3, > 3)\n"
        f"  {'accelerator':10s} {'format':6s} {'rows':>4s} {'composition':28s} {head}",
        file=out,
    )
    for (hardware_id, dtype), g in sorted(load().items()):
        hw = _hardware(table, hardware_id, dtype)
        moved, flops = stream_and_math(dtype, g)
        stream, math_ = moved / hw["bandwidth"], flops / hw["peak"]
        ratio = math_ / stream
        fleet = np.log(
            np.array(
                [
                    kernel_time(b, f, hw["peak"], hw["bandwidth"], hw["eta_c"], hw["eta_m"])
                    for b, f in zip(moved, flops, strict=True)
                ]
            )
            / g["t"]
        )
        label = f"fleetsim (eta {hw['eta_c']:.2f}/{hw['eta_m']:.2f}, no t0)"
        print(
            f"  {hardware_id:10s} {dtype:6s} {len(ratio):4d} {label:28s} {_by_regime(ratio, fleet)}",
            file=out,
        )
        fits = {}
        for p in EXPONENTS:
            eta_c, eta_m, t0, err = fit_composition(stream, math_, g["t"], p)
            fits[p] = {"eta": (eta_c, eta_m, t0), "median": float(np.median(np.abs(err)))}
            label = f"p={p:g} fitted {eta_c:.2f}/{eta_m:.2f} {1e6 * t0:2.0f}us"
            print(
                f"  {'':10s} {'':6s} {'':4s} {label:28s} {_by_regime(ratio, err)}"
                f"   all {100 * fits[p]['median']:4.1f}",
                file=out,
            )
        best = min(fits, key=lambda q: fits[q]["median"])
        result[(hardware_id, dtype)] = {"fleetsim": fleet, "fits": fits, "best": best}
    bests = [r["best"] for r in result.values()]
    print(
        f"  best composition per accelerator and format: p = "
        f"{', '.join(f'{b:g}' for b in bests)} (fleetsim's step model uses p = 1)",
        file=out,
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
