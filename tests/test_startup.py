"""Start-up: what a command imports, and what Numba compiles and loads (speed: bench_kernel.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fleetsim import _jit

#: modules a run pays for only where it uses them
HEAVY = ("numba", "xarray", "pandas", "dask", "netCDF4")


def _imported_after(code: str, tmp_path) -> set[str]:
    """Run ``code`` in a fresh interpreter; return which of :data:`HEAVY` it imported."""
    report = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('IMPORTED', *sorted(m for m in "
        f"{HEAVY!r} if m in sys.modules), file=sys.stderr))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", report + code], capture_output=True, text=True, cwd=tmp_path
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("IMPORTED"))
    return set(line.split()[1:])


def test_help_and_version_import_neither_numba_nor_xarray(tmp_path):
    for flag in ("--help", "--version"):
        code = f"from fleetsim.cli import main\nmain([{flag!r}])\n"
        assert _imported_after(code, tmp_path) == set(), flag


def test_help_lists_the_catalog_ids(tmp_path):
    from fleetsim import catalog

    result = subprocess.run(
        [sys.executable, "-m", "fleetsim", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    ids = catalog.load().ids()
    assert f"hardware, mix.candidates: {', '.join(ids['hardware'])}" in result.stdout
    assert catalog.table_ids("models") == ids["models"]


def test_a_run_and_its_file_do_not_import_dask(tmp_path):
    code = (
        "import fleetsim\nfrom fleetsim import io\n"
        "ds = fleetsim.run(['model=llama3.1-8b', 'hardware=h100-sxm', 'finance.years=2'])\n"
        "io.write(ds, 'out.nc')\n"
        "with fleetsim.open_dataset('out.nc', chunks=None) as back:\n"
        "    assert float(back.tco_usd) == float(ds.tco_usd)\n"
    )
    imported = _imported_after(code, tmp_path)
    assert "dask" not in imported
    assert {"numba", "xarray", "netCDF4"} <= imported


#: what Hydra's plugin scan would drag into every command if the launchers imported it eagerly
LAUNCHER_MODULES = (
    "submitit", "joblib", "fleetsim.slurm_report", "fleetsim.local_report",
    "fleetsim.slurm_resources",
)  # fmt: skip

#: a tiny run through :func:`fleetsim.cli.command`, saying when it validates and writes
_TINY_COMMAND = f"""
import atexit, gc, sys
from fleetsim import api, cli, config
validate, write = config.validate, api.write_config
def validating(*args):
    print("VALIDATE collector on:", gc.isenabled(), file=sys.stderr)
    return validate(*args)
def writing(*args, **kwargs):
    print("WRITE collector on:", gc.isenabled(), file=sys.stderr)
    return write(*args, **kwargs)
config.validate, api.write_config = validating, writing
atexit.register(lambda: print("IMPORTED", *sorted(m for m in {LAUNCHER_MODULES!r}
                                               if m in sys.modules), file=sys.stderr))
sys.argv[1:] = ["model=llama3.1-8b", "hardware=h100-sxm", "finance.years=2", "hydra.run.dir=run"]
cli.command()
print("not reached: command() ends the process")
"""


def test_a_tiny_run_validates_once_and_imports_no_launcher(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _TINY_COMMAND], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.endswith(f"written: {tmp_path / 'run' / 'fleetsim.nc'}\n")
    lines = [x for x in result.stderr.splitlines() if not x.startswith("fleetsim: compiling")]
    # the start-up runs with the garbage collector off, the job with it on
    assert lines == ["VALIDATE collector on: False", "WRITE collector on: True", "IMPORTED"]


def test_the_command_ends_its_process_as_python_would(tmp_path):
    code = (
        "import atexit, sys, threading, time\n"
        "from fleetsim import cli\n"
        "atexit.register(lambda: open('handler', 'w').write('ran'))\n"
        "worker = lambda: (time.sleep(0.3), open('thread', 'w').write('done'))\n"
        "threading.Thread(target=worker).start()\n"
        "sys.stdout.write('buffered')\n"
        "cli._exit_now()\n"
        "print('not reached')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "buffered", "")
    assert (tmp_path / "handler").read_text() == "ran"  # exit handlers ran
    assert (tmp_path / "thread").read_text() == "done"  # a non-daemon thread was joined


def test_a_kernel_loaded_from_the_cache_leaves_the_compiler_unreadied(tmp_path):
    code = "import fleetsim\nfleetsim.run(['model=llama3.1-8b', 'finance.years=2'])\n"
    _imported_after(code, tmp_path)  # compiles into the cache if it is cold
    # nor imports Numba's array lowering to rebuild its helpers' environments
    check = code + (
        "import sys\nassert 'numba.np.arraymath' not in sys.modules\n"
        "assert 'numba.np.arrayobj' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]


# (not cached: a run with the cache warm would load _caller and compile nothing)
@_jit.jit(cache=False)
def _scaled(x, mode, flag):
    if flag:
        return x * (mode + 1)
    return x * mode


@_jit.jit(cache=False)
def _caller(x):
    return _scaled(x, 0, False) + _scaled(x, 1, False) + _scaled(x, 2, True)


def test_a_callee_compiles_once_whatever_the_constants_it_is_called_with():
    assert _caller(np.float64(2.0)) == 0.0 + 2.0 + 6.0
    # Numba's own dispatcher compiles one specialisation per literal value: 3 here
    assert len(_scaled.nopython_signatures) == 1


@_jit.jit(cache=False)
def _checked(x):
    if x > 3.0:
        raise ValueError("too large", x)
    return 2.0 * x


@_jit.jit(cache=False)
def _checked_plus_one(x):
    return _checked(x) + 1.0


def test_a_callee_of_compiled_code_is_only_linked_into_it_and_still_callable_from_python():
    assert _checked_plus_one(1.0) == 3.0
    # compiled once, to be linked into its caller: no Python entry point, no code of its own
    assert len(_checked.nopython_signatures) == 1
    assert _checked.signatures == []
    with pytest.raises(ValueError, match="too large"):  # the linked code finds its environment
        _checked_plus_one(5.0)
    assert _checked(2.0) == 4.0  # a Python caller gets a full compile
    assert len(_checked.signatures) == 1


_HYDRA_HELP = """
import sys
from hydra import version
from hydra._internal.utils import _run_hydra
from fleetsim import cli, config, paths
parser = cli.args_parser()
args = parser.parse_args(sys.argv[1:])
config.register()
version.setbase("1.3")
_run_hydra(args=args, args_parser=parser, task_function=cli._job,
           config_path=str(paths.conf_dir()), config_name="config")
"""


def test_help_prints_what_hydra_prints(tmp_path):
    (tmp_path / "conf" / "workload").mkdir(parents=True)
    (tmp_path / "conf" / "workload" / "mine.yaml").write_text("requests_per_day: 5\n")
    for argv in (["--help"], ["-cd", "conf", "--help", "workload=mine", "finance.years=3"]):
        ours, hydra = (
            subprocess.run(
                [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path
            )  # fmt: skip
            for code in ("from fleetsim.cli import main\nmain()\n", _HYDRA_HELP)
        )
        assert ours.returncode == hydra.returncode == 0, ours.stderr + hydra.stderr
        assert ours.stdout == hydra.stdout
        assert "workload: chat" in ours.stdout


def test_configs_parsed_with_libyaml_give_what_omegaconf_gives():
    import omegaconf
    import yaml
    from omegaconf import _utils

    from fleetsim import paths, yamlio

    hydra_conf = Path(omegaconf.__file__).parents[1] / "hydra" / "conf"
    files = sorted(paths.conf_dir().rglob("*.yaml")) + sorted(hydra_conf.rglob("*.yaml"))
    assert len(files) > 20
    texts = [f.read_text() for f in files] + ["a: 1e5\nb: .inf\nc: 2026-12-01\nd: 1_000\ne: 0x1f\n"]
    original = _utils.get_yaml_loader
    try:
        expected = [yaml.load(t, Loader=original()) for t in texts]
        yamlio.parse_configs_with_libyaml()
        assert _utils.get_yaml_loader is not original
        got = [yaml.load(t, Loader=_utils.get_yaml_loader()) for t in texts]
        with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key"):
            yaml.load("a: 1\na: 2\n", Loader=_utils.get_yaml_loader())
    finally:
        _utils.get_yaml_loader = original
        yamlio._OMEGACONF_LOADER = None
    assert repr(got) == repr(expected)
