"""Plumbing shared by the worked examples: command line, figures and PNG files.

Every example runs as ``python scripts/examples/NAME.py [--out DIR] [--quick] [OVERRIDE ...]``: it
simulates with :func:`fleetsim.run` (the command line's fleetsim overrides, such as
``finance.electricity_usd_per_kwh=0.12``, come after the example's own, so they win), draws with matplotlib (no pyplot, Agg canvas) in the style of
:mod:`fleetsim.analysis.plots`, writes PNG files to ``DIR`` (default ``results/figures``, untracked; ``--out docs/figures``
regenerates the README's figures) and prints its answer in a few lines. ``--quick`` runs a reduced sweep (used by the tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "results" / "figures"
#: PNG resolution [dots per inch] and the size a README figure must stay under [B]
DPI = 100
MAX_PNG_BYTES = 200_000


def parse_args(description: str) -> argparse.Namespace:
    """Return ``--out`` (folder for the PNG files), ``--quick`` (reduced sweep) and ``overrides``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"folder for the figures ({DEFAULT_OUT})"
    )
    parser.add_argument("--quick", action="store_true", help="reduced sweep (for tests)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="fleetsim config overrides as the CLI takes them, applied after the example's own",
    )
    return parser.parse_args()


def figure(width: float, height: float) -> Figure:
    """Return an empty constrained-layout Figure on an Agg canvas [in]."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out: Path, name: str) -> Path:
    """Write ``fig`` to ``out/name.png`` and return the path; warn if it is too big for a README."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=DPI)
    if path.stat().st_size > MAX_PNG_BYTES:
        print(f"warning: {path} is {path.stat().st_size} B (> {MAX_PNG_BYTES})", file=sys.stderr)
    return path


def usd(value: float) -> str:
    """Return a dollar amount as ``$6.52M``, ``$380k`` or ``$0.153``."""
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"${value / factor:.3g}{suffix}"
    return f"${value:.3g}"


class Timer:
    """Print ``figure: PATH`` lines and the wall time at the end of an example."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def done(self, *paths: Path) -> None:
        """Print the written figures and the elapsed time."""
        for path in paths:
            shown = path.resolve()
            if shown.is_relative_to(Path.cwd()):
                shown = shown.relative_to(Path.cwd())
            print(f"figure: {shown}")
        print(f"({time.perf_counter() - self.start:.1f} s)")
