"""The ``fleetsim`` command: Hydra CLI -> api.run_config -> io.write -> printed summary."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fleetsim import config, paths
from fleetsim.errors import InputError, one_line


def _fail(error: Exception, status: int = 2) -> None:
    print(f"fleetsim: error: {one_line(str(error))}", file=sys.stderr)
    sys.exit(status)


@hydra.main(config_path=str(paths.conf_dir()), config_name="config", version_base="1.3")
def _job(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from fleetsim import api, io, summary
    from fleetsim.sweep import SweepError

    try:
        ds = api.run_config(cfg)
        path = cfg.output.path or Path(HydraConfig.get().runtime.output_dir) / "fleetsim.nc"
        out = cfg.output
        written = io.write(ds, path, overwrite=out.overwrite, float32=out.float32,
                           compression_level=out.compression_level, significant_digits=out.significant_digits)  # fmt: skip
    except (InputError, OSError) as error:
        _fail(error)
    except SweepError as error:  # a kernel bug, not bad input: one line, status 1
        _fail(error, status=1)
    print(summary.summarise(ds))
    print(f"written: {written}")


def main() -> None:
    """Entry point of the ``fleetsim`` console script and ``python -m fleetsim``.

    Overrides are checked (and, for a single run, composed) before Hydra starts, so a bad
    override prints one line and exits with status 2. Multirun sweeps (``-m``) and other Hydra
    flags are left to Hydra, which reports its own errors.
    """
    from fleetsim import api

    argv = sys.argv[1:]
    try:
        api.check_overrides(argv)
        if not any(a.startswith("-") for a in argv):
            api.compose([a for a in argv if not a.startswith("hydra")])
    except InputError as error:
        _fail(error)
    config.register()
    _job()
