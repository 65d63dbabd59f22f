"""The decision table and the CLI summary on the hand-made Dataset in tests/synthetic.py.

Hand values (tests/synthetic.py): TCO after 5 years = capex + 5 x (kWh/year x price + 200 USD):
hardware a: 1000 + 5 x (4000 p + 200) = 3000, 4000, 6000 USD at p = 0.05, 0.1, 0.2 USD/kWh;
hardware b: 2000 + 5 x (1000 p + 200) = 3250, 3500, 4000 USD; hardware c is infeasible
(weights_do_not_fit). The cheapest *scenario* is a at 0.05 USD/kWh, but electricity is a
condition, not a choice: b is cheaper at the median price and in the worst case.
"""

from __future__ import annotations

import numpy as np
import pytest

import fleetsim.analysis as an
from fleetsim import status
from fleetsim.analysis.summary import fix_hint, money, power, summarise
from tests.synthetic import add_samples, make_dataset

A = [3000.0, 4000.0, 6000.0]
B = [3250.0, 3500.0, 4000.0]


@pytest.fixture
def ds():
    return make_dataset()


def test_options_are_ranked_by_median_tco_with_best_and_worst_conditions(ds):
    table = an.decision_table(ds)
    assert list(table["hardware"]) == ["b", "a", "c"]
    assert list(table["rank"]) == [1, 2, 3]
    assert table["tco_usd"].tolist()[:2] == [3500.0, 4000.0]
    assert table["tco_usd_low"].tolist()[:2] == [min(B), min(A)]
    assert table["tco_usd_high"].tolist()[:2] == [max(B), max(A)]
    assert np.isnan(table["tco_usd"].iloc[2])
    assert list(table["feasible"]) == ["3/3", "3/3", "0/3"]
    assert table["infeasible_because"].iloc[2] == "weights_do_not_fit x3"
    assert table.attrs["conditions"] == {"electricity_usd_per_kwh": (0.05, 0.2)}
    assert table.attrs["draws"] == 0


def test_per_year_metrics_read_the_stated_year(ds):
    table = an.decision_table(ds).set_index("hardware")
    # cost per million output tokens in year 1 = (capex/5 + kWh x p + 200) / 1e9 x 1e6, p = 0.1
    assert table.loc["a", "usd_per_million_output_tokens"] == pytest.approx((200 + 400 + 200) / 1e3)
    assert table.loc["b", "accelerators"] == 4.0
    assert table.loc["a", "ttft_s"] == 0.5


def test_a_swept_dimension_becomes_a_decision_when_asked(ds):
    table = an.decision_table(ds, decide_over=["hardware", "electricity_usd_per_kwh"])
    first = table.iloc[0]
    assert (first["hardware"], first["electricity_usd_per_kwh"]) == ("a", 0.05)
    assert first["tco_usd"] == first["tco_usd_low"] == first["tco_usd_high"] == 3000.0
    assert len(table) == 9
    assert table.attrs["conditions"] == {}


def test_monte_carlo_gives_p10_of_the_best_and_p90_of_the_worst_condition(ds):
    factors = [0.9, 1.0, 1.1, 1.2]
    table = an.decision_table(add_samples(ds, factors)).set_index("hardware")
    # numpy's default (linear) quantiles of the factors: P10 = 0.93, P90 = 1.17
    assert table.loc["b", "tco_usd_low"] == pytest.approx(min(B) * 0.93)
    assert table.loc["b", "tco_usd_high"] == pytest.approx(max(B) * 1.17)
    assert table.loc["b", "tco_usd"] == pytest.approx(
        np.median([t * f for t in B for f in factors])
    )
    assert table.attrs["draws"] == 4


def test_summary_prints_the_ranked_options_and_why_c_fails(ds):
    text = summarise(ds)
    lines = text.splitlines()
    assert lines[0].startswith(
        "scenarios: 9 over hardware(3) x model(1) x electricity_usd_per_kwh(3)"
    )
    assert "median (best-worst) over electricity_usd_per_kwh 0.05-0.2 USD/kWh" in text
    rows = [line.split() for line in lines if line.startswith("  ") and line.split()[0] in "12"]
    assert [row[1] for row in rows] == ["b", "a"]
    assert "$3.5k ($3.25k-$4k)" in lines[lines.index(next(l for l in lines if " b " in l))]
    reason = next(line for line in lines if line.startswith("infeasible"))
    assert "weights_do_not_fit, 3 scenarios; hardware=c" in reason
    assert "deployment.tp=auto" in reason


def test_fix_hints_suggest_only_what_is_not_set_already():
    code = status.WEIGHTS_DO_NOT_FIT
    assert "deployment.tp=auto deployment.pp=auto" in fix_hint(code, {"deployment": {"tp": 4}})
    only_pp = fix_hint(code, {"deployment": {"tp": "auto", "pp": 1}})
    assert "deployment.pp=auto" in only_pp
    assert "deployment.tp=auto" not in only_pp
    both = fix_hint(code, {"deployment": {"tp": "auto", "pp": "auto"}})
    assert "more HBM" in both
    assert "weight_dtype=fp8" in both
    assert "facility=liquid" in fix_hint(status.RACK_POWER_EXCEEDED, {})


def test_money_and_power_words():
    assert money(3500.0) == "$3.5k"
    assert money(4.12e6) == "$4.12M"
    assert money(0.0000519) == "$0.0000519"
    assert money(np.nan) == "-"
    assert power(13936.0) == "13.9 kW"
    assert power(2.5e6) == "2.5 MW"


def test_the_runs_decide_over_setting_is_read_from_the_file(ds):
    ds.attrs["config_yaml"] = "analysis:\n  decide_over: [hardware, electricity_usd_per_kwh]\n"
    assert an.decision_dims(ds) == ["hardware", "electricity_usd_per_kwh"]
    ds.attrs["config_yaml"] = "analysis:\n  decide_over: null\n"
    assert an.decision_dims(ds) == ["hardware"]
