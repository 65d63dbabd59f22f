"""What fleetsim's local submitit launcher prints: each job's own output, as the job ends.

``hydra/launcher=local`` runs every job as a process of its own through submitit, which sends the
job's output to ``<sweep>/.submitit/<pid>/<pid>_0_log.out`` (and ``.err``). The launcher
(``hydra_plugins.fleetsim_slurm.launcher.LocalLauncher``) watches that folder and, for each job
that ends, prints its outcome with the log's path and then what the job printed (its summary, or
its error), without submitit's and Hydra's logging lines.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from fleetsim.slurm_report import Outcome, _text, format_outcome, read_outcome

#: a local job's folder: the job's process id
_JOB = re.compile(r"^\d+$")
#: lines submitit and Hydra's logging add to a job's logs
_NOISE = re.compile(r"^(submitit [A-Z]+ \(|\[\d{4}-\d\d-\d\d [\d:,]+\]\[[A-Za-z_.]+\]\[[A-Z]+\])")


def own_lines(log: str) -> list[str]:
    """Return what the job itself printed: ``log`` without submitit's and Hydra's log lines."""
    return [line for line in log.splitlines() if line.strip() and not _NOISE.match(line)]


class LocalJobs:
    """The jobs of one local launch, seen through their submitit folders (``<root>/<pid>/``).

    Parameters
    ----------
    root : pathlib.Path
        submitit's folder of the launch (``<sweep dir>/.submitit``).
    count : int
        Jobs launched.
    """

    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        self.count = count
        self.outcomes: list[Outcome] = []
        self._seen: set[str] = set()
        self._announced = False
        self._lock = threading.Lock()

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        found = [f for f in self.root.iterdir() if _JOB.match(f.name) and f.is_dir()]
        return sorted(found, key=lambda folder: int(folder.name))

    def scan(self, final: bool = False) -> None:
        """Print every job that ended since the last scan: its outcome, log path and output.

        Parameters
        ----------
        final : bool, default False
            The launch is over: report every job folder, ended or not (a job that died
            without a result reads "no outcome in its logs").
        """
        with self._lock:
            folders = self._folders()
            if folders and not self._announced:
                self._announced = True
                print(
                    f"fleetsim: {self.count} local jobs started; each one's output follows as it "
                    f"ends (logs in {self.root})",
                    flush=True,
                )
            for folder in folders:
                name = folder.name
                ended = (folder / f"{name}_0_result.pkl").exists()
                if name in self._seen or not (ended or final):
                    continue
                self._seen.add(name)
                self._report(folder)

    def _report(self, folder: Path) -> None:
        name = folder.name
        out_log, err_log = (folder / f"{name}_0_log.{suffix}" for suffix in ("out", "err"))
        out, err = own_lines(_text(out_log)), own_lines(_text(err_log))
        state, detail = read_outcome("\n".join(out), "\n".join(err)) or (
            "failed",
            "no outcome in its logs",
        )
        failed = state == "failed"
        outcome = Outcome(f"job {name}", state, detail, err_log if failed else out_log)
        self.outcomes.append(outcome)
        print(format_outcome(outcome), flush=True)
        shown = [line for line in out if not line.startswith(("written: ", "skipped: "))]
        shown += err if failed else []
        if shown:
            print("\n".join(f"  {line}" for line in shown), flush=True)
