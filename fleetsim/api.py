"""The one Python API behind the CLI and notebooks: compose a config, run it, get a Dataset."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Sequence

import xarray as xr
from omegaconf import DictConfig

from fleetsim import config, paths
from fleetsim.errors import ConfigError

#: config groups that hold a choice of YAML file (``workload=offline``)
GROUPS = ("deployment", "workload", "facility", "network", "finance", "experiment")


def _known_keys() -> set[str]:
    keys = {f.key for f in config.FIELDS} | set(config.RUN_FIELDS)
    keys |= {"output.path", "output.float32", "output.overwrite"}
    return keys


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
        Naming the key and the closest known key. ``+key=...`` (adding keys) is rejected: the
        schema is fixed.
    """
    known = _known_keys()
    for item in overrides:
        if item.startswith("-") or item.startswith("hydra"):
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(item, None, "overrides of the form key=value")
        if key.startswith(("+", "~")):
            raise ConfigError(
                key, value, "existing keys only (fleetsim's schema is fixed; drop the '+'/'~')"
            )
        if key in GROUPS or key in known or key.startswith("hydra"):
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
        For unknown keys, unknown group options and malformed overrides.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = list(overrides or [])
    check_overrides(overrides)
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
    grid = axes.shard(
        axes.build(scenario), scenario.run["sweep.shards"], scenario.run["sweep.shard"]
    )
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    total = axes.size(grid)
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
    return dataset.build(arrays, scenario, loaded.sha256)


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
