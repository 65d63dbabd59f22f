"""xarray without importing dask and pint until something uses them.

xarray asks "is this a dask array?" (``isinstance(data, array_type("dask"))``) whenever it wraps
a numpy array in a Variable, and imports dask (and pint, when installed) to answer. fleetsim's
own path never makes a dask or pint array, yet those two imports cost about 1 s of CPU on the
development machine, more than the rest of a tiny CLI run's Dataset work. No object can be a
dask array while dask is not imported, so until a module is imported the answer "no such type"
is exact: :func:`defer` puts a stand-in for each such module in xarray's cache of duck-array
modules that answers that, and hands over to xarray's own record once the module is in
``sys.modules`` (a user's ``chunks=`` or ``import pint_xarray`` imports it as before).
"""

from __future__ import annotations

import sys

#: modules whose array type xarray tests data against (xarray.namedarray.pycompat.ModType), and
#: the module that defines that type (xarray imports ``dask`` alone to ask ``is_dask_collection``)
MODULES = {
    "dask": "dask.array",
    "pint": "pint",
    "cupy": "cupy",
    "sparse": "sparse",
    "cubed": "cubed",
}


class _Deferred:
    """xarray's ``DuckArrayModule`` for ``name``, made only once the module is imported."""

    def __init__(self, name: str, factory) -> None:
        self._name, self._factory, self._real = name, factory, None
        self._defines = MODULES[name]

    def _module(self):
        if self._real is None:
            self._real = self._factory(self._name)
        return self._real

    @property
    def type(self) -> tuple:
        """The module's array types; empty while the module is not imported (none can exist)."""
        if self._real is None and self._defines not in sys.modules:
            return ()
        return self._module().type

    @property
    def module(self):
        """The module (imported now if it was not)."""
        return self._module().module

    @property
    def version(self):
        """The module's version (imported now if it was not)."""
        return self._module().version

    @property
    def available(self) -> bool:
        """Whether the module can be imported (imported now if it was not)."""
        return self._module().available


def defer() -> None:
    """Make xarray's duck-array checks import dask and pint only once they are imported.

    Idempotent; leaves an entry xarray already filled in alone, and does nothing when this
    xarray keeps no such cache.
    """
    try:
        from xarray.namedarray import pycompat
    except ImportError:  # pragma: no cover - another xarray layout: keep its own behaviour
        return
    cached = getattr(pycompat, "_cached_duck_array_modules", None)
    factory = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cached, dict) or factory is None:
        return
    for name in MODULES:
        cached.setdefault(name, _Deferred(name, factory))
