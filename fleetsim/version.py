"""The installed fleetsim version (``fleetsim --version`` reads it without importing xarray)."""

from __future__ import annotations

from functools import cache


@cache
def version() -> str:
    """Return the installed fleetsim version (read once per process)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("fleetsim")
    except PackageNotFoundError:
        return "0+unknown"
