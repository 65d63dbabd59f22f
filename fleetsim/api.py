"""The one Python API behind the CLI and notebooks: compose a config, run it, get a Dataset."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Sequence

import xarray as xr
from omegaconf import DictConfig

from fleetsim import config, paths
from fleetsim.errors import ConfigError, one_line

#: config groups that hold a choice of YAML file (``workload=offline``)
GROUPS = ("deployment", "workload", "facility", "network", "finance", "experiment", "local")


def _known_keys() -> set[str]:
    return config.known_keys()


def group_options(group: str) -> tuple[str, ...]:
    """Return the options of a config group: the YAML files in ``conf/<group>/``.

    Parameters
    ----------
    group : str
        One of :data:`GROUPS`.

    Returns
    -------
    tuple of str
        File names without ``.yaml``, sorted.
    """
    folder = paths.conf_dir() / group
    return tuple(sorted(p.stem for p in folder.glob("*.yaml"))) if folder.is_dir() else ()


def _check_group(group: str, value: object) -> None:
    """Reject ``group=option`` when the option is not a file of the group."""
    choices = getattr(value, "list", None)  # a multirun sweep a,b,c
    for option in choices if isinstance(choices, list) else [value]:
        if option is not None and not isinstance(option, str):
            continue  # a dict or list merges into the group; the schema checks its keys
        options = group_options(group)
        if option in options:
            continue
        close = difflib.get_close_matches(str(option), options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = ", ".join(options) or "there are none yet"
        raise ConfigError(group, option, f"one of the files in conf/{group}/: {listing}{hint}")


def check_overrides(overrides: Sequence[str]) -> None:
    """Reject overrides of keys fleetsim does not have, before Hydra composes anything.

    Parameters
    ----------
    overrides : sequence of str
        ``key=value`` strings as on the command line (Hydra's own ``hydra.*`` and
        ``hydra/...`` overrides and flags starting with ``-`` are passed through).

    Raises
    ------
    ConfigError
        Naming the key and the closest known key, a malformed override, or an unknown option of
        a config group. ``+key=...`` (adding keys) is rejected: the schema is fixed.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    known = _known_keys()
    for item in overrides:
        if not isinstance(item, str):
            raise ConfigError("overrides", item, "strings of the form key=value")
        if item.startswith("-"):
            continue
        key, sep, value = item.partition("=")
        if "_target_" in key:
            raise ConfigError(
                key, value, "no '_target_' keys (fleetsim never instantiates objects from config)"
            )
        if item.startswith("hydra"):
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
            _check_group(key, parsed.value())
            continue
        if key in known or key.startswith("hydra"):
            continue
        group = key.split(".", 1)[0]
        siblings = sorted(k for k in known if k.startswith(group + "."))
        close = difflib.get_close_matches(key, siblings or sorted(known | set(GROUPS)), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = (
            f"; {group} has: {', '.join(k.split('.', 1)[1] for k in siblings)}" if siblings else ""
        )
        raise ConfigError(key, value, f"a known config key{hint}{listing}")


def compose(overrides: Sequence[str] | None = None) -> DictConfig:
    """Compose the configuration from ``conf/`` and ``overrides`` (Hydra compose API).

    Raises
    ------
    ConfigError
        For unknown keys, unknown group options, malformed overrides and multirun sweeps
        (``key=a,b``), which only the CLI's ``-m`` can launch.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if isinstance(overrides, str):
        raise ConfigError("overrides", overrides, "a list of key=value strings")
    overrides = list(overrides or [])
    flags = [o for o in overrides if isinstance(o, str) and o.startswith("-")]
    if flags:
        raise ConfigError("overrides", flags[0], "key=value overrides (flags are for the CLI)")
    check_overrides(overrides)
    parser = OverridesParser.create()
    for item in overrides:
        if item.startswith("hydra") or "=" not in item:
            continue
        if parser.parse_override(item).is_sweep_override():
            key, _, value = item.partition("=")
            raise ConfigError(
                key,
                value,
                "a single value or a list [a,b] (a list sweeps inside one run; "
                "key=a,b launches separate jobs and needs the CLI's -m)",
            )
    config.register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(
            config_dir=str(paths.conf_dir()), version_base="1.3", job_name="fleetsim"
        ):
            return hydra_compose(config_name="config", overrides=overrides)
    except Exception as error:  # Hydra/OmegaConf raise several types; users get one
        message = " ".join(str(error).split("Config search path")[0].split())
        raise ConfigError("overrides", overrides, f"a valid composition ({message})") from None


def _check_memory(n: int, years: int, shards: int) -> None:
    """Refuse a sweep whose outputs cannot fit in memory, before allocating them."""
    from fleetsim import sweep

    need = sweep.output_bytes(n, years)
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
            "(raise sweep.shards or sweep fewer values)",
        )


def run_config(cfg: DictConfig, progress: bool | None = None) -> xr.Dataset:
    """Run a composed configuration and return its Dataset.

    Parameters
    ----------
    cfg : DictConfig
        Composed configuration (from :func:`compose` or ``@hydra.main``).
    progress : bool, optional
        Show a progress bar; default: when stderr is a terminal and ``CI`` is unset.

    Returns
    -------
    xarray.Dataset
        The sweep (or this job's shard of it).
    """
    from fleetsim import axes, catalog, dataset, sweep

    loaded = catalog.load()
    scenario = config.validate(cfg, loaded.ids())
    shards, index = scenario.run["sweep.shards"], scenario.run["sweep.shard"]
    whole = axes.build(scenario)
    grid = axes.shard(whole, shards, index)
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    total = axes.size(grid)
    _check_memory(total, scenario.years, scenario.run["sweep.shards"])
    bar = None
    if progress and total > 100_000:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="scenario", unit_scale=True, file=sys.stderr)
    try:
        arrays = sweep.run(
            scenario, loaded, grid, scenario.run["sweep.chunk_size"], bar.update if bar else None
        )
    finally:
        if bar is not None:
            bar.close()
    ds = dataset.build(arrays, scenario, loaded.sha256)
    if shards > 1:  # lets fleetsim.open_dataset put the shards back in sweep order
        ds.attrs.update(
            sweep_shard=index,
            sweep_shards=shards,
            sweep_shard_dimension=whole[axes.shard_axis(whole)].name,
        )
    return ds


def run(overrides: list[str] | None = None) -> xr.Dataset:
    """Compose ``conf/`` with ``overrides`` and run it, exactly as the ``fleetsim`` CLI does.

    Parameters
    ----------
    overrides : list of str, optional
        Hydra-style overrides, e.g. ``["hardware=[h100-sxm,b200]", "finance.years=3"]``.

    Returns
    -------
    xarray.Dataset
        Named dimensions per swept parameter plus ``year``; see ``fleetsim/variables.yaml``.

    Raises
    ------
    fleetsim.InputError
        For any bad config value, override or catalog row (one line: field, value, allowed).
    """
    return run_config(compose(overrides))
