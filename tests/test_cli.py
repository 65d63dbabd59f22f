"""The ``fleetsim`` command end to end (subprocesses on the tiny test catalog)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import fleetsim

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


#: a streamed sweep of ~4 M scenarios in chunks of 1,000: it runs for a while
LONG = ["model=test-dense", "hardware=[test-gpu,test-small]", "finance.years=2",
        "workload.requests_per_day=${linspace:1e5,1e8,4000}",
        "finance.electricity_usd_per_kwh=${linspace:0.04,0.2,1000}", "sweep.chunk_size=1000"]  # fmt: skip


@pytest.mark.parametrize(
    ("signum", "status", "word"),
    [
        (signal.SIGINT, 130, "fleetsim: interrupted (SIGINT); no partial output left"),
        (signal.SIGTERM, 143, "fleetsim: error: SIGTERM: stopped before"),
    ],
    ids=["sigint", "sigterm"],
)
def test_a_signal_mid_write_leaves_no_file_and_prints_one_line(tmp_path, signum, status, word):
    env = dict(os.environ, FLEETSIM_DATA_DIR=str(TINY))
    out = tmp_path / "long.nc"
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetsim", *LONG, f"output.path={out}", f"hydra.run.dir={tmp_path}/r"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("long.nc.*.tmp")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # into the chunks (8 M scenarios: the write takes longer than that)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == status, (stdout, stderr)
    lines = [line for line in stderr.splitlines() if not line.startswith("fleetsim: compiling")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(word), stderr
    assert not list(tmp_path.glob("long.nc*"))
