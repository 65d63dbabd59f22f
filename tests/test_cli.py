"""The ``fleetsim`` command end to end (subprocesses on the tiny test catalog)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def test_help(tmp_path):
    result = fleetsim_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Configuration groups" in result.stdout
    assert "workload: chat, interactive, offline" in result.stdout
    assert "Traceback" not in result.stderr
