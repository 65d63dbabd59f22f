"""What fleetsim's SLURM launcher prints while a job array runs, read from submitit's folders.

Each job's outcome (written / skipped / failed, with its log) as the job ends; a final line with
the merged result; for a failed job, its log and the command that resumes the sweep; on Ctrl-C,
which SLURM jobs were cancelled. The launcher itself is
``hydra_plugins.fleetsim_slurm.launcher.SlurmLauncher`` (Hydra only loads launchers from the
``hydra_plugins`` package).
"""

from __future__ import annotations

import re
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetsim.errors import one_line

#: seconds between two looks at the jobs' folders
POLL_S = 1.0

_TASK = re.compile(r"^(\d+)_(\d+)$")


@dataclass(frozen=True)
class Outcome:
    """What one job of the sweep did: ``written``, ``skipped`` or ``failed``, and where."""

    label: str
    state: str
    detail: str
    log: Path


def label(overrides: Sequence[str], number: int) -> str:
    """Return how a job is named on the terminal: ``shard 3 of 16``, else ``job #<number>``."""
    given = dict(o.split("=", 1) for o in overrides if "=" in o)
    if "sweep.shard" in given and given.get("sweep.shards", "1") != "1":
        return f"shard {given['sweep.shard']} of {given['sweep.shards']}"
    return f"job #{number}"


def read_outcome(stdout: str, stderr: str) -> tuple[str, str] | None:
    """Return (state, detail) from a finished job's logs, or None if they say neither.

    ``written: <path>`` / ``skipped: <path> (...)`` on stdout are the CLI's own lines; a failure
    is its ``fleetsim: error: ...`` line on stderr (else the last line of a traceback).
    """
    for line in reversed(stdout.splitlines()):
        for state in ("written", "skipped"):
            if line.startswith(f"{state}: "):
                return state, line[len(state) + 2 :].split(" (", 1)[0]
    errors = [line for line in stderr.splitlines() if line.startswith("fleetsim: error: ")]
    if errors:
        return "failed", errors[-1][len("fleetsim: error: ") :]
    lines = [line for line in stderr.splitlines() if line and not line.startswith(" ")]
    return ("failed", lines[-1]) if lines and "Error" in lines[-1] else None


def format_outcome(outcome: Outcome) -> str:
    """Return the terminal line of one job's outcome."""
    return f"fleetsim: {outcome.label}: {outcome.state}: {outcome.detail} (log: {outcome.log})"


def merged(outcomes: Sequence[Outcome]) -> str:
    """Return the final line of a sweep whose jobs all succeeded: where its result is."""
    counts = ", ".join(
        f"{sum(o.state == s for o in outcomes)} {s}"
        for s in ("written", "skipped")
        if any(o.state == s for o in outcomes)
    )
    paths = [Path(o.detail) for o in outcomes]
    folders = {p.parent for p in paths}
    if len(folders) == 1 and all(p.name.startswith("part-") for p in paths):
        pattern = next(iter(folders)) / "*.nc"
        where = f'merged result: fleetsim.open_dataset("{pattern}")'
    else:
        where = "results: " + " ".join(str(p) for p in paths)
    return f"fleetsim: {len(outcomes)} jobs done ({counts}); {where}"


def resume_command(argv: Sequence[str]) -> str:
    """Return the command that resumes a sweep: the same one (complete parts are skipped)."""
    return shlex.join(["fleetsim", *argv])


class Jobs:
    """The jobs of one launch, seen through their submitit folders (``<root>/<array>_<i>/``)."""

    def __init__(self, root: Path, labels: Sequence[str]) -> None:
        self.root = root
        self.labels = labels
        self.outcomes: dict[int, Outcome] = {}
        self.arrays: set[str] = set()
        self._lock = threading.Lock()

    def tasks(self) -> dict[int, str]:
        """Return array index -> SLURM job id (``<array>_<index>``) of every submitted job."""
        found = {}
        if self.root.is_dir():
            for folder in self.root.iterdir():
                match = _TASK.match(folder.name)
                if match and int(match[2]) < len(self.labels):
                    found[int(match[2])] = folder.name
        return found

    def _log(self, job_id: str, suffix: str) -> Path:
        return self.root / job_id / f"{job_id}_0_log.{suffix}"

    def scan(self, final_states: dict[int, str] | None = None) -> None:
        """Print the outcome of every job that finished since the last scan.

        ``final_states`` (index -> SLURM state) marks jobs that ended without a result file.
        """
        with self._lock:
            tasks = self.tasks()
            new_arrays = {t.split("_")[0] for t in tasks.values()} - self.arrays
            for array in sorted(new_arrays):
                count = sum(t.startswith(f"{array}_") for t in tasks.values())
                print(
                    f"fleetsim: submitted SLURM job {array} ({count} jobs; logs in {self.root})",
                    flush=True,
                )
            self.arrays |= new_arrays
            for index, job_id in sorted(tasks.items()):
                if index in self.outcomes:
                    continue
                result = self.root / job_id / f"{job_id}_0_result.pkl"
                state = (final_states or {}).get(index)
                if not result.exists() and state is None:
                    continue
                out, err = self._log(job_id, "out"), self._log(job_id, "err")
                found = read_outcome(_text(out), _text(err))
                if found is None:
                    found = ("failed", state or "no outcome in its logs")
                elif found[0] == "failed" and state:
                    found = ("failed", f"{state}: {found[1]}")
                log = out if found[0] != "failed" else err
                outcome = Outcome(self.labels[index], found[0], found[1], log)
                self.outcomes[index] = outcome
                print(format_outcome(outcome), flush=True)


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _states(jobs: Jobs, pending: dict[int, str]) -> dict[int, str]:
    """Wait for the jobs ``pending`` (index -> id) to end; return their SLURM states."""
    import submitit

    handles = {
        i: submitit.SlurmJob(folder=jobs.root / job_id, job_id=job_id)
        for i, job_id in pending.items()
    }
    while not all(h.done() for h in handles.values()):
        time.sleep(POLL_S)
    return {i: h.state for i, h in handles.items()}


def fail(message: str, status: int) -> None:
    """Print ``fleetsim: <message>`` on stderr and exit with ``status``."""
    print(f"fleetsim: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def watch(jobs: Jobs, stop: threading.Event) -> None:
    """Scan ``jobs`` every :data:`POLL_S` seconds until ``stop`` is set (a watcher thread)."""
    while not stop.wait(POLL_S):
        jobs.scan()


def cancel(jobs: Jobs) -> None:
    """Cancel the submitted job arrays (Ctrl-C), say so, and exit with status 130."""
    import subprocess

    arrays = sorted(jobs.arrays | {t.split("_")[0] for t in jobs.tasks().values()})
    if not arrays:
        fail("interrupted before any job was submitted", 130)
    subprocess.run(["scancel", *arrays], check=False)
    finished = len(jobs.outcomes)
    kept = (
        f"{finished} of {len(jobs.labels)} jobs had ended; their results are kept"
        if finished
        else "no job had ended"
    )
    fail(
        f"interrupted: cancelled SLURM job {' '.join(arrays)} ({kept}). Resume with: "
        f"{resume_command(sys.argv[1:])}",
        130,
    )


def report_failure(jobs: Jobs, error: Exception) -> None:
    """After submitit raised for a job: wait for the others, report them, exit with status 1."""
    try:
        pending = {i: t for i, t in jobs.tasks().items() if i not in jobs.outcomes}
        jobs.scan(_states(jobs, pending))
    except KeyboardInterrupt:
        cancel(jobs)
    failed = [o for o in jobs.outcomes.values() if o.state == "failed"]
    if not failed:  # not a job's failure: submitit's own
        fail(f"error: {one_line(str(error))}", 1)
    kept = "; the others' results are kept" if len(failed) < len(jobs.labels) else ""
    fail(
        f"{len(failed)} of {len(jobs.labels)} jobs failed (logs above){kept}. Resume with: "
        f"{resume_command(sys.argv[1:])}",
        1,
    )
