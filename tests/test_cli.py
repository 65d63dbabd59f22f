"""The ``fleetsim`` command end to end (subprocesses on the tiny test catalog)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import fleetsim
from fleetsim import api

TINY = Path(__file__).parent / "data" / "catalog"
SWEEP = [
    "model=test-dense",
    "hardware=[test-gpu,test-small]",
    "workload.output_tokens=[128,256]",
    "finance.years=2",
]


def fleetsim_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FLEETSIM_DATA_DIR=str(TINY))
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "fleetsim", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("fleetsim: error: ")
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_run_writes_the_sweep(tmp_path):
    result = fleetsim_cli(*SWEEP, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "scenarios: 4 over model(1) x hardware(2) x output_tokens(2)" in result.stdout
    # the ranked options: hardware is the decision, output_tokens a condition shown as a range
    assert "median (best-worst) over output_tokens 128-256" in result.stdout
    ranked = re.findall(r"^  ([12])  (test-\w+) ", result.stdout, re.MULTILINE)
    assert sorted(ranked) == [("1", ranked[0][1]), ("2", ranked[1][1])]
    assert {name for _, name in ranked} == {"test-gpu", "test-small"}
    match = re.search(r"^written: (.+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    path = Path(match.group(1))
    assert path == tmp_path / "run" / "fleetsim.nc"
    ds = fleetsim.open_dataset(path, chunks=None)
    assert dict(ds.sizes) == {"model": 1, "hardware": 2, "output_tokens": 2, "year": 2}
    assert list(ds["hardware"].values) == ["test-gpu", "test-small"]
    assert "workload.output_tokens=[128,256]" in ds.attrs["history"]
    assert not list(path.parent.glob("*.tmp"))


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    out = tmp_path / "out.nc"
    out.write_bytes(b"precious")
    result = fleetsim_cli(*SWEEP, f"output.path={out}", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert_one_line_error(result, str(out), "output.overwrite=true")
    assert out.read_bytes() == b"precious"
    result = fleetsim_cli(
        *SWEEP, f"output.path={out}", "output.overwrite=true", f"hydra.run.dir={tmp_path}/r",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert fleetsim.open_dataset(out, chunks=None).sizes["hardware"] == 2


def test_unwritable_output_names_the_path(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "out.nc"
    result = fleetsim_cli(*SWEEP, f"output.path={out}", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert_one_line_error(result, f"could not write {out}")


def test_target_keys_are_rejected(tmp_path):
    result = fleetsim_cli("-m", "hydra.launcher._target_=os.system", *SWEEP, cwd=tmp_path)
    assert_one_line_error(result, "_target_")


@pytest.mark.slow
def test_multirun_writes_one_file_per_job(tmp_path):
    result = fleetsim_cli(
        "-m", "model=test-dense", "hardware=test-gpu", "finance.years=2",
        "workload.output_tokens=128,256", f"hydra.sweep.dir={tmp_path}/multi", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    files = sorted((tmp_path / "multi").rglob("fleetsim.nc"))
    assert [f.parent.name for f in files] == ["0", "1"]
    tokens = sorted(
        yaml.safe_load(fleetsim.open_dataset(f, chunks=None).attrs["config_yaml"])["workload"][
            "output_tokens"
        ]
        for f in files
    )
    assert tokens == [128, 256]
    assert result.stdout.count("written: ") == 2


def test_help_lists_groups_flags_and_catalog_ids(tmp_path):
    result = fleetsim_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "== Config groups (group=option) ==" in result.stdout
    assert "workload: chat, interactive, offline" in result.stdout
    assert "--config-dir,-cd" in result.stdout  # Hydra's own flags, from Hydra's parser
    assert "--version : Show fleetsim's version" in result.stdout
    assert "hardware, mix.candidates: test-gpu, test-small" in result.stdout  # the catalog in use
    assert "fleetsim catalog list" in result.stdout
    assert "powered by Hydra" not in result.stdout
    assert "uncertainty" not in result.stdout  # the 45 null lines of the full config are gone


def test_version_is_fleetsims(tmp_path):
    result = fleetsim_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"fleetsim {fleetsim.__version__} (Hydra 1.3")


def test_cfg_job_prints_the_config_and_runs_nothing(tmp_path):
    result = fleetsim_cli("--cfg", "job", "model=test-dense", "finance.years=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cfg = yaml.safe_load(result.stdout)
    assert cfg["model"] == "test-dense"
    assert cfg["finance"]["years"] == 3
    assert list(tmp_path.iterdir()) == []


def test_info_defaults(tmp_path):
    result = fleetsim_cli("--info", "defaults", "model=test-dense", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "workload/chat" in result.stdout


def test_user_presets_compose_with_the_packaged_ones(tmp_path):
    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    (tmp_path / "mine" / "experiment" / "small.yaml").write_text(
        "# @package _global_\nmodel: test-dense\nhardware: test-small\nfinance:\n  years: 2\n"
    )
    out = tmp_path / "run"
    result = fleetsim_cli(
        "-cd", "mine", "experiment=small", "workload=offline", f"hydra.run.dir={out}",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ds = fleetsim.open_dataset(out / "fleetsim.nc", chunks=None)
    assert list(ds["hardware"].values) == ["test-small"]
    assert ds.sizes["year"] == 2
    result = fleetsim_cli("--config-dir=mine", "experiment=large", cwd=tmp_path)
    assert_one_line_error(result, "experiment='large'", "mine/experiment/", "small")


def test_shell_completion_completes_keys_and_options(tmp_path):
    env = {"COMP_LINE": "fleetsim workload=", "COMP_POINT": "18"}
    result = subprocess.run(
        [sys.executable, "-m", "fleetsim", "-sc", "query=bash"],
        cwd=tmp_path, env=dict(os.environ, **env), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        "workload=chat",
        "workload=interactive",
        "workload=offline",
    }


def test_a_bad_value_leaves_no_output_folder(tmp_path):
    result = fleetsim_cli("model=test-dense", "hardware=test-gpu", "finance.years=0", cwd=tmp_path)
    assert_one_line_error(result, "finance.years=0")
    assert list(tmp_path.iterdir()) == []


def test_a_run_refused_in_its_job_leaves_no_output_folder(tmp_path):
    (tmp_path / "results").mkdir()
    result = fleetsim_cli(
        "model=test-dense", "hardware=test-gpu", f"output.path={tmp_path / 'results'}", cwd=tmp_path
    )
    assert_one_line_error(result, "is a folder: name a file in it")
    assert "overwrite" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no outputs/<date>/<time>/


#: the accelerator template users copy (the H100's values)
ACCELERATOR = Path(__file__).parents[1] / "data" / "templates" / "accelerator.yaml"


@pytest.mark.parametrize("multirun", [False, True])
def test_a_run_takes_brought_files_and_all_selections(tmp_path, multirun):
    # the check before Hydra starts reads the files and expands all, as the job does
    folder = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    result = fleetsim_cli(
        *(["-m"] if multirun else []), "model=all:moe", f"hardware=[test-gpu,{ACCELERATOR}]",
        "finance.years=2", f"{folder}={tmp_path}/run", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = tmp_path / "run" / ("0" if multirun else "") / "fleetsim.nc"
    with fleetsim.open_dataset(path, chunks=None) as ds:
        assert list(ds["model"].values) == ["test-moe", "test-mla"]
        assert list(ds["hardware"].values) == ["test-gpu", str(ACCELERATOR)]


def test_multirun_checks_every_swept_value_before_launching(tmp_path):
    result = fleetsim_cli(
        "-m", "model=test-dense", "hardware=test-gpu,test-small", "finance.years=2,0",
        f"hydra.sweep.dir={tmp_path}/multi", cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(result, "finance.years=0")
    assert not (tmp_path / "multi").exists()


def test_experimental_rerun_is_refused(tmp_path):
    result = fleetsim_cli("--experimental-rerun", "config.pickle", cwd=tmp_path)
    assert_one_line_error(result, "--experimental-rerun='config.pickle'", "not supported")


def test_a_missing_scheduler_is_one_line(tmp_path):
    env_path = str(Path(sys.executable).parent)  # python and fleetsim, but no sbatch
    result = subprocess.run(
        [sys.executable, "-m", "fleetsim", "-m", "hydra/launcher=slurm", *SWEEP],
        cwd=tmp_path, env=dict(os.environ, PATH=env_path, FLEETSIM_DATA_DIR=str(TINY)),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert_one_line_error(result, "hydra/launcher='slurm'", "sbatch is not on PATH")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("hydra=1",), "Config group override must be a string or a list"),
        (("hydra.run.dir=${oc.env:FLEETSIM_SURELY_UNSET}",), "FLEETSIM_SURELY_UNSET"),
        (("-m", "deployment.tp=interval(1,2)"), "INTERVAL_SWEEP"),
        (("-m", "hydra/launcher=nope"), "hydra/launcher"),
    ],
    ids=["hydra-node", "unset-run-dir", "interval-sweep", "unknown-launcher"],
)
def test_hydra_own_errors_are_one_line_and_exit_2(tmp_path, args, fragment):
    dirs = [f"hydra.sweep.dir={tmp_path}/m"]
    if not any(a.startswith("hydra.run.dir") for a in args):
        dirs.append(f"hydra.run.dir={tmp_path}/r")
    result = fleetsim_cli(*args, *SWEEP, *dirs, cwd=tmp_path)
    assert_one_line_error(result, "fleetsim: error: ", fragment)


#: five axes of 100,000 values: 1e25 scenarios
GIANT = [f"{key}=${{linspace:1,2,100000}}" for key in (
    "workload.requests_per_day", "finance.electricity_usd_per_kwh", "deployment.spare_frac",
    "workload.peak_to_mean", "facility.colocation_usd_per_kw_month")]  # fmt: skip


def test_a_giant_sweep_is_refused_at_once_in_one_line(tmp_path):
    """Its size comes from the axes before anything is enumerated (was ~90 s, then a
    ``ValueError: iterator is too large`` traceback)."""
    result = fleetsim_cli(*GIANT, f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert_one_line_error(result, "sweep.shards=1", "1e+25 scenarios", "sweep fewer values")
    assert not list(tmp_path.rglob("*.nc*"))


#: a streamed sweep of 20,000 scenarios in chunks of 1,000
LONG = ["model=test-dense", "hardware=[test-gpu,test-small]", "finance.years=2",
        "workload.requests_per_day=${linspace:1e5,1e8,100}",
        "finance.electricity_usd_per_kwh=${linspace:0.04,0.2,100}", "sweep.chunk_size=1000"]  # fmt: skip

#: runs ``fleetsim`` (argv after the signal number and a part of the file name) and sends itself
#: the signal right after the second chunk written to a file whose name contains that part: the
#: signal lands mid-write, however fast or slow the machine is. Ctrl-C's handler is Python's
#: default, as at a terminal (a shell's background job would inherit SIGINT ignored)
SIGNAL_DRIVER = """
import os, signal, sys
from fleetsim import cli, io
signal.signal(signal.SIGINT, signal.default_int_handler)
signum, part = int(sys.argv[1]), sys.argv[2]
real, written = io.StreamWriter.write, []
def write(self, slices, arrays):
    real(self, slices, arrays)
    if part in self.final.name:
        written.append(slices)
        if len(written) == 2:
            os.kill(os.getpid(), signum)
io.StreamWriter.write = write
cli.main(sys.argv[3:])
"""


def signalled_cli(signum: int, part: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``fleetsim *args``; it signals itself mid-write of the file named like ``part``."""
    env = dict(os.environ, FLEETSIM_DATA_DIR=str(TINY))
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-c", SIGNAL_DRIVER, str(int(signum)), part, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def one_line_on_stderr(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if not line.startswith("fleetsim: compil")]
    lines = [line for line in lines if not line.startswith("fleetsim: kernel ready")]
    assert len(lines) == 1, result.stderr
    return lines[0]


SIGNALS = pytest.mark.parametrize(
    ("signum", "status", "word"),
    [
        (signal.SIGINT, 130, "fleetsim: interrupted (SIGINT); no partial output left"),
        (signal.SIGTERM, 143, "fleetsim: error: SIGTERM: stopped before"),
    ],
    ids=["sigint", "sigterm"],
)


@SIGNALS
def test_a_signal_mid_write_leaves_no_file_and_prints_one_line(tmp_path, signum, status, word):
    out = tmp_path / "long.nc"
    result = signalled_cli(signum, "long.nc", *LONG, f"output.path={out}",
                           f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)  # fmt: skip
    assert result.returncode == status, (result.stdout, result.stderr)
    assert one_line_on_stderr(result).startswith(word), result.stderr
    assert not list(tmp_path.glob("long.nc*"))


#: four shards of 5,000 scenarios, run one after another (Hydra's basic launcher)
SHARDED = [*LONG[:-1], "sweep.chunk_size=500", "sweep.shards=4", "sweep.shard=range(0,4)"]
PARTS = [f"part-0000{i}-of-00004.nc" for i in range(4)]


@SIGNALS
def test_a_multirun_interrupted_mid_way_resumes_without_redoing_finished_shards(
    tiny_catalog_env, tmp_path, signum, status, word
):
    out = tmp_path / "sweep"
    dirs = [f"output.path={out}", f"hydra.sweep.dir={tmp_path}/m"]
    stopped = signalled_cli(signum, PARTS[2], "-m", *SHARDED, *dirs, cwd=tmp_path)
    assert stopped.returncode == status, (stopped.stdout, stopped.stderr)
    assert one_line_on_stderr(stopped).startswith(word), stopped.stderr
    assert stopped.stdout.count("written: ") == 2
    assert sorted(p.name for p in out.iterdir()) == PARTS[:2]  # part 2's temporary file is gone
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    resumed = fleetsim_cli("-m", *SHARDED, *dirs, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("skipped: ") == 2
    assert resumed.stdout.count("written: ") == 2
    for name in PARTS[:2]:
        assert f"skipped: {out / name}" in resumed.stdout
        assert (out / name).stat().st_mtime_ns == mtimes[name], name  # not recomputed
    assert sorted(p.name for p in out.iterdir()) == PARTS
    whole = api.write(LONG, tmp_path / "whole.nc")  # the same sweep, unsharded
    with fleetsim.open_dataset(out / "*.nc") as merged, fleetsim.open_dataset(whole) as one:
        for name in one.data_vars:
            assert merged[name].values.tobytes() == one[name].values.tobytes(), name
