"""The output variable registry (``fleetsim/variables.yaml``): names, units, long names, flags."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fleetsim import yamlio


@cache
def registry() -> dict[str, dict]:
    """Return variable name -> entry (units, long_name, description, per_year, dtype, flags)."""
    path = Path(__file__).with_name("variables.yaml")
    return yamlio.safe_load(path.read_text(encoding="utf-8"))
