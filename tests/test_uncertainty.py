"""Monte Carlo sampling: draws reproduce bit for bit, respect bounds and distributions, set the
kernel's parameters exactly, survive sharding, and bad distributions give one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fleetsim
from fleetsim import analysis, api, config, io
from fleetsim.errors import ConfigError
from fleetsim.uncertainty import Distribution

BASE = ["finance.years=3", "model=[test-dense,test-moe]", "hardware=test-gpu"]
PRICE = "uncertainty.finance.electricity_usd_per_kwh"
UNCERTAIN = [
    f"{PRICE}={{dist:uniform,low:0.05,high:0.12}}",
    "uncertainty.workload.growth_per_year={dist:normal,mean:0.5,sd:0.4}",
    "uncertainty.workload.output_tokens={dist:triangular,low:64,mode:256,high:1024}",
    "uncertainty.finance.price_decline_per_year={dist:lognormal,median:0.1,sigma:0.5}",
]


def _field(key):
    return config.FIELD_BY_KEY[key]


# --------------------------------------------------------------------------- draws
@pytest.mark.parametrize(
    ("key", "dist", "params", "mean"),
    [
        ("finance.electricity_usd_per_kwh", "uniform", (0.05, 0.12), 0.085),
        ("workload.peak_to_mean", "triangular", (1.0, 2.0, 4.0), 7.0 / 3.0),
        ("workload.growth_per_year", "normal", (0.5, 0.1), 0.5),
        ("finance.electricity_usd_per_kwh", "lognormal", (0.08, 0.25), 0.08 * np.exp(0.25**2 / 2)),
    ],
)
def test_draws_follow_the_distribution(key, dist, params, mean):
    draws = Distribution(key, dist, params).draw(_field(key), 20_000, seed=3)
    assert abs(draws.mean() - mean) < 0.02 * mean
    if dist in ("uniform", "triangular"):
        assert draws.min() >= params[0]
        assert draws.max() <= params[-1]
    again = Distribution(key, dist, params).draw(_field(key), 20_000, seed=3)
    assert draws.tobytes() == again.tobytes()
    other = Distribution(key, dist, params).draw(_field(key), 20_000, seed=4)
    assert not np.array_equal(draws, other)


def test_tails_are_redrawn_inside_the_field_bounds_and_integers_rounded():
    spec = _field("finance.price_decline_per_year")  # [0, 0.99]
    draws = Distribution(spec.key, "normal", (0.02, 0.05)).draw(spec, 5000, seed=0)
    assert draws.min() >= 0.0
    assert draws.max() <= 0.99
    spec = _field("workload.output_tokens")
    draws = Distribution(spec.key, "normal", (3.0, 5.0)).draw(spec, 5000, seed=0)
    assert draws.min() >= 1
    np.testing.assert_array_equal(draws, np.rint(draws))
    spec = _field("workload.ttft_slo_s")  # (0, 1e6]: 0 itself is excluded
    draws = Distribution(spec.key, "normal", (0.01, 0.5)).draw(spec, 5000, seed=0)
    assert draws.min() > 0


def test_a_distribution_almost_outside_the_bounds_is_an_error():
    spec = _field("finance.price_decline_per_year")
    with pytest.raises(ConfigError, match="uncertainty.finance.price_decline_per_year"):
        Distribution(spec.key, "normal", (-50.0, 1.0)).draw(spec, 10, seed=0)


def test_draws_of_one_field_do_not_depend_on_the_others(tiny_catalog_env):
    one = fleetsim.run([*BASE, UNCERTAIN[0], "sweep.samples=40"])
    two = fleetsim.run([*BASE, *UNCERTAIN, "sweep.samples=40"])
    np.testing.assert_array_equal(one["electricity_usd_per_kwh"], two["electricity_usd_per_kwh"])


# --------------------------------------------------------------------------- sweeps
def test_sample_dimension_and_reproducibility(tiny_catalog_env):
    overrides = [*BASE, *UNCERTAIN, "sweep.samples=30", "sweep.seed=11"]
    ds = fleetsim.run(overrides)
    assert ds["tco_usd"].dims == ("model", "hardware", "sample", "year")
    assert ds["sample"].values.tolist() == list(range(30))
    price = ds["electricity_usd_per_kwh"]
    assert price.dims == ("sample",)
    assert price.attrs["distribution"] == "uniform(low=0.05, high=0.12)"
    assert (price.attrs["units"], price.attrs["currency"]) == ("kW-1 h-1", "USD")
    assert ds["output_tokens"].dtype == np.int64
    again = fleetsim.run(overrides)
    for name in ds.variables:
        assert ds[name].values.tobytes() == again[name].values.tobytes(), name
    other = fleetsim.run([*BASE, *UNCERTAIN, "sweep.samples=30", "sweep.seed=12"])
    assert not np.array_equal(other["tco_usd"].values, ds["tco_usd"].values, equal_nan=True)


def test_each_sample_is_the_deterministic_run_at_its_draws(tiny_catalog_env):
    ds = fleetsim.run([*BASE, *UNCERTAIN, "sweep.samples=6", "sweep.seed=5"])
    for i in (0, 5):
        point = ds.isel(sample=i)
        fixed = fleetsim.run(
            [
                *BASE,
                f"finance.electricity_usd_per_kwh={float(point['electricity_usd_per_kwh'])!r}",
                f"workload.growth_per_year={float(point['growth_per_year'])!r}",
                f"workload.output_tokens={int(point['output_tokens'])}",
                f"finance.price_decline_per_year={float(point['price_decline_per_year'])!r}",
            ]
        )
        for name in ("tco_usd", "tpot_s", "accelerators", "status"):
            np.testing.assert_array_equal(point[name].values, fixed[name].values, err_msg=name)


def test_quantiles_over_samples_are_ordered(tiny_catalog_env):
    ds = fleetsim.run([*BASE, *UNCERTAIN, "sweep.samples=200"])
    q = analysis.quantiles(ds[["tco_usd"]])
    tco = q["tco_usd"].isel(year=-1)
    assert list(q["percentile"].values) == ["P10", "P50", "P90"]
    assert (tco.isel(quantile=0) <= tco.isel(quantile=1)).all()
    assert (tco.isel(quantile=1) <= tco.isel(quantile=2)).all()
    assert (tco.isel(quantile=0) < tco.isel(quantile=2)).all()


def test_shards_along_samples_merge_into_the_unsharded_run(tiny_catalog_env, tmp_path):
    overrides = [*BASE, *UNCERTAIN, "sweep.samples=9", "sweep.seed=2", "output.float32=false"]
    full = fleetsim.run(overrides)
    for index in range(3):
        api.write_config(
            api.compose(
                [*overrides, "sweep.shards=3", f"sweep.shard={index}", f"output.path={tmp_path}"]
            )  # fmt: skip
        )
    merged = fleetsim.open_dataset(tmp_path / "*.nc").load()
    assert merged.attrs["sweep_shard_dimension"] == "sample"
    xr.testing.assert_identical(merged.drop_attrs(deep=False), full.drop_attrs(deep=False))


def test_samples_stream_to_netcdf(tiny_catalog_env, tmp_path):
    overrides = [*BASE, *UNCERTAIN, "sweep.samples=8"]
    api.write_config(api.compose([*overrides, f"output.path={tmp_path / 's.nc'}"]))
    io.write(fleetsim.run([*overrides, f"output.path={tmp_path / 's.nc'}"]), tmp_path / "m.nc")
    streamed, memory = xr.open_dataset(tmp_path / "s.nc"), xr.open_dataset(tmp_path / "m.nc")
    xr.testing.assert_identical(streamed.drop_attrs(deep=False), memory.drop_attrs(deep=False))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ([f"{PRICE}={{dist:beta,low:0,high:1}}"], f"{PRICE}.dist='beta'.*uniform, normal"),
        ([f"{PRICE}={{dist:uniform,low:0.1}}"], f"{PRICE}.high=None"),
        (
            [f"{PRICE}={{dist:uniform,low:0.1,high:0.2,sd:1}}"],
            f"{PRICE}.sd=1.*uniform takes low, high",
        ),
        ([f"{PRICE}={{dist:uniform,low:0.2,high:0.1}}"], f"{PRICE}.high=0.1.*above low=0.2"),
        ([f"{PRICE}={{dist:uniform,low:-1,high:0.1}}"], f"{PRICE}.low=-1.*range \\[0, 100\\]"),
        ([f"{PRICE}={{dist:normal,mean:0.1,sd:0}}"], f"{PRICE}.sd=0.*above 0"),
        ([f"{PRICE}={{dist:lognormal,median:0,sigma:1}}"], f"{PRICE}.median=0"),
        ([f"{PRICE}={{dist:triangular,low:0,mode:2,high:1}}"], f"{PRICE}.mode=2"),
        ([f"{PRICE}={{dist:uniform,low:a,high:1}}"], f"{PRICE}.low='a'.*finite number"),
        ([f"{PRICE}=0.1"], f"{PRICE}=0.1.*null or a distribution"),
        (
            [
                f"{PRICE}={{dist:uniform,low:0.05,high:0.1}}",
                "finance.electricity_usd_per_kwh=[0.05,0.1]",
            ],
            f"{PRICE}=.*swept or uncertain",
        ),
        (["sweep.samples=10"], "sweep.samples=10.*0 unless some uncertainty"),
        (["sweep.samples=-1"], "sweep.samples=-1"),
        (["uncertainty.model={dist:uniform,low:0,high:1}"], "uncertainty.model"),
    ],
)
def test_bad_uncertainty_is_a_one_line_error(tiny_catalog_env, overrides, fragment):
    with pytest.raises(fleetsim.InputError, match=fragment) as info:
        fleetsim.run(
            [*BASE, *overrides, "sweep.samples=5"]
            if "samples" not in str(overrides)
            else [*BASE, *overrides]
        )
    assert "\n" not in str(info.value)


def test_samples_zero_runs_at_the_configured_values(tiny_catalog_env):
    plain = fleetsim.run(BASE)
    ignored = fleetsim.run([*BASE, *UNCERTAIN, "sweep.samples=0"])
    assert "sample" not in ignored.dims
    xr.testing.assert_identical(plain["tco_usd"], ignored["tco_usd"])
