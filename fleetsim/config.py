"""Configuration: the Hydra schema, the field registry, and validation.

Every scenario field is declared once in :data:`FIELDS` with its type, bounds, unit conversion
to SI and whether it may be swept (given as a list). The Hydra structured config only fixes which
keys exist (unknown keys are rejected at compose time); :func:`validate` checks values, bounds
and cross-field rules and raises :class:`~fleetsim.errors.ConfigError` naming the field.
Defaults live in ``conf/*.yaml`` only.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, make_dataclass
from typing import Any

import numpy as np
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from fleetsim import aliases, efficiency, hardware_mix, uncertainty, units
from fleetsim.errors import ConfigError
from fleetsim.fields import Field
from fleetsim.precision import DTYPES
from fleetsim.registry import registry

_YEAR = units.SECONDS_PER_YEAR
#: most dimensions an output array may have (numpy's limit)
MAX_DIMENSIONS = 32
#: how prompts are prefilled: in chunks riding the decode steps, or whole in steps of their own
#: (kernel code = index; physics.operating_point reads PREFILL_CHUNKED)
PREFILL_MODES: tuple[str, ...] = ("chunked", "whole")
#: how prompts and decoding share accelerators: one pool doing both, or a prefill pool and a
#: decode pool joined by the fabric (kernel code = index; fleet.disaggregated reads it)
SERVING_MODES: tuple[str, ...] = ("aggregated", "disaggregated")
#: scenario fields in kernel parameter-vector order (fleetsim.kernel indexes this tuple)
FIELDS: tuple[Field, ...] = (
    Field("model", "catalog", catalog="models"),
    Field("hardware", "catalog", catalog="hardware"),
    Field("deployment.tp", "integer", 1, 1024, auto=True),
    Field("deployment.pp", "integer", 1, 256, auto=True),
    Field("deployment.ep", "integer", 1, 1024, auto=True),
    Field("deployment.attention_dp", "integer", 1, 1024, auto=True),
    Field("deployment.weight_dtype", "choice", choices=DTYPES),
    Field("deployment.kv_dtype", "choice", choices=DTYPES),
    Field("deployment.memory_reserve_frac", "number", 0.0, 0.9),
    Field("deployment.step_overhead_s", "number", 0.0, 1.0),
    Field("deployment.link_latency_s", "number", 0.0, 1e-2),
    Field("deployment.spare_frac", "number", 0.0, 10.0),
    Field("deployment.max_batch", "integer", 1, 10_000_000, nullable=True),
    Field("deployment.prefix_cache_hit_rate", "number", 0.0, 0.99),
    Field("deployment.draft_model", "catalog", catalog="models", nullable=True),
    Field("deployment.draft_tokens", "integer", 1, 32),
    Field("deployment.acceptance_rate", "number", 0.0, 0.99),
    Field("deployment.prefill", "choice", choices=PREFILL_MODES),
    Field("deployment.step_token_budget", "integer", 1, 10_000_000),
    Field("deployment.engine", "choice", choices=efficiency.ENGINES),
    Field("deployment.serving", "choice", choices=SERVING_MODES),
    Field("deployment.prefill_hardware", "catalog", catalog="hardware", nullable=True),
    Field("workload.requests_per_day", "number", 0.0, 1e15, si_factor=1.0 / units.SECONDS_PER_DAY),
    Field("workload.input_tokens", "integer", 1, 10_000_000),
    Field("workload.output_tokens", "integer", 1, 10_000_000),
    Field("workload.input_tokens_cv", "number", 0.0, 10.0),
    Field("workload.output_tokens_cv", "number", 0.0, 10.0),
    Field("workload.ttft_slo_s", "number", 0.0, 1e6, nullable=True, low_exclusive=True),
    Field("workload.tpot_slo_s", "number", 0.0, 1e3, nullable=True, low_exclusive=True),
    Field("workload.ttft_quantile", "number", 0.5, 0.9999, nullable=True),
    Field("workload.tpot_quantile", "number", 0.5, 0.9999, nullable=True),
    Field("workload.peak_to_mean", "number", 1.0, 100.0),
    Field("workload.growth_per_year", "number", -0.99, 100.0),
    Field("workload.max_utilisation", "number", 0.0, 1.0, low_exclusive=True),
    Field("facility.cooling", "catalog", catalog="cooling"),
    Field(
        "facility.colocation_usd_per_kw_month",
        "number",
        0.0,
        1e5,
        si_factor=units.MONTHS_PER_YEAR / 1000.0 / _YEAR,
    ),
    Field("facility.servers_per_rack", "integer", 1, 1000, nullable=True),
    Field("facility.build_usd_per_kw", "number", 0.0, 1e6, nullable=True, si_factor=1e-3),
    Field("facility.building_life_years", "integer", 1, 100),
    Field(
        "facility.grid_carbon_g_per_kwh",
        "number",
        0.0,
        5000.0,
        si_factor=1e-3 / units.JOULES_PER_KWH,
    ),
    Field("network.fabric", "catalog", catalog="fabrics"),
    Field(
        "finance.electricity_usd_per_kwh",
        "number",
        0.0,
        100.0,
        si_factor=1.0 / units.JOULES_PER_KWH,
    ),
    Field("finance.depreciation_years", "integer", 1, 50),
    Field("finance.hardware_lifetime_years", "integer", 1, 50),
    Field("finance.price_decline_per_year", "number", 0.0, 0.99),
    Field("finance.maintenance_frac_per_year", "number", 0.0, 1.0),
    Field("finance.staff_per_1000_accelerators", "number", 0.0, 1000.0),
    Field("finance.staff_cost_usd_per_year", "number", 0.0, 1e8, si_factor=1.0 / _YEAR),
    Field("finance.software_usd_per_accelerator_year", "number", 0.0, 1e7, si_factor=1.0 / _YEAR),
    Field("finance.discount_rate", "number", -0.5, 1.0),
    Field(
        "finance.rental_usd_per_accelerator_hour",
        "number",
        0.0,
        1e4,
        nullable=True,
        si_factor=1.0 / units.SECONDS_PER_HOUR,
    ),
)
FIELD_BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}

#: fields that are settings of the run, not scenario parameters (never swept)
RUN_FIELDS: dict[str, tuple[str, float, float]] = {
    "finance.years": ("integer", 1, 100),
    "sweep.shards": ("integer", 1, 1_000_000),
    "sweep.shard": ("integer", 0, 1_000_000),
    "sweep.chunk_size": ("integer", 1, 100_000_000),
    "sweep.samples": ("integer", 0, 10_000_000),
    "sweep.seed": ("integer", 0, 2**63 - 1),
    "sweep.threads": ("integer", 0, 4096),
    "output.compression_level": ("integer", 0, 9),
    "output.significant_digits": ("integer", 1, 15),
}


# --------------------------------------------------------------------------- Hydra schema
@dataclass
class DeploymentSchema:
    """Keys of the ``deployment`` group (values in conf/deployment/*.yaml)."""

    tp: Any = MISSING
    pp: Any = MISSING
    ep: Any = MISSING
    attention_dp: Any = MISSING
    weight_dtype: Any = MISSING
    kv_dtype: Any = MISSING
    memory_reserve_frac: Any = MISSING
    step_overhead_s: Any = MISSING
    link_latency_s: Any = MISSING
    spare_frac: Any = MISSING
    max_batch: Any = MISSING
    prefix_cache_hit_rate: Any = MISSING
    draft_model: Any = MISSING
    draft_tokens: Any = MISSING
    acceptance_rate: Any = MISSING
    prefill: Any = MISSING
    step_token_budget: Any = MISSING
    engine: Any = MISSING
    serving: Any = MISSING
    prefill_hardware: Any = MISSING


@dataclass
class WorkloadSchema:
    """Keys of the ``workload`` group."""

    requests_per_day: Any = MISSING
    input_tokens: Any = MISSING
    output_tokens: Any = MISSING
    input_tokens_cv: Any = MISSING
    output_tokens_cv: Any = MISSING
    ttft_slo_s: Any = MISSING
    tpot_slo_s: Any = MISSING
    ttft_quantile: Any = MISSING
    tpot_quantile: Any = MISSING
    peak_to_mean: Any = MISSING
    growth_per_year: Any = MISSING
    max_utilisation: Any = MISSING


@dataclass
class FacilitySchema:
    """Keys of the ``facility`` group."""

    cooling: Any = MISSING
    colocation_usd_per_kw_month: Any = MISSING
    servers_per_rack: Any = MISSING
    grid_carbon_g_per_kwh: Any = MISSING
    build_usd_per_kw: Any = MISSING
    building_life_years: Any = MISSING


@dataclass
class NetworkSchema:
    """Keys of the ``network`` group."""

    fabric: Any = MISSING


@dataclass
class FinanceSchema:
    """Keys of the ``finance`` group."""

    years: Any = MISSING
    electricity_usd_per_kwh: Any = MISSING
    depreciation_years: Any = MISSING
    hardware_lifetime_years: Any = MISSING
    price_decline_per_year: Any = MISSING
    maintenance_frac_per_year: Any = MISSING
    staff_per_1000_accelerators: Any = MISSING
    staff_cost_usd_per_year: Any = MISSING
    software_usd_per_accelerator_year: Any = MISSING
    discount_rate: Any = MISSING
    rental_usd_per_accelerator_hour: Any = MISSING


@dataclass
class SweepSchema:
    """Keys of the ``sweep`` group: splitting one sweep into shards and chunks."""

    shards: Any = 1
    shard: Any = 0
    chunk_size: Any = 65536
    samples: Any = 0
    seed: Any = 0
    threads: Any = 0


@dataclass
class OutputSchema:
    """Keys of the ``output`` group: where and how the NetCDF is written."""

    path: Any = None
    float32: Any = True
    compression: Any = "blosc_lz4"
    compression_level: Any = None
    significant_digits: Any = None
    overwrite: Any = False
    variables: Any = "all"


def _uncertainty_schema() -> type:
    """Build the ``uncertainty`` schema: one ``null`` key per numeric field of :data:`FIELDS`.

    ``uncertainty.finance.electricity_usd_per_kwh`` mirrors ``finance.electricity_usd_per_kwh``;
    built from the registry, so a numeric field added to :data:`FIELDS` can be made uncertain at
    once. The classes are module attributes: launchers ship configs to jobs by class name.
    """
    groups: dict[str, list[str]] = {}
    for spec in FIELDS:
        if spec.kind in ("number", "integer") and spec.key.count(".") == 1:
            group, name = spec.key.split(".")
            groups.setdefault(group, []).append(name)
    members = []
    for group, names in groups.items():
        cls_name = f"Uncertain{group.title()}Schema"
        cls = make_dataclass(
            cls_name, [(n, Any, field(default=None)) for n in names], namespace={"__doc__": ""}
        )
        cls.__module__, cls.__qualname__ = __name__, cls_name
        cls.__doc__ = f"Distributions of the uncertain ``{group}`` fields (``null`` = certain)."
        globals()[cls_name] = cls
        members.append((group, cls, field(default_factory=cls)))
    schema = make_dataclass("UncertaintySchema", members)
    schema.__module__, schema.__qualname__ = __name__, "UncertaintySchema"
    schema.__doc__ = "Keys of the ``uncertainty`` group (see :mod:`fleetsim.uncertainty`)."
    return schema


UncertaintySchema = _uncertainty_schema()


@dataclass
class AnalysisSchema:
    """Keys of ``analysis``: how the printed summary and the report read the result."""

    decide_over: Any = None


@dataclass
class MixSchema:
    """Keys of ``mix``: a fleet of several accelerator pools (see :mod:`fleetsim.hardware_mix`)."""

    candidates: Any = None
    share_step: Any = 0.25
    shares: Any = None


@dataclass
class FleetsimSchema:
    """The whole configuration tree (registered in Hydra's ConfigStore as ``base_config``)."""

    model: Any = MISSING
    hardware: Any = MISSING
    deployment: DeploymentSchema = field(default_factory=DeploymentSchema)
    workload: WorkloadSchema = field(default_factory=WorkloadSchema)
    facility: FacilitySchema = field(default_factory=FacilitySchema)
    network: NetworkSchema = field(default_factory=NetworkSchema)
    finance: FinanceSchema = field(default_factory=FinanceSchema)
    sweep: SweepSchema = field(default_factory=SweepSchema)
    output: OutputSchema = field(default_factory=OutputSchema)
    mix: MixSchema = field(default_factory=MixSchema)
    analysis: AnalysisSchema = field(default_factory=AnalysisSchema)
    uncertainty: UncertaintySchema = field(default_factory=UncertaintySchema)  # type: ignore[valid-type]


#: most scenarios one job (one shard) may evaluate: a design limit, not a measurement. At the
#: kernel's ~1e6 scenarios per second per core (README "Large sweeps"; scripts/bench_kernel.py)
#: a bigger job runs for a day or more and writes terabytes: such sweeps are sharded.
MAX_SCENARIOS_PER_JOB = 10**11


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**18 else f"{float(n):.3g}"


def check_sweep_size(lengths: dict[str, int], shards: int) -> None:
    """Refuse a sweep too large for one job, from its dimensions' lengths alone.

    Called before anything is enumerated or allocated: on the resolved config (before
    validation builds its per-value structures) and on the axes (with a mix or samples).

    Parameters
    ----------
    lengths : dict
        Dimension name -> number of values (dimensions of length 1 may be left out).
    shards : int
        ``sweep.shards``: the jobs the longest dimension is cut into.

    Raises
    ------
    ConfigError
        Naming ``sweep.shards``, the size and shape, the limit, and how to shard or coarsen.
    """
    total = math.prod(lengths.values())
    if not lengths or total <= MAX_SCENARIOS_PER_JOB:
        return
    longest = max(lengths, key=lambda name: lengths[name])
    size = lengths[longest]
    per_job = total // size * -(-size // max(1, min(shards, size)))
    if per_job <= MAX_SCENARIOS_PER_JOB:
        return
    dims = " x ".join(f"{name}: {n:,}" for name, n in lengths.items() if n > 1)
    needed = -(-total // MAX_SCENARIOS_PER_JOB)
    if total // size <= MAX_SCENARIOS_PER_JOB and needed <= size:
        how = f"raise sweep.shards to at least {needed:,} (it cuts {longest}, {size:,} values)"
    else:
        how = f"sweep fewer values (sharding cuts only the longest dimension, {longest})"
    raise ConfigError(
        "sweep.shards",
        shards,
        f"a sweep of at most {MAX_SCENARIOS_PER_JOB:,} scenarios per job: {dims} is "
        f"{_count(total)} scenarios, {_count(per_job)} per job; {how}",
    )


def _check_resolved_size(resolved: dict) -> None:
    """Apply :func:`check_sweep_size` to the lists of a resolved config tree."""
    lengths = {}
    for spec in FIELDS:
        node: object = resolved
        for part in spec.key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, list) and len(node) > 1:
            lengths[spec.name] = len(node)
    shards = (resolved.get("sweep") or {}).get("shards") if isinstance(resolved, dict) else None
    valid = isinstance(shards, int) and not isinstance(shards, bool) and shards >= 1
    check_sweep_size(lengths, shards if valid else 1)


#: most values one ``${linspace:...}`` or ``${range:...}`` may produce (a sweep axis)
MAX_RESOLVER_VALUES = 100_000


def _resolver_number(usage: str, name: str, value: object) -> float:
    """Return a resolver argument as a finite float, or raise ``ValueError`` saying why."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{usage}: {name}={value!r} must be a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{usage}: {name}={value!r} must be a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{usage}: {name}={value!r} must be finite")
    return number


def _linspace(*args: object) -> list[float]:
    """OmegaConf resolver ``${linspace:start,stop,num}`` -> evenly spaced values."""
    usage = "${linspace:start,stop,num}"
    if len(args) != 3:
        raise ValueError(f"{usage} takes 3 arguments; got {len(args)}")
    start, stop, num = args
    first = _resolver_number(usage, "start", start)
    last = _resolver_number(usage, "stop", stop)
    count = _resolver_number(usage, "num", num)
    if not count.is_integer() or not 1 <= count <= MAX_RESOLVER_VALUES:
        raise ValueError(
            f"{usage}: num={num!r} must be a whole number in [1, {MAX_RESOLVER_VALUES}]"
        )
    return [float(v) for v in np.linspace(first, last, int(count))]  # full precision


def _range(*args: object) -> list[float]:
    """OmegaConf resolver ``${range:start,stop[,step]}`` -> values from start below stop."""
    usage = "${range:start,stop[,step]}"
    if len(args) not in (2, 3):
        raise ValueError(f"{usage} takes 2 or 3 arguments; got {len(args)}")
    start, stop, step = (*args, 1) if len(args) == 2 else args
    first = _resolver_number(usage, "start", start)
    last = _resolver_number(usage, "stop", stop)
    increment = _resolver_number(usage, "step", step)
    if increment == 0.0:
        raise ValueError(f"{usage}: step must not be 0")
    if math.ceil((last - first) / increment) > MAX_RESOLVER_VALUES:
        raise ValueError(f"{usage}: gives more than {MAX_RESOLVER_VALUES} values")
    values = np.arange(first, last, increment)
    return [int(v) if float(v).is_integer() else float(v) for v in values]  # full precision


def _catalog_ids(table: str) -> str:
    """Return the ids of a catalog table, comma-separated (``--help`` lists them)."""
    from fleetsim import catalog

    return ", ".join(catalog.table_ids(table))


def _cpus_for(threads: object) -> int:
    """OmegaConf resolver ``${fleetsim.cpus:threads}`` (:func:`fleetsim.slurm_resources.cpus_for`)."""
    from fleetsim.slurm_resources import cpus_for

    return cpus_for(threads)


def register() -> None:
    """Register the schema and the resolvers (``linspace``, ``range``; idempotent).

    ``fleetsim_catalog_ids`` lists a catalog table's ids in ``--help``; ``fleetsim.cpus`` sizes
    the SLURM preset's ``cpus_per_task`` from ``sweep.threads``
    (:func:`fleetsim.slurm_resources.cpus_for`).
    """
    ConfigStore.instance().store(name="base_config", node=FleetsimSchema)
    resolvers = (
        ("linspace", _linspace),
        ("range", _range),
        ("fleetsim_catalog_ids", _catalog_ids),
        ("fleetsim.cpus", _cpus_for),
    )
    for name, resolver in resolvers:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)


# --------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class Scenario:
    """A validated configuration.

    Parameters
    ----------
    values : dict
        Dotted key -> tuple of values (length 1 unless the field is swept), as given in config
        units (catalog ids and labels as strings).
    swept : tuple of str
        Keys given as lists, in config order (these become dimensions).
    years : int
        Horizon in years.
    run : dict
        Run settings (sweep and output groups).
    resolved_yaml : str
        The resolved configuration as YAML (stored in the output's attributes).
    uncertain : dict
        Dotted key -> :class:`fleetsim.uncertainty.Distribution` of the fields with a
        distribution in the ``uncertainty`` group (drawn when ``sweep.samples`` > 0).
    """

    values: dict[str, tuple]
    swept: tuple[str, ...]
    years: int
    run: dict[str, Any]
    resolved_yaml: str
    uncertain: dict[str, Any] = field(default_factory=dict)


def _fail(key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(key, value, allowed)


def _check_number(spec: Field, value: object) -> float | int | str:
    if spec.auto and value == "auto":
        return "auto"
    if value is None:
        if spec.nullable:
            return math.inf
        raise _fail(spec.key, value, "a number (null is not allowed here)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(spec.key, value, f"a number in {_bounds(spec)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(spec.key, value, f"a finite number in {_bounds(spec)}")
    if spec.kind == "integer" and isinstance(value, float) and not value.is_integer():
        raise _fail(spec.key, value, f"a whole number in {_bounds(spec)}")
    too_low = value <= spec.low if spec.low_exclusive else value < spec.low
    if too_low or value > spec.high:
        raise _fail(spec.key, value, f"a number in {_bounds(spec)}")
    return int(value) if spec.kind == "integer" else float(value)


def _bounds(spec: Field) -> str:
    left = "(" if spec.low_exclusive else "["
    null = " or null (no bound)" if spec.nullable else ""
    auto = " or 'auto' (searched)" if spec.auto else ""
    return f"{left}{spec.low:g}, {spec.high:g}]{null}{auto}"


def _check_label(spec: Field, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        if spec.kind == "catalog":  # catalog ids: aliases and prefixes too (fleetsim.aliases)
            close = [c] if (c := aliases.suggest(value, allowed)) else []
        else:
            close = difflib.get_close_matches(str(value).lower(), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if spec.kind == "catalog" and spec.catalog in ("models", "hardware"):
            hint += "; or a file (./config.json, ./accelerator.yaml), all, all:<filter>"
        raise _fail(spec.key, value, f"one of {', '.join(allowed)}{hint}")
    return value


def _as_values(key: str, node: object) -> tuple[tuple, bool]:
    if isinstance(node, ListConfig | list | tuple):
        items = tuple(OmegaConf.to_container(node) if isinstance(node, ListConfig) else node)
        if not items:
            raise _fail(key, [], "a value or a non-empty list of values")
        if len(set(map(repr, items))) != len(items):
            raise _fail(key, list(items), "a list without repeated values")
        return items, True
    if isinstance(node, DictConfig | dict):
        raise _fail(
            key,
            OmegaConf.to_container(node) if isinstance(node, DictConfig) else node,
            "a value or a list",
        )
    return (node,), False


def _get(cfg: DictConfig, key: str) -> object:
    try:
        return OmegaConf.select(cfg, key, throw_on_missing=True)
    except Exception as error:  # OmegaConf raises several types for missing/invalid nodes
        raise _fail(key, "???", f"a value (could not read it: {error})") from None


def validate(cfg: DictConfig, catalog_ids: dict[str, tuple[str, ...]]) -> Scenario:
    """Check a composed configuration and return the validated :class:`Scenario`.

    Parameters
    ----------
    cfg : DictConfig
        Composed configuration (Hydra).
    catalog_ids : dict
        Catalog table name -> valid ids (from :func:`fleetsim.catalog.load`).

    Returns
    -------
    Scenario
        Values per key, swept keys and run settings.

    Raises
    ------
    ConfigError
        Naming the first bad field, its value and what is allowed.
    """
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except Exception as error:  # OmegaConf raises several types for bad interpolations
        key = str(getattr(error, "full_key", None) or "config")
        reason = str(error).split("\n", 1)[0]
        raise ConfigError(
            key, _unresolved(cfg, key), f"a resolvable interpolation ({reason})"
        ) from None
    _check_keys(resolved)
    _check_resolved_size(resolved)
    cfg = OmegaConf.create(resolved)
    values: dict[str, tuple] = {}
    swept: list[str] = []
    for spec in FIELDS:
        items, is_list = _as_values(spec.key, _get(cfg, spec.key))
        if spec.kind == "catalog":  # a nullable catalog field (draft_model) may be null
            ids = catalog_ids[spec.catalog]
            checked = tuple(
                None if v is None and spec.nullable else _check_label(spec, v, ids) for v in items
            )
        elif spec.kind == "choice":
            checked = tuple(_check_label(spec, v, spec.choices) for v in items)
        else:
            checked = tuple(_check_number(spec, v) for v in items)
        if len(set(checked)) != len(checked):
            raise _fail(spec.key, list(items), "a list without repeated values")
        values[spec.key] = checked
        if is_list:
            swept.append(spec.key)
    run = _validate_run(cfg)
    _cross_checks(values, run)
    run["mix"] = hardware_mix.parse(resolved.get("mix"), catalog_ids["hardware"], swept)
    uncertain = _validate_uncertainty(resolved.get("uncertainty"), swept, run)
    dimensions = (
        len(set(swept) | {"model", "hardware"}) + 1 + bool(uncertain and run["sweep.samples"])
    )
    if dimensions > MAX_DIMENSIONS:  # year, and sample when drawing, are dimensions too
        raise _fail(
            swept[-1],
            list(values[swept[-1]]),
            f"a single value: {len(swept)} swept fields give {dimensions} output dimensions "
            f"(with model, hardware, year and sample), NetCDF/numpy allow {MAX_DIMENSIONS}",
        )
    return Scenario(
        values, tuple(swept), run["finance.years"], run, OmegaConf.to_yaml(cfg), uncertain
    )


def _validate_uncertainty(tree: object, swept: list[str], run: dict[str, Any]) -> dict[str, Any]:
    """Return key -> distribution for the fields the ``uncertainty`` group makes uncertain."""
    uncertain: dict[str, Any] = {}
    for spec in FIELDS:
        node = tree
        for part in spec.key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        distribution = uncertainty.parse(spec, node)
        if distribution is None:
            continue
        if spec.key in swept:
            raise _fail(
                f"uncertainty.{spec.key}",
                node,
                f"null while {spec.key} is swept (a field is either swept or uncertain)",
            )
        uncertain[spec.key] = distribution
    samples = run["sweep.samples"]
    if samples > 0 and not uncertain:
        raise _fail(
            "sweep.samples",
            samples,
            "0 unless some uncertainty.* field has a distribution "
            "(e.g. uncertainty.finance.electricity_usd_per_kwh={dist:uniform,low:0.05,high:0.12})",
        )
    return uncertain


def _unresolved(cfg: DictConfig, key: str) -> object:
    """Return the raw (unresolved) value at ``key``, or a placeholder if it cannot be found."""
    node: object = OmegaConf.to_container(cfg, resolve=False)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return "<interpolation>"
        node = node[part]
    return node


def known_keys() -> set[str]:
    """Return every dotted config key fleetsim reads (scenario fields and run settings).

    Returns
    -------
    set of str
        Keys of :data:`FIELDS`, :data:`RUN_FIELDS` and the ``output`` switches.
    """
    uncertain = {
        f"uncertainty.{f.key}" for f in FIELDS if f.kind in ("number", "integer") and "." in f.key
    }
    return (
        {f.key for f in FIELDS}
        | set(RUN_FIELDS)
        | {"output.path", "output.float32", "output.overwrite", "output.variables"}
        | {"output.compression"}
        | {"mix.candidates", "mix.share_step", "mix.shares", "analysis.decide_over"}
        | uncertain
        | {f"{key}.{p}" for key in uncertain for p in uncertainty.PARAMETERS}
    )


def _check_keys(resolved: object, prefix: str = "") -> None:
    """Reject keys fleetsim does not read (a config built by hand, e.g. from ``config_yaml``)."""
    if not isinstance(resolved, dict):
        raise _fail(prefix or "config", resolved, "a mapping of config keys")
    known = known_keys()
    groups = {k.rsplit(".", i)[0] for k in known for i in range(1, k.count(".") + 1)}
    for name, node in resolved.items():
        key = f"{prefix}{name}"
        if key == "hydra":
            continue
        if key in groups and isinstance(node, dict):
            _check_keys(node, key + ".")
        elif key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _fail(key, node, f"a known config key{hint}")


def _validate_run(cfg: DictConfig) -> dict[str, Any]:
    run: dict[str, Any] = {}
    for key, (_, low, high) in RUN_FIELDS.items():
        value = _get(cfg, key)
        if key in ("output.significant_digits", "output.compression_level") and value is None:
            run[key] = None
            continue
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole or not low <= value <= high:
            if isinstance(value, ListConfig | list):
                raise _fail(
                    key,
                    value,
                    f"a single whole number in [{low}, {high}] (run settings cannot be swept)",
                )
            raise _fail(key, value, f"a whole number in [{low}, {high}]")
        run[key] = int(value)
    for key in ("output.float32", "output.overwrite"):
        value = _get(cfg, key)
        if not isinstance(value, bool):
            raise _fail(key, value, "true or false")
        run[key] = value
    path = _get(cfg, "output.path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        raise _fail("output.path", path, "a file path (non-empty string) or null")
    run["output.path"] = path
    compression = _get(cfg, "output.compression")
    if compression not in COMPRESSIONS:
        close = difflib.get_close_matches(str(compression), COMPRESSIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _fail("output.compression", compression, f"one of {', '.join(COMPRESSIONS)}{hint}")
    run["output.compression"] = compression
    run["output.variables"] = _validate_variables(_get(cfg, "output.variables"))
    run["analysis.decide_over"] = _validate_decide_over(_get(cfg, "analysis.decide_over"))
    return run


def _validate_decide_over(value: object) -> tuple[str, ...] | None:
    """Return ``analysis.decide_over``: null (the default decision dimensions) or dimension names."""
    if value is None:
        return None
    items = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise _fail(
            "analysis.decide_over",
            value,
            "null (hardware or mix, layout and serving mode) or a non-empty list of dimension "
            "names, e.g. [hardware,weight_dtype]",
        )
    return tuple(items)


def _validate_variables(value: object) -> tuple[str, ...]:
    """Return the output variables ``output.variables`` asks for (registry order).

    ``"all"`` (default) or a list of names from ``fleetsim/variables.yaml``; ``status`` is always
    written (it says which scenarios are feasible).
    """
    names = tuple(registry())
    if value == "all":
        return names
    items = value if isinstance(value, list | tuple) else None
    if isinstance(value, ListConfig):
        items = OmegaConf.to_container(value)
    if not items or not all(isinstance(v, str) for v in items):
        raise _fail("output.variables", value, f"'all' or a non-empty list of {', '.join(names)}")
    for name in items:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail("output.variables", name, f"one of {', '.join(names)}{hint}")
    return tuple(n for n in names if n == "status" or n in items)


#: ``output.compression`` choices (the default first; see fleetsim.io.encoding and the README)
COMPRESSIONS = ("blosc_lz4", "zstd", "zlib", "none")

#: most significant digits netCDF can keep (netCDF-C NC_QUANTIZE_MAX_FLOAT_NSD / _DOUBLE_NSD)
MAX_SIGNIFICANT_DIGITS = {True: 7, False: 15}


def _cross_checks(values: dict[str, tuple], run: dict[str, Any]) -> None:
    if run["sweep.shard"] >= run["sweep.shards"]:
        raise _fail(
            "sweep.shard",
            run["sweep.shard"],
            f"an index in [0, sweep.shards-1] = [0, {run['sweep.shards'] - 1}]",
        )
    digits, float32 = run["output.significant_digits"], run["output.float32"]
    if digits is not None and digits > MAX_SIGNIFICANT_DIGITS[float32]:
        raise _fail(
            "output.significant_digits",
            digits,
            f"null or a whole number in [1, {MAX_SIGNIFICANT_DIGITS[float32]}] "
            f"with output.float32={str(float32).lower()}",
        )
