"""fleetsim.run takes overrides as a list, as one string, or as Python keyword fields."""

from __future__ import annotations

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
