"""fleetsim's Numba policy, in one place.

``jit`` compiles the scalar physics and fleet functions; ``kernel_jit`` compiles the one parallel
entry point in :mod:`fleetsim.kernel`. Both use ``error_model="numpy"`` (a division by zero gives
inf/NaN instead of raising inside the hot loop; the sweep checks every output afterwards) and
``fastmath=False`` (results must reproduce bit for bit).

Caching: ``cache=True`` saves every job the compile (about 1-2 s per signature), but concurrent
writes to one cache directory have open Numba bugs (numba#4807, numba#10128). fleetsim therefore
compiles once in the parent process before any launcher fans out, and the environment variable
``FLEETSIM_NUMBA_CACHE=0`` turns caching off (read when this module is imported). The cache
location follows Numba's own ``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

import os

import numba

CACHE: bool = os.environ.get("FLEETSIM_NUMBA_CACHE", "1") != "0"

_OPTIONS = {"cache": CACHE, "error_model": "numpy", "fastmath": False, "nogil": True}


def jit(function):
    """Compile a scalar physics function (no allocation, no I/O, SI floats in and out)."""
    return numba.njit(**_OPTIONS)(function)


def kernel_jit(function):
    """Compile the parallel kernel entry point (the only place that uses ``prange``)."""
    return numba.njit(parallel=True, **_OPTIONS)(function)
