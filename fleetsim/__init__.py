"""fleetsim: total cost of ownership of LLM inference fleets, from per-token physics.

Public API: :func:`run`, :func:`open_dataset`, :func:`load_catalog`, :class:`InputError`.
They are imported on first use (PEP 562), so ``fleetsim --help`` or ``fleetsim catalog`` does
not pay for xarray, pandas and Numba.
"""

from fleetsim.errors import InputError

__all__ = ["InputError", "__version__", "load_catalog", "open_dataset", "run"]


def __getattr__(name: str):
    """Import the public name ``name`` on first use."""
    if name == "run":
        from fleetsim.api import run as value
    elif name == "load_catalog":
        from fleetsim.catalog import load as value
    elif name == "open_dataset":
        from fleetsim.io import open_dataset as value
    elif name == "__version__":
        from fleetsim.version import version

        value = version()
    else:
        raise AttributeError(f"module 'fleetsim' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names (imported or not)."""
    return sorted({*globals(), *__all__})
