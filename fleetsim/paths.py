"""Where fleetsim's ``conf/`` and ``data/`` folders are.

In a source checkout they sit at the top level of the repository; an installed wheel carries
them inside the package as ``_conf`` and ``_data`` (see ``pyproject.toml``). This module is the
only place that decides.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _first_existing(marker: str, *candidates: Path) -> Path:
    """Return the first candidate folder that holds the file ``marker``.

    A folder of the same name without it (an empty ``site-packages/data`` left by another
    package's install) is passed over, so it cannot shadow the bundled one.
    """
    for candidate in candidates:
        if (candidate / marker).is_file():
            return candidate
    raise FileNotFoundError(
        "fleetsim could not find its folder; looked in " + ", ".join(str(c) for c in candidates)
    )


@cache
def conf_dir() -> Path:
    """Return the Hydra configuration folder (``conf/``)."""
    return _first_existing("config.yaml", _PACKAGE_DIR.parent / "conf", _PACKAGE_DIR / "_conf")


@cache
def _builtin_data_dir() -> Path:
    return _first_existing("hardware.csv", _PACKAGE_DIR.parent / "data", _PACKAGE_DIR / "_data")


def data_dir() -> Path:
    """Return the catalog folder: ``$FLEETSIM_DATA_DIR`` if set, else the bundled ``data/``.

    A custom catalog folder holds the same CSV files (``hardware.csv``, ``models.csv``, ...);
    its rows are checked against the bundled schemas (:func:`schema_dir`).
    """
    custom = os.environ.get("FLEETSIM_DATA_DIR")
    return Path(custom) if custom else _builtin_data_dir()


def schema_dir() -> Path:
    """Return the folder of catalog schemas (always the bundled ``data/schema``)."""
    return _builtin_data_dir() / "schema"
