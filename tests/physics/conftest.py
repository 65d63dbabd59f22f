"""Hand-computed checks compare float64 outputs (see the float64_runs fixture)."""

import pytest


@pytest.fixture(autouse=True)
def _float64(float64_runs):
    """Every test here sees float64 outputs from fleetsim.run."""
