"""Shared pytest fixtures (keep this file small and generic)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fleetsim.catalog

#: the tiny hand-checkable catalog (ids test-gpu/test-small, test-dense/test-moe/test-mla)
TINY_CATALOG = Path(__file__).parent / "data" / "catalog"


@pytest.fixture
def tiny_catalog_env(monkeypatch):
    """Point FLEETSIM_DATA_DIR at tests/data/catalog (and reset the catalog cache around it)."""
    monkeypatch.setenv("FLEETSIM_DATA_DIR", str(TINY_CATALOG))
    fleetsim.catalog.load.cache_clear()
    yield TINY_CATALOG
    fleetsim.catalog.load.cache_clear()


@pytest.fixture
def real_catalog_env(monkeypatch):
    """Make sure the bundled data/ catalog is used, whatever the environment says."""
    monkeypatch.delenv("FLEETSIM_DATA_DIR", raising=False)
    fleetsim.catalog.load.cache_clear()
    yield
    fleetsim.catalog.load.cache_clear()


@pytest.fixture(autouse=True)
def _no_catalog_cache_leak():
    """Forget the cached catalog after every test, so a test that pointed FLEETSIM_DATA_DIR
    elsewhere cannot leak its catalog into the next test (a reload takes ~20 ms)."""
    yield
    fleetsim.catalog.load.cache_clear()


@pytest.fixture
def float64_runs(monkeypatch):
    """Make ``fleetsim.run`` keep float64 outputs (``output.float32=false``) unless a test says
    otherwise: hand-computed physics is checked at float64's precision, not float32's."""
    import fleetsim
    from fleetsim import api

    real = api.run

    def run(overrides=None):
        overrides = list(overrides or [])
        if not any(str(o).startswith("output.float32=") for o in overrides):
            overrides.append("output.float32=false")
        return real(overrides)

    monkeypatch.setattr(fleetsim, "run", run)
    monkeypatch.setattr(api, "run", run)
