"""fleetsim's Numba policy, in one place.

``jit`` compiles every kernel function, the physics and fleet functions and the entry point in
:mod:`fleetsim.kernel`, with ``error_model="numpy"`` (a division by zero gives inf/NaN instead of
raising inside the hot loop; the kernel checks every output) and ``fastmath=False`` (results
must reproduce bit for bit). No function uses Numba's parallel mode: ``nogil`` lets
``sweep.call_kernel`` run the kernel on several threads, and the first compile costs half as much.

Caching: ``cache=True`` saves every job the compile (a few seconds), with two caveats handled here.
Only a function called from Python is compiled to machine code and cached, with its whole call
tree linked in (see :class:`_Dispatcher`).

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

import gc
import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import numba
from numba.core import compiler, environment, types, typing
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler_lock import global_compiler_lock
from numba.core.environment import Environment, lookup_environment
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

#: the kernel's compiled variants (:func:`fleetsim.kernel.evaluate`): ``"full"`` serves every
#: sweep; ``"aggregated"`` is compiled without the code of mixes and disaggregated serving (its
#: pool tables are None) and serves a sweep with neither, unless the full one is ready
FULL, AGGREGATED = "full", "aggregated"

#: the first compile of each variant, measured on the 2-core development machine (Dec 2 2026):
#: what the first run announces until this machine has measured a compile of its own
#: (:func:`compile_estimate`)
COMPILE_SECONDS = {FULL: 20, AGGREGATED: 15}

#: written into the cache directory once a variant has been compiled there (+ ``-variant``)
_COMPILED_MARKER = "compiled"
#: the wall time of the last compile on this machine [s] (+ ``-variant``), kept beside the cache
#: directories (which change with every version), so the next first run announces what this
#: machine took
_LAST_COMPILE = "last_compile_seconds"
#: the variants compiled or loaded in this process
_here: set[str] = set()


def compile_estimate(variant: str = FULL) -> int:
    """Return the seconds a first compile of ``variant`` is announced to take.

    The last compile measured here (:func:`compiled`), else :data:`COMPILE_SECONDS`.
    """
    if CACHE:
        record = Path(numba.config.CACHE_DIR).parent / f"{_LAST_COMPILE}-{variant}"
        try:
            return max(1, round(float(record.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            pass
    return COMPILE_SECONDS[variant]


def ready(variant: str) -> bool:
    """Return whether ``variant`` of the kernel runs without compiling (here or in the cache)."""
    return variant in _here or (
        CACHE and (Path(numba.config.CACHE_DIR) / f"{_COMPILED_MARKER}-{variant}").exists()
    )


def announce_compile(variant: str) -> bool:
    """Say on stderr that kernel ``variant`` is about to compile, when it will; return whether.

    It compiles when it has not run in this process and the cache holds no compile of it yet
    (no marker from an earlier compile in this cache directory), or caching is off. Call
    :func:`compiled` after the call that compiled.
    """
    if ready(variant):
        _here.add(variant)
        return False
    when = "first run only" if CACHE else "every process: FLEETSIM_NUMBA_CACHE=0"
    what = "" if variant == AGGREGATED else " for mixes and disaggregated serving"
    print(f"fleetsim: compiling kernels{what} ({when}), about {compile_estimate(variant)} s",
          file=sys.stderr, flush=True)  # fmt: skip
    return True


def compiled(variant: str, seconds: float) -> None:
    """Record in the cache directory that ``variant`` is compiled there, in ``seconds`` [s]."""
    _here.add(variant)
    if CACHE:
        marker = Path(numba.config.CACHE_DIR) / f"{_COMPILED_MARKER}-{variant}"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        (marker.parent.parent / f"{_LAST_COMPILE}-{variant}").write_text(
            f"{seconds:.1f}\n", encoding="utf-8"
        )


@contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """Keep Python's garbage collector off inside the block when ``pause`` (and it is on).

    For a compile: Numba allocates millions of objects and frees few of them in cycles, and the
    collections were about 1.2 s of a 13 s first compile (it peaks about 70 MiB higher without).
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: Numba's options for every function; ``no_cfunc_wrapper``: no C-callable wrapper is compiled
#: beside each function (nothing takes their addresses; it was a tenth of the first compile)
_OPTIONS = {"error_model": "numpy", "fastmath": False, "nogil": True, "nopython": True,
            "boundscheck": None, "no_cfunc_wrapper": True}  # fmt: skip


class _LinkedLibrary(JITCodeLibrary):
    """Code compiled only to be linked into its callers: no machine code, no module passes.

    Numba optimises each function's module with its whole call tree linked in and emits it as
    machine code, at every level of the call tree (kernel -> pool -> layout search -> operating
    point -> ...), although only the function Python calls runs. A function compiled for a
    jitted caller keeps its function-level optimisation only: its caller's module, with it
    linked in, is optimised and emitted once, by the function Python calls.
    """

    def _optimize_final_module(self) -> None:
        """Leave the module passes to the caller whose module this is linked into."""

    def _finalize_final_module(self) -> None:
        """Mark the module finished without adding it to the JIT engine (no machine code)."""
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True


#: Numba's own (the cached data names ``environment._rebuild_env`` to rebuild each environment)
_NUMBA_REBUILD_ENV = environment._rebuild_env


def _rebuild_env(module: str, consts: list, name: str) -> Environment:
    """Rebuild a cached function's environment without importing Numba's own modules.

    Numba's loader imports the module of every function whose code the kernel holds, to give
    its environment the module's globals; for Numba's own array and list helpers that imports
    their lowering modules (``numba.np.arrayobj``: 0.1 s of each run). Nopython code reads
    only an environment's constants (none here), never its globals.
    """
    env = lookup_environment(name)
    if env is not None:
        return env
    if consts or not module.startswith("numba.") or module in sys.modules:
        return _NUMBA_REBUILD_ENV(module, consts, name)
    env = Environment({"__name__": module})
    env.env_name = name
    Environment._memo[name] = env
    return env


class _LinkedKey:
    """The key a caller's lowering finds a linked overload's code by (it has no entry point)."""


class _Dispatcher(CPUDispatcher):
    """Numba's CPU dispatcher: a call from compiled code is typed without literal values.

    Numba types a global constant or a literal argument (``search_layout(AGGREGATED, ...)``,
    ``False``, ``0``) as its value (``Literal[int](0)``) and compiles the callee once per value:
    the layout search was compiled three times, with everything it calls. Here every argument
    is typed by its type alone (``int64``, ``bool``), so each function compiles once per
    combination of argument types.

    A call from compiled code compiles the callee without a Python wrapper into a
    :class:`_LinkedLibrary` (unless a full compile of those types exists or is in the cache),
    kept apart from :attr:`overloads` and never cached on its own: only the function Python
    calls is emitted and cached, with its call tree inside. Called from Python itself, the
    function compiles in full as usual (its callees' linked code is reused).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: argument types -> (key, compile result) of the overloads compiled only to be linked
        self._linked: dict[tuple, tuple[_LinkedKey, compiler.CompileResult]] = {}
        self._linking: set[tuple] = set()

    @property
    def nopython_signatures(self) -> list:
        """Return the signatures compiled in full and those compiled only to be linked."""
        return super().nopython_signatures + [c.signature for _, c in self._linked.values()]

    def get_overload(self, sig):
        """Return the key of the code for ``sig`` (full compile first, else linked only)."""
        args = tuple(sig)
        if args in self._linked and args not in self.overloads:
            return self._linked[args][0]
        return super().get_overload(sig)

    def get_call_template(self, args, kws):
        """Return Numba's call template for the arguments' non-literal types."""
        args = tuple(types.unliteral(a) for a in args)
        kws = {key: types.unliteral(value) for key, value in kws.items()}
        pysig, folded = self._compiler.fold_argument_types(args, kws)
        folded = tuple(folded)
        if folded in self._linking:  # a recursive call: Numba's own path types it
            return super().get_call_template(args, kws)
        if self._can_compile and folded not in self.overloads and folded not in self._linked:
            self._compile_linked(folded)
        template = typing.make_concrete_template(
            f"CallTemplate({self.py_func.__name__})", key=self.py_func.__name__,
            signatures=self.nopython_signatures,
        )  # fmt: skip
        return template, pysig, folded, {}

    @global_compiler_lock
    def _compile_linked(self, args: tuple) -> None:
        """Load a full compile of ``args`` from the cache, else compile one only to link."""
        cres = self._cache.load_overload(args, self.targetctx)
        if cres is not None:  # what Numba's compile does with a cache hit
            self.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
            self.add_overload(cres)
            return
        flags = compiler.Flags()
        self.targetdescr.options.parse_as_flags(flags, self.targetoptions)
        flags.no_compile = True
        flags.no_cpython_wrapper = True
        library = _LinkedLibrary(self.targetctx.codegen(), self.py_func.__qualname__)
        self._linking.add(args)
        try:
            cres = compiler.compile_extra(
                self.targetdescr.typing_context, self.targetctx, self.py_func, args=args,
                return_type=None, flags=flags, locals=self.locals, library=library,
            )  # fmt: skip
        finally:
            self._linking.discard(args)
        key = _LinkedKey()
        self.targetctx.insert_user_function(key, cres.fndesc, [cres.library])
        self._linked[args] = (key, cres)

    def add_overload(self, cres) -> None:
        """Add a full compile for Python callers, its code pointed at its environments.

        Numba points a compiled function's environment (the objects its code may read, e.g.
        to raise an exception) at the function itself only; the environments of the linked
        code inside it are set here, as Numba sets them when it loads a function from the
        cache.
        """
        super().add_overload(cres)
        codegen = self.targetctx.codegen()
        for variable in cres.library._final_module.global_variables:
            if variable.name.startswith("_ZN08NumbaEnv"):
                env = lookup_environment(variable.name)
                if env is not None:
                    codegen.set_env(variable.name, env)

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
            environment._rebuild_env = _rebuild_env
            try:
                with guard():
                    return load(sig, target_context)
            finally:
                environment._rebuild_env = _NUMBA_REBUILD_ENV

        cache.load_overload = load_overload


def jit(function=None, *, cache: bool = CACHE):
    """Compile a kernel function (no allocation in the hot loop, no I/O, SI floats in and out).

    ``@jit`` caches the compiled code on disk when :data:`CACHE` is on; ``@jit(cache=False)``
    never does (a test that counts what is compiled).
    """
    if function is None:
        return lambda f: jit(f, cache=cache)
    dispatcher = _Dispatcher(py_func=function, locals={}, targetoptions=dict(_OPTIONS))
    if cache:
        dispatcher.enable_caching()
    return dispatcher
