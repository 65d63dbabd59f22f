"""Hardware mixes: pools sized on their own physics, summed; ratios re-weighted."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fleetsim
from fleetsim import analysis, hardware_mix

#: mixes are compared with single-hardware runs at float64 precision
pytestmark = pytest.mark.usefixtures("float64_runs")

BASE = [
    "finance.years=4",
    "workload.requests_per_day=2e7",
    "finance.rental_usd_per_accelerator_hour=2.5",
]
ADDITIVE = ("accelerators", "servers", "racks", "it_power_w", "facility_power_w", "carbon_kg",
            "generated_tokens", "capex_usd", "opex_usd", "energy_cost_usd", "tco_usd", "npv_usd",
            "rent_cost_usd", "rent_tco_usd")  # fmt: skip


def _year_series(ds, name):
    return ds[name].squeeze(drop=True).values


def test_share_grid():
    grid = hardware_mix.share_grid(2, 0.25)
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert len(grid) == 5  # 0/1, 0.25/0.75, ..., 1/0
    assert len(hardware_mix.share_grid(3, 0.5)) == 6  # compositions of 2 into 3 parts


@pytest.mark.parametrize(("pools", "step"), [(2, 0.25), (3, 0.5), (3, 0.1), (4, 0.2), (6, 0.5)])
def test_share_grid_is_every_composition_in_order_and_its_size_is_counted(pools, step):
    parts = round(1 / step)
    expected = [c for c in itertools.product(range(parts + 1), repeat=pools) if sum(c) == parts]
    grid = hardware_mix.share_grid(pools, step)
    np.testing.assert_array_equal(grid, np.array(expected) / parts)
    assert hardware_mix.grid_size(pools, parts) == len(expected)


@pytest.mark.parametrize(
    ("candidates", "step", "size"),
    [(2, 1e-300, "1e\\+300 mixes"), (3, 0.001, "501,501 mixes"), (6, 0.01, "96,560,646 mixes"),
     (2, 1e-6, "1,000,001 mixes"), (2, 5e-324, "1/step whole")],
)  # fmt: skip
def test_a_giant_mix_grid_is_refused_before_it_is_enumerated(candidates, step, size):
    ids = ["h100-sxm", "b200", "mi300x", "h200", "l4", "gaudi3"][:candidates]
    with pytest.raises(fleetsim.InputError, match=f"mix.share_step={step!r}.*{size}"):
        fleetsim.run(
            ["finance.years=1", f"mix.candidates=[{','.join(ids)}]", f"mix.share_step={step}"]
        )


def test_a_pure_mix_equals_the_plain_hardware_run():
    mixed = fleetsim.run([*BASE, "mix.candidates=[h100-sxm,mi300x]", "mix.shares=[[1,0]]"])
    plain = fleetsim.run([*BASE, "hardware=h100-sxm"])
    assert mixed["mix"].values.tolist() == ["h100-sxm:1"]
    for name in plain.data_vars:
        np.testing.assert_allclose(
            mixed[name].values.ravel(), plain[name].values.ravel(), rtol=1e-12, err_msg=name
        )


def test_a_mix_is_the_sum_of_its_pools_at_their_share_of_demand():
    mixed = fleetsim.run([*BASE, "mix.candidates=[h100-sxm,mi300x]", "mix.shares=[[0.25,0.75]]"])
    a = fleetsim.run([*BASE, "hardware=h100-sxm", "workload.requests_per_day=5e6"])
    b = fleetsim.run([*BASE, "hardware=mi300x", "workload.requests_per_day=1.5e7"])
    for name in ADDITIVE:
        np.testing.assert_allclose(
            _year_series(mixed, name),
            _year_series(a, name) + _year_series(b, name),
            rtol=1e-12,
            err_msg=name,
        )
    # utilisation is weighted by accelerators, cost per token by generated tokens (by hand)
    acc_a, acc_b = _year_series(a, "accelerators"), _year_series(b, "accelerators")
    util = (_year_series(a, "utilisation") * acc_a + _year_series(b, "utilisation") * acc_b) / (
        acc_a + acc_b
    )
    np.testing.assert_allclose(_year_series(mixed, "utilisation"), util, rtol=1e-12)
    tok_a, tok_b = _year_series(a, "generated_tokens"), _year_series(b, "generated_tokens")
    name = "cost_per_million_output_tokens_usd"
    cpm = (_year_series(a, name) * tok_a + _year_series(b, name) * tok_b) / (tok_a + tok_b)
    np.testing.assert_allclose(_year_series(mixed, name), cpm, rtol=1e-12)
    # latency targets hold for every request: the mix reports its worst pool
    assert float(mixed["tpot_s"].squeeze()) == max(
        float(a["tpot_s"].squeeze()), float(b["tpot_s"].squeeze())
    )


def test_cheapest_mix_search_includes_the_pure_pools():
    ds = fleetsim.run([*BASE, "mix.candidates=[h100-sxm,mi300x,b200]", "mix.share_step=0.5"])
    assert ds.sizes["mix"] == 6
    best = analysis.cheapest(ds, "tco_usd", over=("mix",))
    tco = ds["tco_usd"].isel(year=-1).squeeze(drop=True)
    assert float(best["tco_usd"].squeeze()) == float(tco.min())
    assert str(best["best_mix"].values.squeeze()) == str(tco.idxmin("mix").values)


def test_a_mix_can_be_sharded():
    full = fleetsim.run([*BASE, "mix.candidates=[h100-sxm,mi300x]"])
    parts = [
        fleetsim.run(
            [*BASE, "mix.candidates=[h100-sxm,mi300x]", "sweep.shards=2", f"sweep.shard={i}"]
        )
        for i in range(2)
    ]
    np.testing.assert_array_equal(
        np.concatenate(
            [p["tco_usd"].values for p in parts], axis=parts[0]["tco_usd"].dims.index("mix")
        ),
        full["tco_usd"].values,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["mix.candidates=[h100-sxm]"], "mix.candidates.*2 to 6 different hardware ids"),
        (["mix.candidates=[h100-sxm,h100-sxm]"], "mix.candidates.*different"),
        (["mix.candidates=[h100-sxm,h100x]"], "mix.candidates='h100x'"),
        (
            ["mix.candidates=[h100-sxm,b200]", "mix.share_step=0.3"],
            "mix.share_step=0.3.*1/step whole",
        ),
        (["mix.candidates=[h100-sxm,b200]", "mix.shares=[[0.5,0.4]]"], "mix.shares.*summing to 1"),
        (["mix.candidates=[h100-sxm,b200]", "mix.shares=[[1]]"], "mix.shares.*length 2"),
        (["mix.shares=[[1,0]]"], "mix.shares.*null unless mix.candidates"),
        (
            ["mix.candidates=[h100-sxm,b200]", "hardware=[h100-sxm,b200]"],
            "hardware.*mix replaces it",
        ),
    ],
)
def test_bad_mix_config_names_the_field(overrides, message):
    with pytest.raises(fleetsim.InputError, match=message):
        fleetsim.run(["finance.years=2", *overrides])
