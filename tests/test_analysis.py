"""Known-answer tests of fleetsim.analysis on the hand-made Dataset in tests/synthetic.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

import fleetsim.analysis as an
from tests.synthetic import add_samples, make_dataset

COST = "cost_per_million_output_tokens_usd"
NAN = np.nan


@pytest.fixture
def ds() -> xr.Dataset:
    return make_dataset()


def _values(da: xr.DataArray) -> list:
    return np.asarray(da.values).ravel().tolist()


def test_tco_components_come_from_the_registry(ds):
    names = an.tco_components(ds)
    registry = yaml.safe_load(
        (Path(an.__file__).parents[1] / "variables.yaml").read_text(encoding="utf-8")
    )
    assert names == [
        "hardware_capex_usd",
        "network_capex_usd",
        "facility_capex_usd",
        "energy_cost_usd",
        "facility_cost_usd",
        "maintenance_cost_usd",
        "staff_cost_usd",
        "software_cost_usd",
    ]
    assert all(registry[name]["tco_component"] for name in names)
    with pytest.raises(KeyError, match="tco_component"):
        an.tco_components(ds[["tco_usd"]])


def test_cheapest_hardware_in_last_year(ds):
    best = an.cheapest(ds)
    assert best["tco_usd"].dims == ("model", "electricity_usd_per_kwh")
    assert _values(best["tco_usd"]) == [3000.0, 3500.0, 4000.0]
    assert _values(best["best_hardware"]) == ["a", "b", "b"]
    assert int(best["year"]) == 5
    assert best["tco_usd"].attrs["units"] == "1"
    assert best["tco_usd"].attrs["currency"] == "USD"


def test_cheapest_hardware_in_year_one(ds):
    best = an.cheapest(ds, year=1)
    assert _values(best["tco_usd"]) == [1400.0, 1600.0, 2000.0]
    assert _values(best["best_hardware"]) == ["a", "a", "a"]


def test_cheapest_over_two_dims(ds):
    best = an.cheapest(ds, over=("hardware", "electricity_usd_per_kwh"))
    assert _values(best["tco_usd"]) == [3000.0]
    assert _values(best["best_hardware"]) == ["a"]
    assert _values(best["best_electricity_usd_per_kwh"]) == [0.05]


def test_cheapest_of_a_non_year_variable(ds):
    best = an.cheapest(ds, var="ttft_s")
    assert "year" not in best.coords
    assert _values(best["ttft_s"]) == [0.2, 0.2, 0.2]
    assert _values(best["best_hardware"]) == ["b", "b", "b"]


def test_cheapest_skips_infeasible_and_marks_empty_slices(ds):
    ds["tco_usd"] = ds["tco_usd"].where(ds["electricity_usd_per_kwh"] != 0.2)
    best = an.cheapest(ds)
    assert _values(best["tco_usd"])[:2] == [3000.0, 3500.0]
    assert np.isnan(_values(best["tco_usd"])[2])
    assert _values(best["best_hardware"]) == ["a", "b", ""]


def test_cheapest_numeric_label_is_nan_when_all_infeasible(ds):
    best = an.cheapest(ds, over=("electricity_usd_per_kwh",))
    labels = best["best_electricity_usd_per_kwh"].sel(model="m")
    assert _values(labels)[:2] == [0.05, 0.05]
    assert np.isnan(_values(labels)[2])


def test_cheapest_rejects_unknown_dimension(ds):
    with pytest.raises(ValueError, match="cooling"):
        an.cheapest(ds, over=("cooling",))


def test_cheapest_works_on_dask_arrays(ds):
    best = an.cheapest(ds.chunk({"hardware": 1}))
    assert _values(best["best_hardware"]) == ["a", "b", "b"]


def test_cheapest_scenario(ds):
    assert an.cheapest_scenario(ds) == {
        "hardware": "a",
        "model": "m",
        "electricity_usd_per_kwh": 0.05,
    }
    assert an.cheapest_scenario(ds, year=1)["hardware"] == "a"
    with pytest.raises(ValueError, match="no feasible scenario"):
        an.cheapest_scenario(ds.sel(hardware=["c"]))


def test_tco_breakdown_of_one_scenario(ds):
    parts = an.tco_breakdown(ds, hardware="a", model="m", electricity_usd_per_kwh=0.1)
    assert list(parts.data_vars)[:7] == [
        "hardware_capex_usd",
        "network_capex_usd",
        "facility_capex_usd",
        "energy_cost_usd",
        "facility_cost_usd",
        "maintenance_cost_usd",
        "staff_cost_usd",
    ]
    assert parts["hardware_capex_usd"].dims == ("year",)
    assert _values(parts["hardware_capex_usd"]) == [1000.0, 0.0, 0.0, 0.0, 0.0]
    assert _values(parts["energy_cost_usd"]) == [400.0] * 5
    assert _values(parts["facility_cost_usd"]) == [100.0] * 5


def test_tco_closure_holds_on_the_synthetic_dataset(ds):
    an.check_tco_closure(ds)
    residual = an.tco_residual(ds)
    assert float(np.abs(residual.sel(hardware=["a", "b"])).max()) == 0.0
    assert bool(residual.sel(hardware="c").isnull().all())
    assert (residual.attrs["units"], residual.attrs["currency"]) == ("1", "USD")


def test_tco_closure_detects_a_missing_cost(ds):
    ds["hardware_capex_usd"] = ds["hardware_capex_usd"].where(ds["year"] != 3, 10.0)
    with pytest.raises(ValueError, match="do not add up"):
        an.check_tco_closure(ds)
    with pytest.raises(ValueError, match="do not add up"):
        an.tco_breakdown(ds, hardware="a")
    assert "hardware_capex_usd" in an.tco_breakdown(ds, check=False, hardware="a")


def test_tco_closure_detects_one_sided_nan(ds):
    ds["staff_cost_usd"] = ds["staff_cost_usd"].where(ds["hardware"] != "a")
    with pytest.raises(ValueError, match="NaN on one side"):
        an.check_tco_closure(ds)


def test_tco_closure_without_year_one(ds):
    an.check_tco_closure(ds.sel(year=[3, 4, 5]))
    assert an.tco_residual(ds.sel(year=[3, 4, 5]))["year"].values.tolist() == [4, 5]


def test_tco_closure_survives_float32_storage(ds, tmp_path):
    money = list(an.tco_components(ds)) + ["tco_usd"]
    scaled = ds.assign({name: ds[name] * 1234.5678901 for name in money})
    path = tmp_path / "float32.nc"
    encoding = {name: {"dtype": "float32"} for name in scaled.data_vars if name != "status"}
    scaled.to_netcdf(path, engine="netcdf4", encoding=encoding)
    with xr.open_dataset(path) as stored:
        assert stored["tco_usd"].dtype == np.float32
        an.check_tco_closure(stored)


def test_scenario_table(ds):
    table = an.scenario_table(ds, ["tco_usd", "ttft_s"])
    assert list(table.columns) == [
        "hardware",
        "model",
        "electricity_usd_per_kwh",
        "tco_usd",
        "ttft_s",
    ]
    assert len(table) == 9
    row = table[(table["hardware"] == "b") & (table["electricity_usd_per_kwh"] == 0.2)]
    assert row["tco_usd"].tolist() == [4000.0]


def test_pareto_front(ds):
    front = an.pareto_front(ds)
    assert list(front.columns) == ["hardware", "model", "electricity_usd_per_kwh", COST, "ttft_s"]
    assert front["hardware"].tolist() == ["a", "b"]
    assert front["electricity_usd_per_kwh"].tolist() == [0.05, 0.05]
    assert front[COST].tolist() == pytest.approx([0.6, 0.65])
    assert front["ttft_s"].tolist() == [0.5, 0.2]


def test_pareto_front_drops_weakly_dominated_points(ds):
    ds["ttft_s"] = ds["ttft_s"].where(ds["hardware"] != "b", 0.5)
    front = an.pareto_front(ds)
    assert front["hardware"].tolist() == ["a"]


def test_pareto_front_keeps_identical_points(ds):
    for name in (COST, "ttft_s"):
        ds[name] = ds[name].where(ds["hardware"] != "b", ds[name].sel(hardware="a"))
    front = an.pareto_front(ds)
    assert sorted(front["hardware"].tolist()) == ["a", "b"]
    assert front["electricity_usd_per_kwh"].tolist() == [0.05, 0.05]


def test_sensitivity_with_default_baseline(ds):
    table = an.sensitivity(ds)
    assert table["dim"].tolist() == ["electricity_usd_per_kwh", "hardware"]
    assert table["baseline"].tolist() == [0.1, "b"]
    assert table["low"].tolist() == [0.05, "b"]
    assert table["high"].tolist() == [0.2, "a"]
    assert table["value_at_low"].tolist() == [3250.0, 3500.0]
    assert table["value_at_high"].tolist() == [4000.0, 4000.0]
    assert table["value_at_baseline"].tolist() == [3500.0, 3500.0]
    assert table["swing"].tolist() == [750.0, 500.0]


def test_sensitivity_with_given_baseline_and_year(ds):
    table = an.sensitivity(ds, baseline={"hardware": "a"})
    assert table["dim"].tolist() == ["electricity_usd_per_kwh", "hardware"]
    assert table["value_at_low"].tolist() == [3000.0, 3500.0]
    assert table["value_at_high"].tolist() == [6000.0, 4000.0]
    assert table["swing"].tolist() == [3000.0, 500.0]
    year_one = an.sensitivity(ds, year=1)
    assert year_one["value_at_baseline"].tolist() == [2300.0, 2300.0]
    # year 1: a = 1200 + 4000 * price, b = 2200 + 1000 * price
    assert year_one["dim"].tolist() == ["hardware", "electricity_usd_per_kwh"]
    assert year_one["low"].tolist() == ["a", 0.05]
    assert year_one["value_at_low"].tolist() == [1600.0, 2250.0]
    assert year_one["value_at_high"].tolist() == [2300.0, 2400.0]
    assert year_one["swing"].tolist() == pytest.approx([700.0, 150.0])


def test_sensitivity_rejects_unknown_baseline_dim(ds):
    with pytest.raises(ValueError, match="cooling"):
        an.sensitivity(ds, baseline={"cooling": "air"})


def test_sensitivity_without_swept_dims(ds):
    table = an.sensitivity(ds.sel(hardware=["a"], electricity_usd_per_kwh=[0.1]))
    assert table.empty
    assert "swing" in table.columns


def test_break_even_utilisation_pure_function():
    assert an.break_even_utilisation(8760.0, 2.0) == 0.5
    assert an.break_even_utilisation(8760.0, 2.0, accelerators=2.0) == 0.25
    result = an.break_even_utilisation(np.array([8760.0, 17520.0]), 1.0, hours_per_year=8760.0)
    assert result.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="positive"):
        an.break_even_utilisation(1.0, 0.0)


def test_fleet_break_even_utilisation(ds):
    result = an.fleet_break_even_utilisation(ds, 0.05)
    # b at 0.1 USD/kWh in year 5: depreciation 400 + opex 300 = 700 USD for 4 accelerators
    expected_b = 700.0 / (4 * 8760 * 0.05)
    assert float(result.sel(hardware="b", model="m", electricity_usd_per_kwh=0.1)) == pytest.approx(
        expected_b
    )
    assert bool(result.sel(hardware="c").isnull().all())
    assert result.attrs["units"] == "1"
    per_hardware = an.fleet_break_even_utilisation(ds, {"a": 0.1, "b": 0.05, "c": 1.0})
    # a at 0.05 USD/kWh: depreciation 200 + opex 400 = 600 USD for 8 accelerators at 0.1 USD/h
    got_a = float(per_hardware.sel(hardware="a", model="m", electricity_usd_per_kwh=0.05))
    assert got_a == pytest.approx(600.0 / (8 * 8760 * 0.1))


def test_quantiles_over_samples(ds):
    sampled = add_samples(ds, [0.8, 0.9, 1.0, 1.1, 1.2])
    result = an.quantiles(sampled)
    tco = result["tco_usd"].sel(hardware="a", model="m", electricity_usd_per_kwh=0.1, year=5)
    assert tco.values.tolist() == pytest.approx([3360.0, 4000.0, 4640.0])
    assert result["percentile"].values.tolist() == ["P10", "P50", "P90"]
    assert "status" not in result
    assert bool(result["tco_usd"].sel(hardware="c").isnull().all())
    assert result["tco_usd"].attrs["currency"] == "USD"


def test_quantiles_names_the_missing_dimension(ds):
    with pytest.raises(ValueError, match="'sample'"):
        an.quantiles(ds)


def test_mean_over_samples_keeps_tco_closure(ds):
    sampled = add_samples(ds, [1.0, 2.0])
    mean = an.mean_over_samples(sampled)
    assert (
        float(mean["tco_usd"].sel(hardware="b", model="m", electricity_usd_per_kwh=0.2, year=5))
        == 6000.0
    )
    assert "status" not in mean
    an.check_tco_closure(mean)
    assert an.mean_over_samples(ds) is ds


def test_decode_status(ds):
    labels = an.decode_status(ds)
    assert labels.dims == ds["status"].dims
    assert _values(labels.sel(model="m", electricity_usd_per_kwh=0.1)) == [
        "feasible",
        "feasible",
        "weights_do_not_fit",
    ]
    ds["status"] = ds["status"].where(ds["hardware"] != "a", 42).astype(np.int8)
    assert _values(an.decode_status(ds).sel(hardware="a"))[0] == "unknown"


def _frontier_ds() -> xr.Dataset:
    # two accelerators x four TPOT targets; "a" at 0.1 s is dominated (slower and less throughput
    # than at 0.05 s), "b" at the tightest target is infeasible
    tpot = np.array([[0.02, 0.05, 0.1, 0.2], [np.nan, 0.04, 0.08, 0.16]])
    tokens = np.array([[100.0, 300.0, 250.0, 500.0], [np.nan, 400.0, 700.0, 900.0]])
    dims = ("hardware", "tpot_slo_s")
    coords = {"hardware": ["a", "b"], "tpot_slo_s": [0.02, 0.05, 0.1, 0.2]}
    return xr.Dataset(
        {
            "tpot_s": (dims, tpot, {"units": "s"}),
            "tokens_per_s_per_accelerator": (dims, tokens, {"units": "s-1"}),
            "batch_size": (dims, tokens / 10),
        },
        coords=coords,
    )


def test_interactivity_frontier_keeps_the_undominated_points_per_accelerator():
    front = an.interactivity_frontier(_frontier_ds())
    a, b = front[front.hardware == "a"], front[front.hardware == "b"]
    # per user 1 / TPOT: a at 5, 20, 50 tokens/s (10 tokens/s at 250 is beaten by 20 at 300)
    assert a["tokens_per_s_per_user"].tolist() == pytest.approx([5.0, 20.0, 50.0])
    assert a["tokens_per_s_per_accelerator"].tolist() == [500.0, 300.0, 100.0]
    assert b["tokens_per_s_per_user"].tolist() == pytest.approx([6.25, 12.5, 25.0])
    assert b["batch_size"].tolist() == [90.0, 70.0, 40.0]
    # one curve over everything without a grouping dimension: a at 20 tokens/s per user (300) is
    # beaten by b at 25 (400)
    together = an.interactivity_frontier(_frontier_ds(), by=())
    assert together["tokens_per_s_per_accelerator"].tolist() == [900.0, 700.0, 400.0, 100.0]


def test_interactivity_frontier_plot():
    from fleetsim.analysis import plots

    fig = plots.plot_interactivity_frontier(_frontier_ds())
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert ax.get_xlabel().startswith("tokens per second per user")
