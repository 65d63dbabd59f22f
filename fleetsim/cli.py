"""The ``fleetsim`` command: Hydra CLI -> api.write_config (streamed NetCDF) -> printed summary.

Every run streams its sweep to NetCDF chunk by chunk (memory stays at a few chunks whatever the
sweep's size); ``fleetsim.run`` is the in-memory path for notebooks. A sharded run
(``sweep.shards`` > 1) writes ``part-<i>-of-<n>.nc`` into one sweep directory (``output.path``,
else Hydra's sweep directory under ``-m``), and a re-run skips parts already complete.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import gc
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleetsim import paths
from fleetsim.errors import ConfigError, InputError, one_line

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from fleetsim.api import Prepared

#: launcher preset -> the scheduler command it submits with (checked before a multirun starts)
SCHEDULERS = {"slurm": "sbatch"}
#: above this many scenarios the printed summary is skipped (it reads the file back)
SUMMARY_LIMIT = 20_000_000


#: exit statuses after SIGINT and SIGTERM (128 + signal number, as shells report them)
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


def _fail(error: Exception | str, status: int = 2) -> None:
    print(f"fleetsim: error: {one_line(str(error))}", file=sys.stderr)
    sys.exit(status)


#: set when Hydra has started a job: an exception before that is Hydra's (bad Hydra input)
_JOB_STARTED = False
#: the user asked for Hydra's tracebacks (read before :func:`_run_app` sets the variable)
_USER_WANTS_TRACEBACK = os.environ.get("HYDRA_FULL_ERROR") == "1"


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup runs (no partial file is left)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _run_app(run: Callable[[], None]) -> None:
    """Run the Hydra app with Hydra's own errors raised here, so each prints as one line.

    Hydra prints multi-line tracebacks unless ``HYDRA_FULL_ERROR=1``, which makes it raise
    instead; fleetsim sets it and reports the error in one line with exit status 2. A user who
    sets ``HYDRA_FULL_ERROR=1`` themselves gets the full traceback.
    """
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        run()
    except Exception as error:  # Hydra and OmegaConf raise many types; the user gets one line
        if _USER_WANTS_TRACEBACK or _JOB_STARTED:
            raise  # an error inside a fleetsim job is a bug: it keeps its traceback
        _fail(f"hydra: {error}")


def launcher_threads(launcher: DictConfig | None) -> int:
    """Return the kernel threads one job of a Hydra launcher should use (0: unknown).

    submitit launchers give ``cpus_per_task``; the joblib launcher runs ``n_jobs`` jobs side by
    side, so each gets its share of this machine's CPUs.
    """
    from fleetsim.api import available_cpus

    if launcher is None:
        return 0
    cpus = launcher.get("cpus_per_task")
    if isinstance(cpus, int) and cpus > 0:
        return cpus
    jobs = launcher.get("n_jobs")
    if isinstance(jobs, int) and jobs != 0:
        total = available_cpus()
        parallel = jobs if jobs > 0 else max(1, total + 1 + jobs)  # joblib: -1 = every CPU
        return max(1, total // parallel)
    return 0


def _summary(path: Path, scenarios: int) -> str:
    from fleetsim import io
    from fleetsim.analysis import summary

    if scenarios > SUMMARY_LIMIT:
        return f"scenarios: {scenarios:,} (summary skipped above {SUMMARY_LIMIT:,})"
    with io.read_once(path) as ds:  # the summary reads each variable once
        try:
            return summary.summarise(ds)
        except KeyError as error:  # output.variables left out what the summary shows
            return f"scenarios: {scenarios:,} (no summary without output variable {error})"


@contextlib.contextmanager
def _terminable() -> Iterator[threading.Event]:
    """Yield an event that SIGTERM (``scancel``, a time limit) sets while the block runs.

    submitit's jobs ignore SIGTERM, so a cancelled shard would run on for SLURM's ``KillWait``
    (30 s by default) and might even complete; :func:`fleetsim.api.write_config` instead stops
    at its next chunk and deletes its temporary file, and a re-run redoes the shard. (The
    handler only sets the event: an exception raised from it could be swallowed inside a
    ctypes callback of Numba's compiler.) Where SIGTERM still has its default action (a joblib
    worker; :func:`main` gives the ``fleetsim`` process a handler), it is left alone: it ends
    the process at once.
    """
    event = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        yield event
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGTERM, previous)


#: what Hydra puts in a run's folder before the job writes anything
HYDRA_FILES = frozenset({".hydra", "cli.log"})


def _remove_unused_run_folder(folder: Path, multirun: bool) -> None:
    """Remove a failed run's folder when it holds only Hydra's own files, and emptied parents.

    So a run refused inside its job (``output.path`` a folder, a disk that is full) leaves no
    empty ``outputs/<date>/<time>/``; a multirun's folders are kept (other jobs share them).
    """
    if multirun or not folder.is_dir() or {p.name for p in folder.iterdir()} - HYDRA_FILES:
        return
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):  # <date>/ and outputs/, once empty
        if parent == Path.cwd() or any(parent.iterdir()):
            break
        parent.rmdir()


def _job(cfg: DictConfig, prepared: Prepared | None = None) -> None:
    """Hydra's task function: one job writes its file and prints its summary.

    ``prepared`` is ``cfg`` as :func:`_run_once` validated it (not validated again).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    # (dataset, io and summary, which import xarray and pandas, are imported here, before the
    # collector is back on, although the job only uses them further down)
    from fleetsim import api, dataset, io  # noqa: F401
    from fleetsim.analysis import summary  # noqa: F401
    from fleetsim.sweep import SweepError

    global _JOB_STARTED
    _JOB_STARTED = True
    _collect_garbage()
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    folder = Path(hydra_cfg.runtime.output_dir)
    if multirun and cfg.sweep.shards != 1:  # every shard of the sweep into one directory
        folder = Path(hydra_cfg.sweep.dir)
    try:
        threads = launcher_threads(hydra_cfg.launcher) if multirun else 0
        with _terminable() as stop:
            result = api.write_config(prepared or cfg, folder, threads=threads, stop=stop)
        if result.skipped:
            print(f"skipped: {result.path} (complete, written by the same config)")
            return
        print(_summary(result.path, result.scenarios))
    except (InputError, OSError) as error:
        _remove_unused_run_folder(folder, multirun)
        _fail(error)
    except SweepError as error:  # a kernel bug, not bad input: one line, status 1
        _fail(error, status=1)
    except api.Stopped as error:  # SIGTERM: cancelled or out of time
        _fail(f"SIGTERM: {error}; re-run the same command to resume", status=128 + signal.SIGTERM)
    print(f"written: {result.path}")


#: set once the kernel has been compiled (or loaded) for a multirun's jobs
_warmed = threading.Event()


def warm() -> None:
    """Compile the kernel (or load it from Numba's cache) once, before a launcher starts jobs.

    Says so on stderr (the first time takes :func:`fleetsim._jit.compile_estimate`). Idempotent; does nothing when
    ``FLEETSIM_NUMBA_CACHE=0`` (every job compiles its own).
    """
    import time

    from fleetsim import _jit, api

    if not _jit.CACHE or _warmed.is_set():
        return
    print(
        f"fleetsim: compiling the kernel before the jobs start (first time: "
        f"~{_jit.compile_estimate()} s; "
        f"Numba cache: {_jit.numba.config.CACHE_DIR})",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    with contextlib.suppress(InputError):  # a default config that fails: jobs compile
        api.warm()
    _warmed.set()
    print(f"fleetsim: kernel ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def args_parser() -> argparse.ArgumentParser:
    """Return Hydra's own command-line parser, with fleetsim's name, description and version.

    Every Hydra flag (``--cfg``, ``--info``, ``-cd``/``--config-dir``, ``-cn``, ``--resolve``,
    ``--shell-completion``, ``-m``, ...) is Hydra's; only ``--version`` says fleetsim's version
    (and Hydra's).
    """
    from hydra import __version__ as hydra_version
    from hydra._internal.utils import get_args_parser

    import fleetsim

    parser = get_args_parser()
    parser.prog = "fleetsim"
    parser.description = "fleetsim: total cost of ownership of LLM inference fleets"
    for action in parser._actions:
        if action.dest == "version":
            action.version = f"fleetsim {fleetsim.__version__} (Hydra {hydra_version})"
            action.help = "Show fleetsim's version and exit"
    return parser


def _refuse_rerun(args: argparse.Namespace) -> None:
    """Refuse Hydra's ``--experimental-rerun`` (it would load Python objects from a file)."""
    if args.experimental_rerun is not None:
        _fail(
            ConfigError(
                "--experimental-rerun",
                args.experimental_rerun,
                "not supported (re-run with the overrides in the output's history attribute)",
            )
        )


def _single_run(args: argparse.Namespace) -> bool:
    """Return whether the command line asks for one plain run (no other Hydra command)."""
    other = (
        args.multirun, args.cfg, args.info is not None, args.help, args.hydra_help,
        args.shell_completion, args.config_path, args.resolve, args.experimental_rerun,
    )  # fmt: skip
    return not any(other)


def _main_hydra(args: argparse.Namespace):
    """Return Hydra's app object, with the search path and task name ``_run_hydra`` makes."""
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import (
        create_automatic_config_search_path,
        detect_calling_file_or_module_from_task_function,
        detect_task_name,
    )
    from hydra.core.config_search_path import SearchPathQuery

    calling_file, calling_module = detect_calling_file_or_module_from_task_function(_job)
    search_path = create_automatic_config_search_path(
        calling_file, calling_module, str(paths.conf_dir())
    )
    if args.config_dir is not None:
        search_path.prepend(
            provider="command-line",
            path=f"file://{os.path.abspath(args.config_dir)}",
            anchor=SearchPathQuery(provider="schema"),
        )
    return Hydra.create_main_hydra2(
        task_name=detect_task_name(calling_file, calling_module), config_search_path=search_path
    )


class _Lazy(dict):
    """A mapping whose values are computed when first read (by ``string.Template``)."""

    def __init__(self, **makers: Callable[[], str]) -> None:
        super().__init__()
        self._makers = makers

    def __missing__(self, key: str) -> str:
        self[key] = value = self._makers[key]()
        return value


def _app_groups(hydra, parent: str = "") -> list[str]:
    """Return the config groups under ``parent`` that have options, Hydra's own left out."""
    from hydra.core.object_type import ObjectType

    groups: list[str] = []
    for group in hydra.config_loader.list_groups(parent):
        name = f"{parent}/{group}" if parent else group
        if name == "hydra":
            continue
        if hydra.config_loader.get_group_options(name, ObjectType.CONFIG):
            groups.append(name)
        if hydra.config_loader.get_group_options(name, ObjectType.GROUP):
            groups.extend(_app_groups(hydra, name))
    return groups


def _help(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Print ``fleetsim --help``: the text Hydra's ``app_help`` prints, made faster.

    Hydra lists every config group twice, its own (``hydra/launcher``, ...) and the app's,
    whatever the template shows: a second of a 2 s command. Here each placeholder of
    ``hydra.help.template`` is filled only if the template has it, and the app's groups are
    listed without walking Hydra's.
    """
    import copy
    import string

    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    hydra = _main_hydra(args)
    try:
        cfg = hydra.compose_config(
            args.config_name or "config", args.overrides, run_mode=RunMode.RUN,
            with_log_configuration=True,
        )  # fmt: skip
        HydraConfig.instance().set_config(cfg)
        template = cfg.hydra.help.template
        clean = hydra.get_sanitized_cfg(copy.deepcopy(cfg), "job")

        def groups(names: list[str]) -> str:
            options = hydra.config_loader.get_group_options
            return "".join(f"{g}: {', '.join(sorted(options(g)))}\n" for g in sorted(names))

        text = string.Template(template).substitute(
            _Lazy(
                FLAGS_HELP=lambda: hydra.format_args_help(parser),
                HYDRA_CONFIG_GROUPS=lambda: hydra.format_config_groups(
                    lambda x: x.startswith("hydra/") or x == "hydra"
                ),
                APP_CONFIG_GROUPS=lambda: groups(_app_groups(hydra)),
                CONFIG=lambda: OmegaConf.to_yaml(clean, resolve=args.resolve),
            )
        )
    finally:
        GlobalHydra.instance().clear()
    print(text)


def _run_once(args: argparse.Namespace) -> bool:
    """Run one job as ``hydra.run`` does, composing its config once; return False if not done.

    Hydra composes a run's config twice (once to read ``hydra.mode``, once to run it) and
    :func:`_check` composed it a third time; here the one composition is checked (so a bad value
    never leaves an empty output folder) and handed to Hydra's ``run_job``, as ``hydra.run``
    would; the job gets the checked result (:func:`fleetsim.api.prepare`), so the config is
    validated once. A config that sets ``hydra.mode=MULTIRUN`` itself returns False before
    anything ran: Hydra's own path then launches it.
    """
    import copy

    from hydra._internal.callbacks import Callbacks
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import run_job
    from hydra.types import HydraContext, RunMode
    from omegaconf import open_dict, read_write

    from fleetsim import api

    config_name = args.config_name or "config"
    try:
        overrides = api.check_run_overrides(args.overrides, args.config_dir)
    except InputError as error:
        _fail(error)
    hydra = _main_hydra(args)
    try:
        try:
            cfg = hydra.compose_config(
                config_name, overrides, run_mode=RunMode.RUN, with_log_configuration=True
            )
        except Exception as error:  # Hydra/OmegaConf raise several types; users get one
            _fail(api.composition_error(error, overrides))
        if cfg.hydra.mode == RunMode.MULTIRUN:
            return False
        if cfg.hydra.mode is None:  # what Hydra's own hydra.mode=RUN override does
            with read_write(cfg.hydra), open_dict(cfg.hydra):
                cfg.hydra.mode = RunMode.RUN
                cfg.hydra.overrides.hydra.append("hydra.mode=RUN")
        task = copy.deepcopy(cfg)  # what the job gets (run_job makes the same copy)
        with read_write(task), open_dict(task):
            del task["hydra"]
        try:
            prepared = api.prepare(task)
        except InputError as error:
            _fail(error)
        callbacks = Callbacks(cfg)
        callbacks.on_run_start(config=cfg, config_name=config_name)
        result = run_job(
            hydra_context=HydraContext(config_loader=hydra.config_loader, callbacks=callbacks),
            task_function=functools.partial(_job, prepared=prepared),
            config=cfg,
            job_dir_key="hydra.run.dir",
            job_subdir_key=None,
        )
        callbacks.on_run_end(config=cfg, config_name=config_name, job_return=result)
        _ = result.return_value  # raises the job's exception, as hydra.run does
    finally:
        GlobalHydra.instance().clear()
    return True


def _check(args: argparse.Namespace) -> None:
    """Check the overrides before Hydra starts; a bad one exits with one line (status 2).

    Overrides name known keys and group options (packaged or in ``--config-dir``). A run (not
    ``--cfg``, ``--info`` or ``--help``) is composed and validated too, so a bad value never
    leaves an empty output folder; under ``-m`` each swept value is validated with the other
    sweeps at their first value.
    """
    from fleetsim import api

    _refuse_rerun(args)
    if args.shell_completion or args.config_path:
        return  # partial input, or another primary config folder: Hydra reports its own errors
    launcher = next(
        (o.partition("=")[2] for o in args.overrides if o.startswith("hydra/launcher=")), None
    )
    if args.multirun and launcher in SCHEDULERS and shutil.which(SCHEDULERS[launcher]) is None:
        _fail(
            ConfigError(
                "hydra/launcher",
                launcher,
                f"a launcher whose scheduler is installed: {SCHEDULERS[launcher]} is not on PATH "
                "(on this machine use hydra/launcher=local or hydra/launcher=parallel)",
            )
        )
    try:
        api.check_overrides(args.overrides, args.config_dir)
        runs = api.sweep_points(args.overrides) if args.multirun else [args.overrides]
        inspect_only = args.help or args.hydra_help or args.cfg or args.info is not None
        for overrides in runs:
            cfg = api.compose(overrides, args.config_dir, args.config_name or "config")
            if not inspect_only:
                api.prepare(cfg)
    except InputError as error:
        _fail(error)


#: set while :func:`command` keeps the garbage collector off for the start-up
_GC_PAUSED = False


def _collect_garbage() -> None:
    """Turn the garbage collector back on if :func:`command` turned it off for the start-up.

    The objects made so far (modules, classes, Hydra's config; about 130,000, and a few
    thousand unreachable ones from composing) are frozen: later collections skip them.
    """
    global _GC_PAUSED
    if _GC_PAUSED:
        _GC_PAUSED = False
        gc.freeze()
        gc.enable()


def _exit_now() -> None:
    """End the process as Python's exit would, without tearing the interpreter down.

    Non-daemon threads are joined and exit handlers run (logging flushes ``cli.log``), then the
    standard streams are flushed and the process ends; what is skipped is destroying every
    module and object (0.2-0.3 s once Numba, xarray and pandas are loaded). A stream that
    cannot be flushed is left to Python's own exit, which reports it.
    """
    threading._shutdown()  # what the interpreter calls first when it exits
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(0)


def command() -> None:
    """Run :func:`main` as the ``fleetsim`` command (and ``python -m fleetsim``), in its own process.

    The start-up (imports, Hydra's compose, the checks) runs with the garbage collector off:
    it allocates far more objects than it ever frees in cycles, and the collections cost
    about 0.2 s of a tiny run; the job turns it back on (:func:`_collect_garbage`), and so does
    a multirun before it composes its jobs. Once a command has done its work it exits at once
    (:func:`_exit_now`); an error exits as Python does.
    """
    global _GC_PAUSED
    if gc.isenabled():
        gc.disable()
        _GC_PAUSED = True
    main()
    _exit_now()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``fleetsim`` command line (:func:`command` runs it as a process of its own).

    ``argv`` (default ``sys.argv[1:]``) goes to Hydra's own parser (:func:`args_parser`). Bad
    overrides are caught before Hydra starts (:func:`_check`) and print one line with exit
    status 2; so do Hydra's own errors (:func:`_run_app`). SIGINT and SIGTERM remove the
    partial output, print one line and exit with 130 and 143. Before a multirun launches its jobs, the kernel is compiled once (:func:`warm`)
    so the jobs load it from Numba's cache instead of racing to write it: here, or for
    ``hydra/launcher=slurm`` by the launcher once it has checked its request against the cluster.
    """
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _main(argv)
    except KeyboardInterrupt:
        print("fleetsim: interrupted (SIGINT); no partial output left", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        print("fleetsim: terminated (SIGTERM); no partial output left", file=sys.stderr)
        sys.exit(EXIT_TERMINATED)


def _main(argv: Sequence[str] | None) -> None:
    from hydra import version
    from hydra._internal.utils import _run_hydra

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["catalog"]:  # fleetsim catalog list|show: no Hydra, no kernel
        from fleetsim import catalog_cli

        sys.exit(catalog_cli.main(argv[1:]))
    from fleetsim import config, yamlio

    parser = args_parser()
    args = parser.parse_args(argv)
    yamlio.parse_configs_with_libyaml()
    config.register()
    version.setbase("1.3")
    if _single_run(args):
        done: list[bool] = []
        _run_app(lambda: done.append(_run_once(args)))
        if done[0]:
            return
    if args.multirun:
        _collect_garbage()  # it composes every job's config up front
    _run_app(lambda: _check(args))  # Hydra's errors while checking are one line too
    if args.help and not (args.hydra_help or args.cfg or args.info is not None or args.multirun):
        _run_app(lambda: _help(args, parser))
        return
    if args.multirun and "hydra/launcher=slurm" not in args.overrides:
        warm()
    _run_app(
        lambda: _run_hydra(
            args=args,
            args_parser=parser,
            task_function=_job,
            config_path=str(paths.conf_dir()),
            config_name="config",
        )
    )
