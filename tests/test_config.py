"""Config: every group option composes and validates; sweeps become the expected axes; the field
registry is consistent (unique dimension names, unit suffixes match SI factors)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

import fleetsim
from fleetsim import api, axes, catalog, config, units
from fleetsim import status as st
from fleetsim.errors import ConfigError, InputError

GROUP_OPTIONS = [(g, o) for g in api.GROUPS for o in api.group_options(g)]


@pytest.fixture(scope="module")
def real_ids():
    catalog.load.cache_clear()
    return catalog.load(catalog.paths._builtin_data_dir()).ids()


def test_every_group_has_options():
    for group in ("deployment", "workload", "facility", "network", "finance"):
        assert api.group_options(group), group


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_every_group_option_composes_and_validates(real_ids, group, option):
    scenario = config.validate(api.compose([f"{group}={option}"]), real_ids)
    assert set(scenario.values) == {f.key for f in config.FIELDS}
    if group == "experiment":  # experiments are studies: they may sweep
        return
    assert scenario.swept == ()
    assert all(len(v) == 1 for v in scenario.values.values())


def test_defaults_validate(real_ids):
    scenario = config.validate(api.compose([]), real_ids)
    assert scenario.years == 5
    assert scenario.run["output.overwrite"] is False
    assert yaml.safe_load(scenario.resolved_yaml)["model"] == scenario.values["model"][0]


def test_every_catalog_id_is_accepted(real_ids):
    for spec in config.FIELDS:
        if spec.kind == "catalog":
            ids = real_ids[spec.catalog]
            cfg = api.compose([f"{spec.key}=[{','.join(ids)}]"])
            assert config.validate(cfg, real_ids).values[spec.key] == ids


def test_list_sweeps_and_resolvers_give_axes(real_ids):
    cfg = api.compose(
        [
            "hardware=[h100-sxm,b200]",
            "finance.electricity_usd_per_kwh=${linspace:0.04,0.20,9}",
            "deployment.tp=${range:1,9,2}",
            "workload.ttft_slo_s=[0.5,null]",
            "deployment.weight_dtype=[bf16,fp8]",
        ]
    )
    scenario = config.validate(cfg, real_ids)
    grid = axes.build(scenario)
    assert [a.name for a in grid] == [
        "model", "hardware", "tp", "weight_dtype", "ttft_slo_s", "electricity_usd_per_kwh",
    ]  # fmt: skip
    by_name = {a.name: a for a in grid}
    assert by_name["model"].labels == ("llama3.1-70b",)
    assert by_name["hardware"].labels == ("h100-sxm", "b200")
    assert by_name["tp"].labels == (1, 3, 5, 7)
    assert by_name["ttft_slo_s"].labels == (0.5, math.inf)
    np.testing.assert_allclose(by_name["electricity_usd_per_kwh"].labels, np.linspace(0.04, 0.2, 9))
    assert axes.shape(grid) == (1, 2, 4, 2, 2, 9)
    assert axes.size(grid) == 288
    values = by_name["electricity_usd_per_kwh"].kernel_values(
        catalog.load(catalog.paths._builtin_data_dir())
    )
    np.testing.assert_allclose(values, np.linspace(0.04, 0.2, 9) / units.JOULES_PER_KWH)


def test_resolvers():
    assert config._linspace(0, 1, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert config._linspace(3, 3, 1) == [3.0]
    assert config._range(1, 5) == [1, 2, 3, 4]
    assert config._range(0, 1, 0.25) == [0, 0.25, 0.5, 0.75]
    assert config._range(5, 1, -2) == [5, 3]
    assert config._range(1, 5, -1) == []
    for bad in [(0, 1, 0), (0, 1, 2.5), (0, 1, config.MAX_RESOLVER_VALUES + 1), ("a", 1, 3),
                (0, float("nan"), 3), (True, 1, 2)]:  # fmt: skip
        with pytest.raises(ValueError, match="linspace"):
            config._linspace(*bad)
    for bad in [(0, 1, 0), (0, 1e9, 1), ("x", 2), (0, float("inf"))]:
        with pytest.raises(ValueError, match="range"):
            config._range(*bad)


def test_dimension_names_are_unique():
    names = [f.name for f in config.FIELDS]
    assert len(names) == len(set(names))
    assert "year" not in names


def test_fields_are_well_formed():
    for spec in config.FIELDS:
        assert spec.kind in {"number", "integer", "choice", "catalog"}, spec
        if spec.kind in {"number", "integer"}:
            assert spec.low <= spec.high, spec
            assert spec.si_factor > 0, spec
        if spec.kind == "choice":
            assert spec.choices, spec
        if spec.kind == "catalog":
            assert spec.catalog in catalog.TABLES, spec
    assert set(config.RUN_FIELDS).isdisjoint(f.key for f in config.FIELDS)


#: unit suffix of a config key -> factor from that unit to SI (longest suffix first)
SUFFIX_FACTORS = {
    "_usd_per_accelerator_year": 1.0 / units.SECONDS_PER_YEAR,
    "_usd_per_accelerator_hour": 1.0 / units.SECONDS_PER_HOUR,
    "_g_per_kwh": 1e-3 / units.JOULES_PER_KWH,  # grams per kWh -> kg per J
    "_usd_per_kw": 1e-3,  # USD per kW of capacity -> USD per W
    "_usd_per_kw_month": units.MONTHS_PER_YEAR / 1000.0 / units.SECONDS_PER_YEAR,
    "_usd_per_kwh": 1.0 / units.JOULES_PER_KWH,
    "_usd_per_year": 1.0 / units.SECONDS_PER_YEAR,
    "_per_day": 1.0 / units.SECONDS_PER_DAY,
    "_per_year": 1.0,  # growth_per_year, price_decline_per_year: dimensionless rates per year
    "_years": 1.0,  # integer counts of years (depreciation, lifetime)
    "_s": 1.0,
}


@pytest.mark.parametrize("spec", config.FIELDS, ids=[f.key for f in config.FIELDS])
def test_unit_suffix_matches_si_factor(spec):
    suffix = next((s for s in SUFFIX_FACTORS if spec.key.endswith(s)), None)
    expected = SUFFIX_FACTORS[suffix] if suffix else 1.0
    assert math.isclose(spec.si_factor, expected, rel_tol=1e-12), (spec.key, suffix)


#: fields where null means "no bound" or "take it from the catalog / the power limit"
NULLABLE = {
    "facility.servers_per_rack",
    "finance.rental_usd_per_accelerator_hour",
    "deployment.max_batch",
    "facility.build_usd_per_kw",  # null: colocation instead of an owned building
    "deployment.draft_model",  # null: no speculative decoding
    "workload.ttft_quantile",  # null: the TTFT target bounds the mean
    "workload.tpot_quantile",  # null: the TPOT target bounds the mean
    "deployment.prefill_hardware",  # null: the prefill pool runs on the decode pool's hardware
}


def test_nullable_only_for_bounds_and_catalog_defaults():
    for spec in config.FIELDS:
        if spec.nullable:
            assert spec.key.endswith("_slo_s") or spec.key in NULLABLE, spec


def test_validate_rejects_unknown_keys_of_a_hand_built_config(real_ids):
    data = yaml.safe_load(config.validate(api.compose([]), real_ids).resolved_yaml)
    data["workload"]["requests_per_dayy"] = 1
    with pytest.raises(
        ConfigError, match="workload.requests_per_dayy.*did you mean 'workload.requests_per_day'"
    ):
        config.validate(OmegaConf.create(data), real_ids)
    data = yaml.safe_load(config.validate(api.compose([]), real_ids).resolved_yaml)
    data["extra"] = {"a": 1}
    with pytest.raises(ConfigError, match="extra"):
        config.validate(OmegaConf.create(data), real_ids)


def test_numbers_are_normalised(real_ids):
    cfg = api.compose(["deployment.tp=4.0", "finance.years=3.0", "workload.requests_per_day=1000"])
    scenario = config.validate(cfg, real_ids)
    assert scenario.values["deployment.tp"] == (4,)
    assert isinstance(scenario.values["deployment.tp"][0], int)
    assert isinstance(scenario.values["workload.requests_per_day"][0], float)
    assert scenario.years == 3


def test_shards_partition_the_longest_axis(real_ids):
    cfg = api.compose(["hardware=[h100-sxm,b200,h200]", "deployment.tp=[1,2,4,8,16]"])
    whole = axes.build(config.validate(cfg, real_ids))
    assert whole[axes.shard_axis(whole)].name == "tp"
    parts = [axes.shard(whole, 3, i) for i in range(3)]
    tp = sum((p[axes.shard_axis(whole)].labels for p in parts), ())
    assert tp == (1, 2, 4, 8, 16)
    assert sum(axes.size(p) for p in parts) == axes.size(whole)
    with pytest.raises(InputError, match="sweep.shards=6.*longest swept dimension"):
        axes.shard(whole, 6, 0)


# --------------------------------------------------------------------------- no code execution
#: patterns that would let config or catalog data run code
DANGEROUS = {
    "eval": r"(?<![\w.])eval\(",
    "exec": r"(?<![\w.])exec\(",
    "compile": r"(?<![\w.])compile\(",
    "pickle": r"pickle",
    "instantiate": r"instantiate\(|hydra\.utils",
    "_target_": r"_target_",
    "unsafe yaml": r"yaml\.load\(|unsafe_load|yaml\.Loader|FullLoader",
    "dynamic import": r"__import__|import_module",
    "shell": r"os\.system|subprocess|os\.popen",
}
#: (file relative to the repository, pattern name) -> why it is fine
ALLOWED = {
    ("fleetsim/api.py", "_target_"): "check_overrides rejects any override whose key has _target_",
    ("fleetsim/yamlio.py", "unsafe yaml"): "yaml.load with CSafeLoader or SafeLoader only",
    ("fleetsim/slurm_resources.py", "shell"): "scontrol/sinfo with fixed argv lists, no shell",
    ("fleetsim/slurm_report.py", "shell"): "scancel <submitted job ids> (argv list, no shell)",
    ("conf/hydra/launcher/slurm.yaml", "_target_"): "selects fleetsim's launcher class; users' "
    "_target_ overrides are rejected",
    ("conf/hydra/launcher/local.yaml", "_target_"): "selects fleetsim's local launcher class; "
    "users' _target_ overrides are rejected",
}
PACKAGE = Path(__file__).resolve().parents[1] / "fleetsim"


def test_no_code_execution_from_config_or_data():
    found = []
    files = sorted(PACKAGE.rglob("*.py")) + sorted(PACKAGE.rglob("*.yaml"))
    files += sorted((PACKAGE.parent / "conf").rglob("*.yaml"))
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(PACKAGE.parent).as_posix()
        for name, pattern in DANGEROUS.items():
            if re.search(pattern, text) and (relative, name) not in ALLOWED:
                found.append((relative, name))
    assert found == []


def test_target_overrides_are_rejected():
    for item in ["hydra.launcher._target_=os.system", "deployment._target_=x"]:
        with pytest.raises(ConfigError, match="_target_"):
            api.check_overrides([item])


def test_generated_axis_values_keep_full_precision(tiny_catalog_env):
    """``${linspace}``/``${range}`` values are not rounded: a tiny first value is not zero
    demand, and sub-picosecond steps are distinct values, not "repeated values"."""
    assert config._linspace(1e-13, 1, 2) == [1e-13, 1.0]
    assert config._range(0, 3e-13, 1e-13)[1] == 1e-13
    ds = fleetsim.run(["model=test-dense", "hardware=test-gpu", "finance.years=1",
                       "workload.requests_per_day=${linspace:1e-13,1,2}",
                       "deployment.link_latency_s=${linspace:0,1e-12,3}"])  # fmt: skip
    assert ds["requests_per_day"].values.tolist() == [1e-13, 1.0]
    assert ds["link_latency_s"].values.tolist() == [0.0, 5e-13, 1e-12]
    assert (ds["status"] != st.ZERO_DEMAND).all()
