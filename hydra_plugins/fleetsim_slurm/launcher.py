"""``hydra/launcher=slurm`` and ``local``: hydra-submitit-launcher's launchers, reported.

A thin subclass: submission and waiting stay submitit's. Before it submits, the request is
checked against the partition (:mod:`fleetsim.slurm_resources`) and the kernel compiled once
(:func:`fleetsim.cli.warm`); while it waits, a thread
prints each job's outcome as it ends (:mod:`fleetsim.slurm_report`); Ctrl-C cancels the array.
The local launcher prints each job's outcome, log path and own output as the job ends
(:mod:`fleetsim.local_report`) instead of leaving it in ``.submitit/<pid>/`` only.
It lives in ``hydra_plugins`` because Hydra only instantiates launchers from that package.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher import submitit_launcher

# (fleetsim's modules are imported where used: Hydra's plugin scan imports this module in every
# fleetsim command, launcher or not)


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher with a checked request and a live report."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Check the request, submit the array, print each job's outcome as it ends."""
        from fleetsim import cli, slurm_report, slurm_resources
        from fleetsim.errors import InputError, one_line

        try:
            request = slurm_resources.Request.of(self.params)
            slurm_resources.check(request, slurm_resources.query(request.partition))
        except InputError as error:
            slurm_report.fail(f"error: {one_line(str(error))}", 2)
        cli.warm()  # jobs start warm: they only read Numba's cache
        folder = Path(str(self.params["submitit_folder"]))
        labels = [slurm_report.label(o, initial_job_idx + i) for i, o in enumerate(job_overrides)]
        jobs = slurm_report.Jobs(folder.parent if folder.name == "%j" else folder, labels)
        stop = threading.Event()
        watcher = threading.Thread(target=slurm_report.watch, args=(jobs, stop), daemon=True)
        watcher.start()
        try:
            try:
                returns = super().launch(job_overrides, initial_job_idx)
            finally:
                stop.set()
                watcher.join()
        except KeyboardInterrupt:
            slurm_report.cancel(jobs)
        except Exception as error:  # submitit's UncompletedJobError / FailedJobError
            slurm_report.report_failure(jobs, error)
        jobs.scan()
        print(slurm_report.merged([jobs.outcomes[i] for i in sorted(jobs.outcomes)]), flush=True)
        return returns


class LocalLauncher(submitit_launcher.LocalLauncher):
    """hydra-submitit-launcher's local launcher that shows each job's output as it ends."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Start the jobs; print each one's outcome, log path and output as it ends."""
        from fleetsim import local_report, slurm_report

        folder = Path(str(self.params["submitit_folder"]))
        jobs = local_report.LocalJobs(folder.parent if folder.name == "%j" else folder,
                                      len(job_overrides))  # fmt: skip
        stop = threading.Event()
        watcher = threading.Thread(target=slurm_report.watch, args=(jobs, stop), daemon=True)
        watcher.start()
        try:
            returns = super().launch(job_overrides, initial_job_idx)
        finally:
            stop.set()
            watcher.join()
            jobs.scan(final=True)
        print(slurm_report.merged(jobs.outcomes), flush=True)
        return returns
