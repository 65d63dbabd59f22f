"""Bad input never crashes: every bad override is one fleetsim.InputError (API) or one line
on stderr with exit status 2 (CLI), naming the field, the value and what is allowed."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fleetsim
from fleetsim import config
from tests import oracle

#: a tiny valid problem on the test catalog; the case's overrides come after and win
BASE = ["finance.years=2", "model=test-dense", "hardware=test-gpu"]

#: (overrides, message fragments in order); the first fragment is always the field
#: a valid value for each numeric scenario field (to sweep many fields at once)
_ONE_VALUE_EACH = [
    (spec, spec.low if math.isfinite(spec.low) and not spec.low_exclusive else 1)
    for spec in config.FIELDS
    if spec.kind in ("number", "integer") and not spec.auto
]

#: five sweepable fields whose ${linspace:1,2,N} values are all valid
_FIVE_AXES = ("workload.requests_per_day", "finance.electricity_usd_per_kwh", "deployment.spare_frac",
              "workload.peak_to_mean", "facility.colocation_usd_per_kw_month")  # fmt: skip

CASES: list[tuple[list[str], list[str]]] = [
    # unknown keys, at the top level and in groups; adding or deleting keys
    (["foo=1"], ["foo=", "a known config key"]),
    (["workload.foo=1"], ["workload.foo=", "workload has:", "requests_per_day"]),
    (["deployment.tpp=2"], ["deployment.tpp=", "did you mean 'deployment.tp'"]),
    (["finance.year=3"], ["finance.year=", "did you mean 'finance.years'"]),
    (["+new=1"], ["+new=", "existing keys only"]),
    (["++model=test-moe"], ["++model=", "existing keys only"]),
    (["~model"], ["~model", "existing keys only"]),
    # unknown catalog ids and labels, with the valid ids and the closest match
    (["model=test-dens"], ["model='test-dens'", "test-dense, test-moe, test-mla", "did you mean 'test-dense'"]),
    (["hardware=test-gpuu"], ["hardware='test-gpuu'", "test-gpu, test-small", "did you mean 'test-gpu'"]),
    (["hardware=[test-gpu,nope]"], ["hardware='nope'", "one of test-gpu, test-small"]),
    (["facility.cooling=aire"], ["facility.cooling='aire'", "air, liquid", "did you mean 'air'"]),
    (["network.fabric=infiniban"], ["network.fabric='infiniban'", "did you mean 'infiniband'"]),
    (["deployment.weight_dtype=fp16"], ["deployment.weight_dtype='fp16'", "bf16, fp8, int8, int4, fp4"]),
    (["model=null"], ["model=None", "one of test-dense"]),
    (["hardware=TEST-GPU"], ["hardware='TEST-GPU'", "did you mean 'test-gpu'"]),
    # wrong types
    (["deployment.tp=abc"], ["deployment.tp='abc'", "a number in [1, 1024]"]),
    (["workload.requests_per_day=lots"], ["workload.requests_per_day='lots'", "[0, 1e+15]"]),
    (["deployment.tp='4'"], ["deployment.tp='4'", "a number in [1, 1024]"]),
    (["deployment.tp=[{a:1}]"], ["deployment.tp={'a': 1}", "a number"]),
    (["deployment.tp=[1,[2,3]]"], ["deployment.tp=[2, 3]", "a number"]),
    (["model={a:1}"], ["model={'a': 1}", "a value or a list"]),
    (["deployment.tp=true"], ["deployment.tp=True", "a number in [1, 1024]"]),
    (["output.float32=yes"], ["output.float32='yes'", "true or false"]),
    (["output.overwrite=1"], ["output.overwrite=1", "true or false"]),
    (["output.path=5"], ["output.path=5", "a file path"]),
    (["analysis.decide_over=5"], ["analysis.decide_over=5", "a non-empty list of dimension names"]),
    (["analysis.decide_over=[]"], ["analysis.decide_over=[]", "a non-empty list"]),
    (["output.path=[a,b]"], ["output.path=", "a file path"]),
    (["output.path="], ["output.path=''", "non-empty string"]),
    (["deployment.tp=null"], ["deployment.tp=None", "null is not allowed"]),
    # out of range
    (["workload.output_tokens=-5"], ["workload.output_tokens=-5", "[1, 1e+07]"]),
    (["workload.input_tokens=0"], ["workload.input_tokens=0", "[1, 1e+07]"]),
    (["deployment.tp=0"], ["deployment.tp=0", "[1, 1024]"]),
    (["deployment.tp=1.5"], ["deployment.tp=1.5", "a whole number in [1, 1024]"]),
    (["deployment.tp=" + "1" * 400], ["deployment.tp=111", "...", "[1, 1024]"]),
    (["deployment.tp=1e400"], ["deployment.tp=inf", "a finite number"]),
    (["workload.max_utilisation=1.5"], ["workload.max_utilisation=1.5", "(0, 1]"]),
    (["workload.max_utilisation=0"], ["workload.max_utilisation=0", "(0, 1]"]),
    (["workload.growth_per_year=-1"], ["workload.growth_per_year=-1", "[-0.99, 100]"]),
    (["workload.requests_per_day=nan"], ["workload.requests_per_day=nan", "a finite number"]),
    (["workload.requests_per_day=-inf"], ["workload.requests_per_day=-inf", "a finite number"]),
    (["workload.requests_per_day=1e16"], ["workload.requests_per_day=1e+16", "[0, 1e+15]"]),
    (["workload.ttft_slo_s=0"], ["workload.ttft_slo_s=0", "(0, 1e+06] or null"]),
    (["workload.tpot_slo_s=-0.1"], ["workload.tpot_slo_s=-0.1", "(0, 1000] or null"]),
    (["deployment.memory_reserve_frac=0.95"], ["deployment.memory_reserve_frac=0.95", "[0, 0.9]"]),
    (["finance.depreciation_years=0"], ["finance.depreciation_years=0", "[1, 50]"]),
    (["finance.years=0"], ["finance.years=0", "a whole number in [1, 100]"]),
    (["output.compression_level=10"], ["output.compression_level=10", "[0, 9]"]),
    (["sweep.chunk_size=0"], ["sweep.chunk_size=0", "[1, 100000000]"]),
    # cross-field rules
    (["sweep.shards=2", "sweep.shard=2"], ["sweep.shard=2", "[0, 1]"]),
    (["sweep.shards=5"], ["sweep.shards=5", "longest swept dimension"]),
    (["output.significant_digits=10"], ["output.significant_digits=10", "[1, 7]", "float32=true"]),
    (["workload.requests_per_day=${linspace:1,1e6,1000}", "deployment.tp=${range:1,1025}",
      "workload.output_tokens=${range:1,1001}", "finance.years=100"],
     ["sweep.shards=1", "fit in memory", "1,024,000,000 scenarios"]),
    # group options
    (["workload=nope"], ["workload='nope'", "conf/workload/: chat, interactive, offline"]),
    (["workload=chatt"], ["workload='chatt'", "did you mean 'chat'"]),
    (["deployment=null"], ["deployment=None", "conf/deployment/: default"]),
    (["experiment=nope"], ["experiment='nope'", "conf/experiment/"]),
    # malformed override syntax
    (["deployment.tp=["], ["deployment.tp='['", "valid override syntax"]),
    (["deployment.tp=${oc.create:{a:1}}"], ["deployment.tp=", "valid override syntax"]),
    (["hydra.launcher._target_=os.system"], ["hydra.launcher._target_='os.system'", "no '_target_'"]),
    (["model"], ["model=None", "key=value"]),
    (["-m"], ["overrides='-m'", "flags are for the CLI"]),
    # lists: empty, repeated, sweeping a run setting, multirun syntax
    (["deployment.tp=[]"], ["deployment.tp=[]", "a non-empty list"]),
    (["model=[]"], ["model=[]", "a non-empty list"]),
    (["deployment.tp=[1,1]"], ["deployment.tp=[1, 1]", "without repeated values"]),
    (["deployment.tp=[1,1.0]"], ["deployment.tp=[1, 1.0]", "without repeated values"]),
    (["hardware=[test-gpu,test-gpu]"], ["hardware=", "without repeated values"]),
    (["workload.ttft_slo_s=[null,null]"], ["workload.ttft_slo_s=[None, None]", "repeated"]),
    (["finance.years=[3,5]"], ["finance.years=[3, 5]", "run settings cannot be swept"]),
    (["sweep.chunk_size=[1,2]"], ["sweep.chunk_size=[1, 2]", "cannot be swept"]),
    (["deployment.tp=1,2"], ["deployment.tp='1,2'", "a list [a,b]", "-m"]),
    (["deployment.tp=range(1,3)"], ["deployment.tp='range(1,3)'", "-m"]),
    # more swept fields than an output array has dimensions (each list is one; sizes are 1)
    ([f"{spec.key}=[{value}]" for spec, value in _ONE_VALUE_EACH[:31]], [f"{_ONE_VALUE_EACH[30][0].key}=", "a single value", "allow 32"]),
    # new workload and deployment fields
    (["deployment.prefill=chunk"], ["deployment.prefill='chunk'", "chunked, whole", "did you mean 'chunked'"]),
    (["deployment.step_token_budget=0"], ["deployment.step_token_budget=0", "[1, 1e+07]"]),
    (["workload.input_tokens_cv=-0.1"], ["workload.input_tokens_cv=-0.1", "[0, 10]"]),
    (["workload.ttft_quantile=1"], ["workload.ttft_quantile=1", "[0.5, 0.9999] or null"]),
    (["deployment.pp=autoo"], ["deployment.pp='autoo'", "or 'auto'"]),
    # interpolations and the linspace / range resolvers
    (["deployment.tp=${nope}"], ["deployment.tp='${nope}'", "a resolvable interpolation"]),
    (["deployment.tp=${linspace:1,2}"], ["deployment.tp=", "takes 3 arguments"]),
    (["deployment.tp=${linspace:a,b,3}"], ["deployment.tp=", "start='a' must be a number"]),
    (["deployment.tp=${range:1,5,0}"], ["deployment.tp=", "step must not be 0"]),
    (["workload.requests_per_day=${range:0,1e9,1}"], ["workload.requests_per_day=", "more than 100000 values"]),
    (["workload.requests_per_day=${linspace:0,1,1e9}"], ["workload.requests_per_day=", "num=", "[1, 100000]"]),
    (["deployment.tp=${range:1,1}"], ["deployment.tp=[]", "a non-empty list"]),
    (["deployment.tp=${oc.env:FLEETSIM_SURELY_UNSET}"], ["deployment.tp=", "not found"]),
    # sizes from the axes alone, before anything is enumerated or allocated
    ([f"{k}=${{linspace:1,2,100000}}" for k in _FIVE_AXES],
     ["sweep.shards=1", "at most 100,000,000,000 scenarios per job", "1e+25 scenarios",
      "sweep fewer values"]),
    ([*(f"{k}=${{linspace:1,2,100000}}" for k in _FIVE_AXES), "sweep.shards=1000"],
     ["sweep.shards=1000", "1e+25 scenarios, 1e+22 per job", "sweep fewer values"]),
    ([f"{k}=${{linspace:1,2,100000}}" for k in _FIVE_AXES[:3]],
     ["sweep.shards=1", "1,000,000,000,000,000 scenarios", "raise sweep.shards to at least 10,000"]),
    # values the model cannot honour, and presets that would merge instead of sweep
    (["workload=[chat,offline]"], ["workload=['chat', 'offline']", "merge them, not sweep them",
                                   "-m workload=chat,offline"]),
    (["facility=[air,liquid]"], ["facility=['air', 'liquid']", "-m facility=air,liquid"]),
    (["hydra_x=1"], ["hydra_x='1'", "a known config key"]),
]  # fmt: skip

#: cases also run through the CLI (each is a subprocess; keep it to about ten)
CLI_CASES = [
    "foo=1",
    "+new=1",
    "model=test-dens",
    "deployment.tp=abc",
    "workload.max_utilisation=1.5",
    "workload=nope",
    "deployment.tp=[",
    "finance.years=[3,5]",
    "deployment.tp=${linspace:1,2}",
    "output.significant_digits=10",
    "hydra=1",
    "hydra_x=1",
]

BAD_INPUTS_TRIED = {"table": len(CASES), "cli": len(CLI_CASES), "hypothesis": 0}
OUTCOMES = {"input_error": 0, "dataset": 0, "slowest_s": 0.0, "slowest_refusal_s": 0.0}


def _pattern(fragments: list[str]) -> str:
    return "(?s)" + ".*".join(re.escape(f) for f in fragments)


@pytest.mark.parametrize(
    ("overrides", "fragments"), CASES, ids=[" ".join(c[0])[:60] for c in CASES]
)
def test_bad_override_is_one_input_error(tiny_catalog_env, overrides, fragments):
    with pytest.raises(fleetsim.InputError, match=_pattern(fragments)) as info:
        fleetsim.run(BASE + overrides)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(fragments[0])


def test_table_is_large_enough():
    assert len(CASES) >= 30
    assert len({" ".join(o) for o, _ in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Run every CLI case at once (in parallel) and collect (returncode, stdout, stderr)."""
    env = dict(os.environ, FLEETSIM_DATA_DIR=str(Path(__file__).parent / "data" / "catalog"))
    env.pop("HYDRA_FULL_ERROR", None)
    processes = {}
    for case in CLI_CASES:
        cwd = tmp_path_factory.mktemp("cli")
        processes[case] = (
            subprocess.Popen(
                [sys.executable, "-m", "fleetsim", *BASE, case, f"hydra.run.dir={cwd}/run"],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            cwd,
        )
    results = {}
    for case, (process, cwd) in processes.items():
        out, err = process.communicate(timeout=120)
        results[case] = (process.returncode, out, err, cwd)
    return results


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_prints_one_line_and_exits_2(cli_results, case):
    code, out, err, cwd = cli_results[case]
    assert code == 2, (out, err)
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("fleetsim: error: ")
    assert "Traceback" not in out + err
    field = case.split("=", 1)[0]
    assert field in lines[0]
    assert not list(cwd.rglob("*.nc")), "a failed run must not write output"


# --------------------------------------------------------------------------- property test
_KNOWN = sorted(config.known_keys()) + ["deployment", "workload", "facility", "network"]


def _near_miss(key: str, position: int, kind: int) -> str:
    position %= len(key)
    if kind == 0:  # drop a character
        return key[:position] + key[position + 1 :]
    if kind == 1:  # double a character
        return key[:position] + key[position] + key[position:]
    if kind == 2:  # swap the case
        return key.upper()
    return key.replace(".", "_")


keys = st.one_of(
    st.sampled_from(_KNOWN),
    st.builds(_near_miss, st.sampled_from(_KNOWN), st.integers(0, 40), st.integers(0, 3)),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz._+~@/-0123456789", min_size=1, max_size=12),
)
labels = st.sampled_from(
    ["test-dense", "test-moe", "test-mla", "test-gpu", "test-small", "air", "liquid", "roce",
     "infiniband", "bf16", "fp8", "int4", "chat", "offline", "default"]
)  # fmt: skip
numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, 1, 2, 3, 8, 1024, 1025, 10**20, 10**400, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 0.9, 1.0, 1e-9, 1e12, 1e15, 1e300, -0.0]),
)
scalars = st.one_of(
    numbers,
    labels,
    st.booleans(),
    st.none(),
    st.text(max_size=8),
)


def _render(value) -> str:
    """Write a Python value in Hydra's override syntax (strings raw, so they may be garbage)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return {math.inf: "inf", -math.inf: "-inf"}.get(
            value, "nan" if value != value else repr(value)
        )
    if isinstance(value, list):
        return "[" + ",".join(_render(v) for v in value) + "]"
    return str(value)


values = st.one_of(
    scalars,
    st.lists(scalars, min_size=0, max_size=3),
    st.lists(st.lists(scalars, max_size=2), min_size=1, max_size=2),
)

_TINY_IDS = {
    "models": ["test-dense", "test-moe", "test-mla"],
    "hardware": ["test-gpu", "test-small"],
    "fabrics": ["infiniband", "roce"],
    "cooling": ["air", "liquid"],
}
_RUN_RANGES = {"finance.years": (1, 100), "sweep.shards": (1, 3), "sweep.shard": (0, 2),
               "sweep.chunk_size": (1, 50), "output.compression_level": (0, 9),
               "output.significant_digits": (1, 15)}  # fmt: skip


def _plausible(spec: config.Field):
    """Values near a field's allowed range: mostly valid, sometimes just outside."""
    if spec.kind == "catalog":
        return st.sampled_from([*_TINY_IDS[spec.catalog], "nope"])
    if spec.kind == "choice":
        return st.sampled_from([*spec.choices, "fp16"])
    low = spec.low if math.isfinite(spec.low) else -1e6
    high = min(spec.high, max(low, 0.0) + 1e4)
    edges = [low, high, spec.high, low - 1, spec.high * 2 if math.isfinite(spec.high) else 1e300]
    if spec.kind == "integer":
        inside = st.integers(int(math.ceil(low)), int(high))
    else:
        inside = st.floats(low, high, allow_nan=False)
    extra = [None] if spec.nullable else []
    return st.one_of(inside, inside, st.sampled_from(edges + extra))


@st.composite
def _field_override(draw) -> str:
    if draw(st.booleans()):
        spec = draw(st.sampled_from(config.FIELDS))
        one = _plausible(spec)
        value = draw(st.one_of(one, st.lists(one, min_size=1, max_size=3)))
        return f"{spec.key}={_render(value)}"
    if draw(st.integers(0, 3)) == 0:  # a mix grid, from coarse to absurdly fine
        step = draw(st.one_of(st.sampled_from([1e-300, 1e-6, 0.001, 0.01, 0.25, 0.5, 1.0, 0.3]),
                              st.floats(1e-320, 1.5)))  # fmt: skip
        return f"mix.share_step={_render(step)}"
    key = draw(st.sampled_from(sorted(_RUN_RANGES)))
    low, high = _RUN_RANGES[key]
    return f"{key}={draw(st.integers(low - 1, high + 1))}"


overrides = st.lists(
    st.one_of(
        _field_override(),
        _field_override(),
        _field_override(),
        st.builds(lambda k, v: f"{k}={_render(v)}", keys, values),
        st.text(max_size=10),  # not even key=value
        st.just("mix.candidates=[test-gpu,test-small]"),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # seeded: the same examples on every run and machine
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=overrides)
def test_random_overrides_give_a_dataset_or_an_input_error(tiny_catalog_env, drawn):
    """Every input is refused in one line or gives a Dataset whose feasible cells keep the
    invariants (finite, >= 0, utilisation <= 1, energy per token > 0, TCO never falling)."""
    BAD_INPUTS_TRIED["hypothesis"] += 1
    message = None
    started = time.perf_counter()
    try:
        result = fleetsim.run(BASE + drawn)
    except fleetsim.InputError as error:
        message = str(error)
    seconds = time.perf_counter() - started
    OUTCOMES["slowest_s"] = max(OUTCOMES["slowest_s"], round(seconds, 2))
    if message is not None:
        OUTCOMES["input_error"] += 1
        OUTCOMES["slowest_refusal_s"] = max(OUTCOMES["slowest_refusal_s"], round(seconds, 2))
        assert "\n" not in message
        return
    OUTCOMES["dataset"] += 1
    assert isinstance(result, xr.Dataset)
    assert result.sizes["year"] >= 1
    assert oracle.invariant_violations(result) == 0


def test_report_bad_inputs_tried():
    """Not a check: prints how many bad inputs this module tried (visible with -s or -rA)."""
    total = sum(BAD_INPUTS_TRIED.values())
    print(f"bad inputs tried: {BAD_INPUTS_TRIED} -> {total}; random outcomes: {OUTCOMES}")
    assert total >= len(CASES)
