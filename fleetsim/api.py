"""The one Python API behind the CLI and notebooks: compose a config, run it, get a Dataset."""

from __future__ import annotations

import copy
import difflib
import hashlib
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from omegaconf import DictConfig, OmegaConf

from fleetsim import config, paths
from fleetsim.errors import ConfigError, one_line

if TYPE_CHECKING:
    import xarray as xr

    from fleetsim.catalog import Catalog

#: config groups that hold a choice of YAML file (``workload=offline``)
GROUPS = ("deployment", "workload", "facility", "network", "finance", "experiment", "local")


def group_options(group: str, config_dir: str | os.PathLike | None = None) -> tuple[str, ...]:
    """Return the options of a config group: the YAML files in ``conf/<group>/``.

    Parameters
    ----------
    group : str
        One of :data:`GROUPS`.
    config_dir : path-like, optional
        A user config folder (the CLI's ``--config-dir``) whose ``<group>/*.yaml`` files are
        options too.

    Returns
    -------
    tuple of str
        File names without ``.yaml``, sorted.
    """
    folders = [paths.conf_dir() / group]
    if config_dir is not None:
        folders.append(Path(config_dir) / group)
    return tuple(sorted({p.stem for folder in folders for p in folder.glob("*.yaml")}))


def _check_group(group: str, value: object, config_dir: str | os.PathLike | None) -> None:
    """Reject ``group=option`` when the option is not a file of the group."""
    if isinstance(value, list):  # presets are not a sweep dimension: separate jobs compare them
        options = [str(v) for v in value] or ["a", "b"]
        raise ConfigError(
            group,
            value,
            f"one option of conf/{group}/ (a list of presets would merge them, not sweep them): "
            f"compare presets as separate jobs with -m {group}={','.join(options)}, or sweep "
            f"the fields that differ, e.g. {group}.<field>=[x,y]",
        )
    choices = getattr(value, "list", None)  # a multirun sweep a,b,c
    for option in choices if isinstance(choices, list) else [value]:
        if option is not None and not isinstance(option, str):
            continue  # a dict merges into the group; the schema checks its keys
        options = group_options(group, config_dir)
        if option in options:
            continue
        close = difflib.get_close_matches(str(option), options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = ", ".join(options) or "there are none yet"
        where = f"conf/{group}/" + (f" or {Path(config_dir) / group}/" if config_dir else "")
        raise ConfigError(group, option, f"one of the files in {where}: {listing}{hint}")


def is_hydra_override(item: str) -> bool:
    """Return whether ``item`` sets Hydra's own config (``hydra=``, ``hydra.*``, ``hydra/...``)."""
    key = item.partition("=")[0]
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def check_overrides(overrides: Sequence[str], config_dir: str | os.PathLike | None = None) -> None:
    """Reject overrides of keys fleetsim does not have, before Hydra composes anything.

    Parameters
    ----------
    overrides : sequence of str
        ``key=value`` strings as on the command line (Hydra's own ``hydra.*`` and
        ``hydra/...`` overrides are passed through).
    config_dir : path-like, optional
        A user config folder whose group files are options too (``--config-dir``).

    Raises
    ------
    ConfigError
        Naming the key and the closest known key, a malformed override, or an unknown option of
        a config group. ``+key=...`` (adding keys) is rejected: the schema is fixed.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    known = config.known_keys()
    for item in overrides:
        if not isinstance(item, str):
            raise ConfigError("overrides", item, "strings of the form key=value")
        key, sep, value = item.partition("=")
        if "_target_" in key:
            raise ConfigError(
                key, value, "no '_target_' keys (fleetsim never instantiates objects from config)"
            )
        if is_hydra_override(item):
            continue
        if key.startswith(("+", "~")):
            raise ConfigError(
                key, value, "existing keys only (fleetsim's schema is fixed; drop the '+'/'~')"
            )
        if not sep:
            raise ConfigError(item, None, "overrides of the form key=value")
        try:
            parsed = parser.parse_override(item)
        except Exception as error:  # Hydra's grammar raises HydraException subclasses
            reason = one_line(str(error).split("See https://")[0])
            raise ConfigError(key, value, f"valid override syntax ({reason})") from None
        if key in GROUPS:
            _check_group(key, parsed.value(), config_dir)
            continue
        if key in known:
            continue
        group = _known_group(key, known)
        siblings = sorted(k for k in known if k.startswith(group + "."))
        close = difflib.get_close_matches(key, siblings or sorted(known | set(GROUPS)), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        children = sorted({k[len(group) + 1 :].split(".", 1)[0] for k in siblings})
        listing = f"; {group} has: {', '.join(children)}" if siblings else ""
        raise ConfigError(key, value, f"a known config key{hint}{listing}")


def _known_group(key: str, known: set[str]) -> str:
    """Return the longest prefix of ``key`` that is a group of known keys (else its first part)."""
    parts = key.split(".")
    for end in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:end])
        if any(k.startswith(prefix + ".") for k in known):
            return prefix
    return parts[0]


def compose(
    overrides: Sequence[str] | None = None,
    config_dir: str | os.PathLike | None = None,
    config_name: str = "config",
) -> DictConfig:
    """Compose the configuration from ``conf/`` and ``overrides`` (Hydra compose API).

    Composed configs are cached per process, keyed by the content of the ``conf/`` tree and
    the overrides (an edited YAML file composes afresh); each call returns its own copy.

    Parameters
    ----------
    overrides : sequence of str, optional
        ``key=value`` strings as on the command line.
    config_dir : path-like, optional
        A user config folder searched after ``conf/`` (as the CLI's ``--config-dir``): its
        group files (``experiment/mine.yaml``) compose with the packaged ones.
    config_name : str, default "config"
        The primary config (the CLI's ``--config-name``).

    Raises
    ------
    ConfigError
        For unknown keys, unknown group options, malformed overrides and multirun sweeps
        (``key=a,b``), which only the CLI's ``-m`` can launch.
    """
    return copy.deepcopy(_composed(overrides, config_dir, config_name))


def conf_digest() -> str:
    """Return a hash of every file of the ``conf/`` tree (names and contents)."""
    digest = hashlib.sha256()
    root = paths.conf_dir()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


#: (conf digest, overrides) -> composed config, read-only (see :func:`_composed`)
_COMPOSED: dict[tuple[str, tuple[str, ...]], DictConfig] = {}


#: (id of a cached config, catalog checksum) -> its validated Scenario (see :func:`prepare`)
_VALIDATED: dict[tuple[int, str], config.Scenario] = {}


def _composed(
    overrides: Sequence[str] | None,
    config_dir: str | os.PathLike | None = None,
    config_name: str = "config",
) -> DictConfig:
    """Return the composed config (read-only: copy it to change it).

    From the per-process cache when the same ``conf/`` tree and overrides were composed before
    (a user ``config_dir`` or another ``config_name`` always composes afresh).
    """
    if isinstance(overrides, str):
        raise ConfigError("overrides", overrides, "a list of key=value strings")
    items = list(overrides or [])
    if config_dir is not None or config_name != "config":
        return _compose_with_hydra(items, config_dir, config_name)
    key = (conf_digest(), tuple(str(o) for o in items))
    cfg = _COMPOSED.get(key)
    if cfg is None:
        cfg = _compose_with_hydra(items)
        OmegaConf.set_readonly(cfg, True)
        _COMPOSED[key] = cfg
    return cfg


def _compose_with_hydra(
    overrides: list, config_dir: str | os.PathLike | None = None, config_name: str = "config"
) -> DictConfig:
    """Check ``overrides`` and compose ``conf/`` with them through Hydra (no cache)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = check_run_overrides(overrides, config_dir)
    search = []
    if config_dir is not None:
        search = [f"hydra.searchpath=[file://{Path(config_dir).resolve().as_posix()}]"]
    config.register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(
            config_dir=str(paths.conf_dir()), version_base="1.3", job_name="fleetsim"
        ):
            return hydra_compose(config_name=config_name, overrides=overrides + search)
    except Exception as error:  # Hydra/OmegaConf raise several types; users get one
        raise composition_error(error, overrides) from None


def check_run_overrides(
    overrides: Sequence[str], config_dir: str | os.PathLike | None = None
) -> list[str]:
    """Check the overrides of one run (no multirun sweep) before Hydra composes them.

    Parameters
    ----------
    overrides : sequence of str
        ``key=value`` strings.
    config_dir : path-like, optional
        A user config folder (``--config-dir``), which must exist.

    Returns
    -------
    list of str
        The overrides, as a list.

    Raises
    ------
    ConfigError
        As :func:`check_overrides`, and for a flag, a multirun sweep (``key=a,b``) or a missing
        ``config_dir``.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if isinstance(overrides, str):
        raise ConfigError("overrides", overrides, "a list of key=value strings")
    overrides = list(overrides or [])
    flags = [o for o in overrides if isinstance(o, str) and o.startswith("-")]
    if flags:
        raise ConfigError("overrides", flags[0], "key=value overrides (flags are for the CLI)")
    check_overrides(overrides, config_dir)
    parser = OverridesParser.create()
    for item in overrides:
        if is_hydra_override(item) or "=" not in item:
            continue
        if parser.parse_override(item).is_sweep_override():
            key, _, value = item.partition("=")
            raise ConfigError(
                key,
                value,
                "a single value or a list [a,b] (a list sweeps inside one run; "
                "key=a,b launches separate jobs and needs the CLI's -m)",
            )
    if config_dir is not None and not Path(config_dir).is_dir():
        raise ConfigError("--config-dir", str(config_dir), "an existing folder")
    return overrides


def composition_error(error: Exception, overrides: Sequence[str]) -> ConfigError:
    """Return the one-line error for a composition Hydra or OmegaConf refused."""
    message = " ".join(str(error).split("Config search path")[0].split())
    if "uncertainty." in message and "+uncertainty" in message:  # a parameter of a null
        message = (
            "give a whole distribution, e.g. "
            "uncertainty.finance.electricity_usd_per_kwh={dist:uniform,low:0.05,high:0.12}"
        )
    return ConfigError("overrides", list(overrides), f"a valid composition ({message})")


#: most compositions :func:`sweep_points` asks for (beyond it: the first value of each sweep)
MAX_SWEEP_CHECKS = 64


def sweep_points(overrides: Sequence[str]) -> list[list[str]]:
    """Return override lists that together try every value of a multirun's sweeps.

    Hydra's ``-m`` launches one job per combination of ``key=a,b,c`` sweeps; checking each
    value once (with the other sweeps at their first value) finds a bad value before any job
    starts, in ``sum`` rather than ``product`` of the sweeps' lengths compositions.

    Parameters
    ----------
    overrides : sequence of str
        Overrides as given to ``fleetsim -m``.

    Returns
    -------
    list of list of str
        Single-run override lists (no sweep left in them); only the first combination when
        the sweeps have more than :data:`MAX_SWEEP_CHECKS` values in all.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    choices = []
    for override in parsed:
        if override.is_sweep_override():
            key = override.get_key_element()
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([override.input_line])
    first = [options[0] for options in choices]
    if sum(len(options) - 1 for options in choices) + 1 > MAX_SWEEP_CHECKS:
        return [first]
    points = [first]
    for index, options in enumerate(choices):
        points += [[*first[:index], option, *first[index + 1 :]] for option in options[1:]]
    return points


def _check_memory(n: int, years: int, shards: int, selection=None, dtype=np.float32) -> None:
    """Refuse a sweep whose outputs cannot fit in memory, before allocating them.

    Counts what :func:`fleetsim.sweep.run` allocates: the outputs in their stored dtype (no
    other copy is made).
    """
    from fleetsim import sweep

    need = sweep.output_bytes(n, years, selection, dtype)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: let numpy report it
        return
    if need > total // 2:
        raise ConfigError(
            "sweep.shards",
            shards,
            f"enough shards for one shard's outputs to fit in memory: {n:,} scenarios x "
            f"{years} years need {need / 1e9:,.1f} GB, this machine has {total / 1e9:,.1f} GB "
            "(raise sweep.shards or sweep fewer values, or write the sweep to a file with the "
            "fleetsim command or fleetsim.api.write, which streams it)",
        )


def available_cpus() -> int:
    """Return the CPUs this process may use (SLURM allocation, CPU affinity, or all)."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_threads(threads: int = 0) -> int:
    """Set the kernel's thread count; return it.

    Parameters
    ----------
    threads : int
        ``sweep.threads``: 0 (default) means every CPU this process may use
        (:func:`available_cpus`), never more than Numba's pool (``NUMBA_NUM_THREADS``).
    """
    import numba

    wanted = threads if threads > 0 else available_cpus()
    count = max(1, min(wanted, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(count)
    return count


#: a sweep's progress bar appears once the sweep has run this long [s]
PROGRESS_DELAY_S = 2.0


def _progress_bar(progress: bool | None, total: int):
    """Return a tqdm bar when wanted (default: stderr is a terminal and ``CI`` is unset).

    Whatever the sweep's size, the bar shows only once it has run :data:`PROGRESS_DELAY_S`
    (tqdm's ``delay``): a quick sweep prints nothing, a slow one says how far it is.
    """
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, unit="scenario", unit_scale=True, file=sys.stderr, delay=PROGRESS_DELAY_S
    )


class Prepared(NamedTuple):
    """A configuration validated and ready to run (:func:`prepare`)."""

    #: the catalog, with the rows of any files the config brings (:func:`fleetsim.byo.extend`)
    catalog: Catalog
    #: the validated configuration
    scenario: config.Scenario
    #: the whole sweep's axes
    whole: tuple
    #: this shard's axes
    grid: tuple


def prepare(cfg: DictConfig) -> Prepared:
    """Validate a composed configuration once, for :func:`write_config` to run.

    The CLI checks a run this way before Hydra makes its output folder and hands the result to
    the job, which then does not validate it again.

    Parameters
    ----------
    cfg : DictConfig
        Composed configuration (without Hydra's ``hydra`` node).

    Returns
    -------
    Prepared
        The catalog (with brought files and ``all`` selections expanded), the validated
        scenario and the axes of the sweep and of this shard.

    Raises
    ------
    fleetsim.InputError
        For any bad config value or brought file (one line: field, value, allowed).
    """
    from fleetsim import axes, byo, catalog

    original = cfg
    cfg, loaded = byo.extend(cfg, catalog.load())  # files users bring, model=all, ...
    key = (id(original), loaded.sha256)  # a cached config lives (and keeps its id) for the process
    scenario = _VALIDATED.get(key)
    if scenario is None:
        scenario = config.validate(cfg, loaded.ids())
        if any(cached is original for cached in _COMPOSED.values()):
            _VALIDATED[key] = scenario
    whole = axes.build(scenario)
    config.check_sweep_size({a.name: len(a) for a in whole}, scenario.run["sweep.shards"])
    grid = axes.shard(whole, scenario.run["sweep.shards"], scenario.run["sweep.shard"])
    return Prepared(loaded, scenario, whole, grid)


def _shard_attrs(scenario: config.Scenario, whole: tuple) -> dict[str, object]:
    """Attributes that let :func:`fleetsim.open_dataset` put shards back in sweep order."""
    from fleetsim import axes

    shards = scenario.run["sweep.shards"]
    if shards == 1:
        return {}
    return {
        "sweep_shard": scenario.run["sweep.shard"],
        "sweep_shards": shards,
        "sweep_shard_dimension": whole[axes.shard_axis(whole)].name,
    }


def run_config(cfg: DictConfig, progress: bool | None = None) -> xr.Dataset:
    """Run a composed configuration and return its Dataset (in memory).

    Parameters
    ----------
    cfg : DictConfig
        Composed configuration (from :func:`compose` or ``@hydra.main``).
    progress : bool, optional
        Show a progress bar; default: when stderr is a terminal and ``CI`` is unset.

    Returns
    -------
    xarray.Dataset
        The sweep (or this job's shard of it) with the ``output.variables``, in float32
        (``output.float32``, the default: the kernel's float64 values rounded once, as a file
        stores them) or float64 (``output.float32=false``).
    """
    from fleetsim import axes, byo, dataset, sweep

    loaded, scenario, whole, grid = prepare(cfg)
    selection = sweep.Selection.of(scenario.run["output.variables"])
    dtype = np.float32 if scenario.run["output.float32"] else np.float64
    total = axes.size(grid)
    _check_memory(total, scenario.years, scenario.run["sweep.shards"], selection, dtype)
    set_threads(scenario.run["sweep.threads"])
    bar = _progress_bar(progress, total)
    try:
        arrays = sweep.run(
            scenario, loaded, grid, scenario.run["sweep.chunk_size"],
            bar.update if bar else None, selection, dtype,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    ds = dataset.build(arrays, scenario, loaded.sha256)
    ds.attrs.update(_shard_attrs(scenario, whole))
    ds.attrs.update(byo.attrs(loaded))
    return ds


#: most bytes of outputs one streamed chunk holds (``sweep.chunk_size`` is capped to fit)
MAX_CHUNK_BYTES = 256 * 2**20


class Stopped(RuntimeError):
    """:func:`write_config` was asked to stop (its ``stop`` event was set); nothing was written."""


@dataclass(frozen=True)
class Written:
    """What :func:`write_config` did.

    Parameters
    ----------
    path : Path
        The output file.
    skipped : bool
        The file already held this sweep's complete output (same ``config_sha256``).
    scenarios : int
        Scenarios in the file.
    seconds : float
        Wall time of the evaluation and write (0 when skipped).
    """

    path: Path
    skipped: bool
    scenarios: int
    seconds: float = 0.0


def output_file(run: dict, default_dir: str | os.PathLike) -> Path:
    """Return the file a run writes.

    Unsharded: ``output.path``, or ``<default_dir>/fleetsim.nc``. Sharded (``sweep.shards`` > 1):
    ``<dir>/part-00003-of-00016.nc`` where ``dir`` is ``output.path`` (a directory) or
    ``default_dir``, so every shard of a sweep lands in one directory under a name that depends
    only on its index.
    """
    path, shards = run["output.path"], run["sweep.shards"]
    if shards == 1:
        return Path(path) if path else Path(default_dir) / "fleetsim.nc"
    if path and str(path).endswith(".nc"):
        raise ConfigError(
            "output.path",
            path,
            "a directory when sweep.shards > 1 (each shard writes part-<i>-of-<n>.nc there)",
        )
    folder = Path(path) if path else Path(default_dir)
    return folder / f"part-{run['sweep.shard']:05d}-of-{shards:05d}.nc"


def write_config(
    cfg: DictConfig | Prepared,
    default_dir: str | os.PathLike = ".",
    progress: bool | None = None,
    threads: int | None = None,
    stop: threading.Event | None = None,
) -> Written:
    """Run a composed configuration straight into its NetCDF file, chunk by chunk.

    Memory stays at a few chunks whatever the sweep's size; the writer (one thread, each
    chunk's variables compressed on as many threads as the kernel has) overlaps the kernel.
    Re-running the same config finds the complete file (same ``config_sha256``) and skips it,
    which makes a killed or partly failed sharded sweep resumable; a file written by another config is an error unless ``output.overwrite=true``.

    Parameters
    ----------
    cfg : DictConfig or Prepared
        Composed configuration, or one :func:`prepare` validated already.
    default_dir : path-like
        Where the file goes when ``output.path`` is null (see :func:`output_file`).
    progress : bool, optional
        Show a progress bar; default: when stderr is a terminal and ``CI`` is unset.
    threads : int, optional
        Kernel threads when ``sweep.threads`` is 0 (the CLI passes the launcher's share).
    stop : threading.Event, optional
        Checked before each chunk is written: once set, the temporary file is deleted and
        :class:`Stopped` is raised (the CLI sets it on SIGTERM).

    Returns
    -------
    Written
        The file, and whether it was skipped.
    """
    import time

    from fleetsim import axes, byo, dataset, io, sweep

    loaded, scenario, whole, grid = cfg if isinstance(cfg, Prepared) else prepare(cfg)
    run = scenario.run
    final = output_file(run, default_dir)
    total = axes.size(grid)
    io.remove_stale_temporaries(final)
    checksum = dataset.config_sha256(scenario, loaded.sha256)
    if io.existing_output(final, checksum, run["output.overwrite"]):
        return Written(final, True, total)
    kernel_threads = set_threads(run["sweep.threads"] or threads or 0)
    names = run["output.variables"]
    selection = sweep.Selection.of(names)
    itemsize = 4 if run["output.float32"] else 8
    per_scenario = itemsize * (len(selection.scenario) + len(selection.year) * scenario.years) + 1
    chunk_size = max(1, min(run["sweep.chunk_size"], MAX_CHUNK_BYTES // per_scenario))
    chunk_shape, _ = sweep.plan(axes.shape(grid), chunk_size)
    template = dataset.template(grid, scenario.years, scenario, loaded.sha256, names)
    template.attrs.update(_shard_attrs(scenario, whole))
    template.attrs.update(byo.attrs(loaded))
    started = time.perf_counter()
    writer = io.StreamWriter(
        template, final, dict(zip(template["status"].dims, chunk_shape, strict=True)),
        overwrite=run["output.overwrite"], threads=kernel_threads, float32=run["output.float32"],
        compression=run["output.compression"], compression_level=run["output.compression_level"],
        significant_digits=run["output.significant_digits"],
    )  # fmt: skip
    scenario_names, year_names = selection.scenario_names, selection.year_names

    def consume(chunk: sweep.Chunk) -> None:
        if stop is not None and stop.is_set():
            raise Stopped(f"stopped before {final} was complete")
        arrays = {"status": chunk.status}
        arrays.update(zip(scenario_names, chunk.scenario, strict=True))
        arrays.update(zip(year_names, chunk.year, strict=True))
        writer.write(chunk.slab.slices(), arrays)
        if chunk.slab.lo == 0 and chunk.slab.hi < total:  # the first of several chunks
            io.check_free_space(writer, total / chunk.slab.hi)

    bar = _progress_bar(progress, total)
    try:
        sweep.stream(
            scenario, loaded, grid, chunk_size, consume, selection,
            np.float32 if run["output.float32"] else np.float64, bar.update if bar else None,
        )  # fmt: skip
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    return Written(final, False, total, time.perf_counter() - started)


def write(overrides: list[str] | None = None, path: str | os.PathLike | None = None) -> Path:
    """Compose ``conf/`` with ``overrides`` and stream the sweep to NetCDF, as the CLI does.

    For sweeps too large for :func:`run`'s in-memory Dataset. Open the result lazily with
    :func:`fleetsim.open_dataset`.

    Parameters
    ----------
    overrides : list of str, optional
        Hydra-style overrides.
    path : path-like, optional
        Output file (directory when sharded); default ``output.path``, else the current
        directory.

    Returns
    -------
    Path
        The file written (or found complete).
    """
    overrides = list(overrides or [])
    if path is not None:
        overrides.append(f"output.path={Path(path).as_posix()}")
    return write_config(compose(overrides)).path


def warm() -> None:
    """Compile (or load from Numba's cache) every kernel signature a sweep may use.

    The CLI calls this in the parent process before a Hydra launcher starts parallel jobs, so
    the jobs read a warm cache instead of racing to write it (numba#4807, numba#10128).
    """
    from fleetsim import axes, catalog, sweep

    loaded = catalog.load()
    ids = loaded.ids()
    first = [f"{f.key}={ids[f.catalog][0]}" for f in config.FIELDS if f.kind == "catalog"]
    scenario = config.validate(compose(first), ids)
    grid = axes.build(scenario)
    # one compiled signature serves float32 and float64 outputs (see fleetsim.kernel.evaluate),
    # and the full kernel every sweep (a job finds it ready and compiles no other)
    sweep.warm(scenario, loaded, grid)


def _override_value(value: object) -> str:
    """Return a Python value in Hydra's override syntax (lists as ``[a,b]``, None as null)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def as_overrides(overrides: str | Sequence[str] | None = None, **fields: object) -> list[str]:
    """Return the ``key=value`` strings a mix of overrides and keyword fields stands for.

    Parameters
    ----------
    overrides : str or sequence of str, optional
        Overrides as on the command line; one string is split like a shell line
        (``"hardware=[h100-sxm,b200] finance.years=3"``).
    **fields
        ``key=value`` with Python values: a list sweeps (``hardware=["h100-sxm", "b200"]``), a
        dict sets keys of a group (``workload={"requests_per_day": 5e7}`` is
        ``workload.requests_per_day=5e7``), a string names a group option or a catalog id
        (``workload="offline"``), ``None`` is null.

    Returns
    -------
    list of str
        The overrides first, then the fields in the order given.
    """
    import shlex

    items = shlex.split(overrides) if isinstance(overrides, str) else list(overrides or [])

    def flatten(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                flatten(f"{prefix}.{key}", inner)
        else:
            items.append(f"{prefix}={_override_value(value)}")

    for key, value in fields.items():
        flatten(key, value)
    return items


def run(overrides: str | Sequence[str] | None = None, **fields: object) -> xr.Dataset:
    """Compose ``conf/`` with overrides and run it, exactly as the ``fleetsim`` CLI does.

    Parameters
    ----------
    overrides : str or sequence of str, optional
        Hydra-style overrides, e.g. ``["hardware=[h100-sxm,b200]", "finance.years=3"]`` or the
        same as one string, ``"hardware=[h100-sxm,b200] finance.years=3"``.
    **fields
        The same as Python values (see :func:`as_overrides`), e.g.
        ``run(hardware=["h100-sxm", "b200"], workload={"requests_per_day": 5e7})``.

    Returns
    -------
    xarray.Dataset
        Named dimensions per swept parameter plus ``year``; see ``fleetsim/variables.yaml``.

    Raises
    ------
    fleetsim.InputError
        For any bad config value, override or catalog row (one line: field, value, allowed).
    """
    return run_config(_composed(as_overrides(overrides, **fields)))
