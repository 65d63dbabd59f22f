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
