"""fleetsim's Numba policy, in one place.

``jit`` compiles every kernel function, the physics and fleet functions and the entry point in
:mod:`fleetsim.kernel`, with ``error_model="numpy"`` (a division by zero gives inf/NaN instead of
raising inside the hot loop; the kernel checks every output) and ``fastmath=False`` (results
must reproduce bit for bit). No function uses Numba's parallel mode: ``nogil`` lets
``sweep.call_kernel`` run the kernel on several threads, and the first compile costs half as much.

Caching: ``cache=True`` saves every job the compile (a few seconds), with two caveats handled here.

* Numba invalidates a cached function only when *its own* source file changes, not when a
  function it calls changes (editing ``physics/serving.py`` would silently keep the old kernel).
  fleetsim therefore keys the cache directory by a hash of all of its Python sources:
  ``$NUMBA_CACHE_DIR/fleetsim-<hash>`` (or ``~/.cache/fleetsim/numba/fleetsim-<hash>`` when
  ``NUMBA_CACHE_DIR`` is unset), so any change to the package starts a fresh cache.
* Concurrent writes to one cache directory have open Numba bugs (numba#4807, numba#10128):
  fleetsim compiles once in the parent process before a launcher fans out, and the environment
  variable ``FLEETSIM_NUMBA_CACHE=0`` turns caching off (read when this module is imported).
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import cache
from pathlib import Path

import numba
from numba.core import types
from numba.core.registry import CPUDispatcher
from numba.core.runtime import rtsys

CACHE: bool = os.environ.get("FLEETSIM_NUMBA_CACHE", "1") != "0"


@cache
def source_digest() -> str:
    """Return a short hash of every Python source file of the package."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_dir() -> Path:
    base = os.environ.get("NUMBA_CACHE_DIR")
    if base:
        root = Path(base)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "fleetsim" / "numba"
    return root / f"fleetsim-{source_digest()}"


if CACHE:
    numba.config.CACHE_DIR = str(_cache_dir())

#: the first compile of the kernels, measured on the 2-core development machine (Dec 1 2026,
#: main 1fa9624): 25-35 s of CPU at load averages of 2-5 (one core; 25-73 s wall on the shared
#: machine): what the first run announces until this machine has measured a compile of its own
#: (:func:`compile_estimate`)
COMPILE_SECONDS = 35

#: written into the cache directory once the kernels have been compiled there
_COMPILED_MARKER = "compiled"
#: the wall time of the last compile on this machine [s], kept beside the cache directories
#: (which change with every version), so the next first run announces what this machine took
_LAST_COMPILE = "last_compile_seconds"


def compile_estimate() -> int:
    """Return the seconds a first compile is announced to take.

    The last compile measured here (:func:`compiled`), else :data:`COMPILE_SECONDS`.
    """
    if CACHE:
        try:
            return max(1, round(float((Path(numba.config.CACHE_DIR).parent / _LAST_COMPILE)
                                      .read_text(encoding="utf-8"))))  # fmt: skip
        except (OSError, ValueError):
            pass
    return COMPILE_SECONDS


def announce_compile(dispatcher) -> bool:
    """Say on stderr that the kernels are about to compile, when they will; return whether.

    They compile when ``dispatcher`` has no compiled signature in this process and the cache
    holds none yet (no marker from an earlier compile in this cache directory), or caching is
    off. Call :func:`compiled` after the call that compiled.
    """
    if dispatcher.signatures:
        return False
    if CACHE and (Path(numba.config.CACHE_DIR) / _COMPILED_MARKER).exists():
        return False
    when = "first run only" if CACHE else "every process: FLEETSIM_NUMBA_CACHE=0"
    print(f"fleetsim: compiling kernels ({when}), about {compile_estimate()} s", file=sys.stderr,
          flush=True)  # fmt: skip
    return True


def compiled(seconds: float) -> None:
    """Record in the cache directory that the kernels are compiled there, in ``seconds`` [s]."""
    if CACHE:
        marker = Path(numba.config.CACHE_DIR) / _COMPILED_MARKER
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        (marker.parent.parent / _LAST_COMPILE).write_text(f"{seconds:.1f}\n", encoding="utf-8")


#: Numba's options for every function; ``no_cfunc_wrapper``: no C-callable wrapper is compiled
#: beside each function (nothing takes their addresses; it was a tenth of the first compile)
_OPTIONS = {"error_model": "numpy", "fastmath": False, "nogil": True, "nopython": True,
            "boundscheck": None, "no_cfunc_wrapper": True}  # fmt: skip


class _Dispatcher(CPUDispatcher):
    """Numba's CPU dispatcher, typing calls from compiled code without literal values.

    Numba types a global constant or a literal argument (``search_layout(AGGREGATED, ...)``,
    ``False``, ``0``) as its value (``Literal[int](0)``) and compiles the callee once per value:
    the layout search was compiled three times, with everything it calls.
    Here every argument is typed by its type alone (``int64``, ``bool``), so each function
    compiles once per combination of argument types.
    """

    def get_call_template(self, args, kws):
        """Return Numba's call template for the arguments' non-literal types."""
        args = tuple(types.unliteral(a) for a in args)
        kws = {key: types.unliteral(value) for key, value in kws.items()}
        return super().get_call_template(args, kws)

    def enable_caching(self) -> None:
        """Cache compiled code on disk; a function loaded from the cache skips Numba's set-up.

        Numba readies its whole compiler before loading a cached function (every lowering
        registry it has: about 0.3 s of each run's start); running machine code from the
        cache needs only Numba's runtime. A function that is not in the cache compiles as
        before, and compiling readies the compiler then.
        """
        super().enable_caching()
        cache = self._cache
        load = getattr(cache, "_load_overload", None)
        guard = getattr(cache, "_guard_against_spurious_io_errors", None)
        if load is None or guard is None:  # pragma: no cover - another Numba: its own path
            return

        def load_overload(sig, target_context):
            rtsys.initialize(target_context)
            with guard():
                return load(sig, target_context)

        cache.load_overload = load_overload


def jit(function):
    """Compile a kernel function (no allocation in the hot loop, no I/O, SI floats in and out)."""
    dispatcher = _Dispatcher(py_func=function, locals={}, targetoptions=dict(_OPTIONS))
    if CACHE:
        dispatcher.enable_caching()
    return dispatcher
