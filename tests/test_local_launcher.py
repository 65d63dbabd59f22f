"""``hydra/launcher=local`` (submitit's local executor): each job's output reaches the terminal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fleetsim import local_report

from .test_sharding import _env

JOB_LOG = """submitit INFO (2026-12-01 17:53:57,291) - Starting with JobEnvironment(job_id=12326)
scenarios: 1 over model(1) x hardware(1); feasible 1
options by TCO over 5 years:
  #  hardware  TCO
  1  b200      $10.4M
written: /sweep/0/fleetsim.nc
submitit INFO (2026-12-01 17:54:15,108) - Job completed successfully
"""
JOB_ERR = """[2026-12-01 17:54:15,108][submitit][INFO] - Job completed successfully
fleetsim: error: workload.requests_per_day=-1 is not allowed: at least 0
"""


def _job(root: Path, pid: int, out: str, err: str, ended: bool = True) -> Path:
    folder = root / str(pid)
    folder.mkdir(parents=True)
    (folder / f"{pid}_0_log.out").write_text(out)
    (folder / f"{pid}_0_log.err").write_text(err)
    if ended:
        (folder / f"{pid}_0_result.pkl").write_bytes(b"")
    return folder


def test_each_ended_job_is_shown_once_with_its_log_and_output(tmp_path, capsys):
    root = tmp_path / ".submitit"
    jobs = local_report.LocalJobs(root, 3)
    jobs.scan()
    assert capsys.readouterr().out == ""  # nothing started yet
    _job(root, 12326, JOB_LOG, "")
    _job(root, 12327, "submitit INFO (2026-12-01 17:53:57,291) - Starting\n", JOB_ERR)
    _job(root, 12328, "", "", ended=False)
    jobs.scan()
    jobs.scan()  # a second look prints nothing new
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0]
        == f"fleetsim: 3 local jobs started; each one's output follows as it ends (logs in {root})"
    )
    assert lines[1] == (
        f"fleetsim: job 12326: written: /sweep/0/fleetsim.nc (log: {root}/12326/12326_0_log.out)"
    )
    assert lines[2:6] == [
        "  scenarios: 1 over model(1) x hardware(1); feasible 1",
        "  options by TCO over 5 years:",
        "    #  hardware  TCO",
        "    1  b200      $10.4M",
    ]
    assert lines[6].startswith("fleetsim: job 12327: failed: workload.requests_per_day=-1")
    assert lines[6].endswith(f"(log: {root}/12327/12327_0_log.err)")
    assert lines[7] == "  fleetsim: error: workload.requests_per_day=-1 is not allowed: at least 0"
    assert len(lines) == 8  # the job still running is not shown
    jobs.scan(final=True)
    assert capsys.readouterr().out.splitlines() == [
        f"fleetsim: job 12328: failed: no outcome in its logs (log: {root}/12328/12328_0_log.err)"
    ]
    assert [o.state for o in jobs.outcomes] == ["written", "failed", "failed"]


def test_a_local_multirun_prints_every_jobs_summary(tiny_catalog_env, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "fleetsim", "-m", "hydra/launcher=local", "model=test-dense",
         "hardware=test-gpu,test-small", "finance.years=2", f"hydra.sweep.dir={tmp_path}/sweep"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert (
        f"fleetsim: 2 local jobs started; each one's output follows as it ends (logs in {tmp_path}/sweep/.submitit)"
        in out
    )
    written = re.findall(
        r"^fleetsim: job \d+: written: (\S+) \(log: (\S+_0_log\.out)\)$", out, re.M
    )
    assert sorted(Path(path).parent.name for path, _ in written) == ["0", "1"]
    assert all(Path(log).exists() for _, log in written)
    assert out.count("  scenarios: 1 over ") == 2  # each job's summary, indented
    assert "test-gpu" in out
    assert "test-small" in out
    assert re.search(r"^fleetsim: 2 jobs done \(2 written\); results: ", out, re.M)
