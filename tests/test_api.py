"""fleetsim.run takes overrides as a list, as one string, or as Python keyword fields."""

from __future__ import annotations

import sys
import time

import pytest
import xarray as xr

import fleetsim
from fleetsim import api

BASE = ["model=test-dense", "finance.years=2"]


def test_keyword_fields_become_overrides():
    items = api.as_overrides(
        "model=m finance.years=3",
        hardware=["h100-sxm", "b200"],
        workload={"requests_per_day": 5e7, "ttft_slo_s": None},
        output={"float32": False},
        facility="liquid",
    )
    assert items == [
        "model=m",
        "finance.years=3",
        "hardware=[h100-sxm,b200]",
        "workload.requests_per_day=50000000.0",
        "workload.ttft_slo_s=null",
        "output.float32=false",
        "facility=liquid",
    ]


def test_a_list_a_string_and_keywords_run_the_same_sweep(tiny_catalog_env):
    listed = fleetsim.run(
        [*BASE, "hardware=[test-gpu,test-small]", "workload.requests_per_day=2e6"]
    )
    spoken = fleetsim.run(
        " ".join([*BASE, "hardware=[test-gpu,test-small]"]) + " workload.requests_per_day=2e6"
    )
    keywords = fleetsim.run(
        model="test-dense",
        hardware=["test-gpu", "test-small"],
        finance={"years": 2},
        workload={"requests_per_day": 2e6},
    )
    for other in (spoken, keywords):
        xr.testing.assert_identical(
            other.drop_attrs(deep=False)["tco_usd"], listed.drop_attrs(deep=False)["tco_usd"]
        )
    assert list(keywords["hardware"].values) == ["test-gpu", "test-small"]


def test_a_bad_keyword_is_one_input_error(tiny_catalog_env):
    with pytest.raises(fleetsim.InputError, match="workload.requests_per_dai"):
        fleetsim.run(BASE, workload={"requests_per_dai": 1.0})


def test_a_sweep_shows_its_progress_once_it_has_run_two_seconds(tiny_catalog_env, monkeypatch):
    """No size threshold: the bar appears (on stderr) only for a sweep that runs past the delay."""
    import io as text_io

    from fleetsim import sweep

    real = sweep.run
    clock = {"slow": False}

    def run(*args, **kwargs):
        if clock["slow"]:
            time.sleep(api.PROGRESS_DELAY_S + 0.2)  # as if the first chunk took that long
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep, "run", run)
    cfg = api.compose(["model=test-dense", "hardware=test-gpu", "finance.years=1",
                       "workload.requests_per_day=[1e6,2e6]"])  # fmt: skip
    for slow in (False, True):
        clock["slow"] = slow
        err = text_io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        api.run_config(cfg, progress=True)
        assert ("2.00/2.00" in err.getvalue()) is slow, err.getvalue()
