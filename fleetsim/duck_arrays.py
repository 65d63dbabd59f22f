"""xarray without importing dask and pint until something uses them.

xarray asks "is this a dask array?" (``isinstance(data, array_type("dask"))``) whenever it wraps
a numpy array in a Variable, and imports dask (and pint, when installed) to answer. fleetsim's
own path never makes a dask or pint array, yet those two imports cost about 1 s of CPU on the
development machine, more than the rest of a tiny CLI run's Dataset work. No object can be a
dask array while dask is not imported, so until a module is imported the answer "no such type"
is exact: :func:`defer` puts a stand-in for each such module in xarray's cache of duck-array
modules that answers that, and hands over to xarray's own record once the module is in
``sys.modules`` (a user's ``chunks=`` or ``import pint_xarray`` imports it as before).

xarray also asks ``dask.base.is_dask_collection`` of every array it wraps, importing dask
(0.2 s) to hear "no" for a numpy array: dask's answer is False for any object without a
``__dask_graph__`` attribute, so :func:`defer` answers that case without the import and hands
every other object to xarray's own function. ``to_netcdf`` imports dask to ask which dask
scheduler is active (it picks the file's lock and closes files between dask writes by it);
while dask is not imported there is no dask array to write, and the answer is "none" (the lock
of the threaded scheduler, the one xarray would pick without a configured scheduler).
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
    _defer_dask_collection_check()
    _defer_dask_scheduler()


def _defer_dask_collection_check() -> None:
    """Answer xarray's ``is_dask_collection(x)`` without importing dask when ``x`` has no graph."""
    from xarray.core import utils as core_utils
    from xarray.namedarray import utils

    original = getattr(utils, "is_dask_collection", None)
    if original is None or getattr(original, "fleetsim_deferred", False):
        return

    def is_dask_collection(x: object) -> bool:
        # dask.base.is_dask_collection is False for every object without __dask_graph__
        return hasattr(x, "__dask_graph__") and original(x)

    is_dask_collection.fleetsim_deferred = True
    utils.is_dask_collection = is_dask_collection
    if getattr(core_utils, "is_dask_collection", None) is original:
        core_utils.is_dask_collection = is_dask_collection


def _defer_dask_scheduler() -> None:
    """Answer xarray's ``get_dask_scheduler()`` with None while dask is not imported."""
    from xarray.backends import locks, writers

    original = getattr(locks, "get_dask_scheduler", None)
    if original is None or getattr(original, "fleetsim_deferred", False):
        return

    def get_dask_scheduler(get=None, collection=None) -> str | None:
        if "dask" not in sys.modules and get is None and collection is None:
            return None
        return original(get, collection)

    get_dask_scheduler.fleetsim_deferred = True
    locks.get_dask_scheduler = get_dask_scheduler
    if getattr(writers, "get_dask_scheduler", None) is original:
        writers.get_dask_scheduler = get_dask_scheduler
