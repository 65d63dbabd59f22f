"""The cluster path's pieces that need no cluster: SIGTERM stops a shard cleanly, the slurm
preset sizes itself, the request check, the outcome report. (The real one-node SLURM run is
scripts/ci/slurm_test.sh, called by .ci/run.)"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading

import pytest

from fleetsim import api, cli, slurm_report, slurm_resources
from fleetsim.errors import ConfigError, InputError

SWEEP = ["model=[test-dense,test-moe]", "hardware=[test-gpu,test-small]", "finance.years=2"]


def test_a_set_stop_event_deletes_the_temporary_file(tiny_catalog_env, tmp_path):
    final = tmp_path / "out.nc"
    stop = threading.Event()
    stop.set()
    with pytest.raises(api.Stopped, match="stopped before .*out.nc was complete"):
        api.write_config(api.compose([*SWEEP, f"output.path={final}"]), stop=stop)
    assert list(tmp_path.iterdir()) == []
    assert not api.write_config(api.compose([*SWEEP, f"output.path={final}"])).skipped


def test_sigterm_sets_the_event_where_submitit_ignores_it():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as submitit's job does
    try:
        with cli._terminable() as stop:
            assert not stop.is_set()
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.wait(5)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # restored
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_keeps_its_default_action_elsewhere():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with cli._terminable() as stop:
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert not stop.is_set()


# --------------------------------------------------------------------------- the preset
def _launcher(*overrides: str):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from fleetsim import config, paths

    config.register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(paths.conf_dir()), version_base="1.3"):
        cfg = compose("config", ["hydra/launcher=slurm", *overrides], return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg.hydra.launcher


@pytest.mark.parametrize(("threads", "cpus"), [(None, 2), (0, 2), (1, 1), (6, 6)])
def test_preset_sizes_cpus_per_task_from_sweep_threads(threads, cpus):
    launcher = _launcher(*([] if threads is None else [f"sweep.threads={threads}"]))
    assert launcher.cpus_per_task == cpus
    assert f"export NUMBA_NUM_THREADS={cpus}" in launcher.setup
    assert "export HDF5_USE_FILE_LOCKING=FALSE" in launcher.setup
    assert launcher._target_ == "hydra_plugins.fleetsim_slurm.launcher.SlurmLauncher"


def test_preset_documents_its_site_keys():
    launcher = _launcher("hydra.launcher.cpus_per_task=8", "hydra.launcher.account=proj")
    assert launcher.cpus_per_task == 8  # an explicit value wins over sweep.threads
    assert launcher.account == "proj"
    for key in ("partition", "qos", "mem_gb", "timeout_min"):
        assert key in launcher
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher

    names = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Launcher)}
    assert launcher._target_ in names  # Hydra finds it (launchers must live in hydra_plugins)


# --------------------------------------------------------------------------- resource check
SCONTROL = (
    "PartitionName=ci AllowGroups=ALL Default=YES MaxNodes=UNLIMITED MaxTime=01:00:00 "
    "MaxCPUsPerNode=UNLIMITED Nodes=vm State=UP TotalCPUs=2 TotalNodes=1 "
    "DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED TRES=cpu=2,mem=19284M,node=1,billing=2\n"
    "PartitionName=big Default=NO MaxTime=2-00:00:00 MaxCPUsPerNode=32 Nodes=b[1-4] "
    "State=DRAIN TotalNodes=4 MaxMemPerNode=128000\n"
)


def _partition(name: str, nodes: str) -> slurm_resources.Partition:
    fields = slurm_resources.parse_partitions(SCONTROL)[name]
    return slurm_resources.partition(fields, slurm_resources.parse_nodes(nodes))


def _request(**changes) -> slurm_resources.Request:
    params = {"cpus_per_task": 2, "mem_gb": 4, "timeout_min": 60, "nodes": 1, "tasks_per_node": 1}
    return slurm_resources.Request.of({**params, **changes})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("UNLIMITED", None), ("INFINITE", None), ("30", 30), ("30:01", 31), ("01:00:00", 60),
     ("2-00:00:00", 2880), ("1-12", 2160), ("1-00:30", 1470)],
)  # fmt: skip
def test_slurm_time_limits_in_minutes(text, expected):
    assert slurm_resources.minutes(text) == expected


def test_partition_parsed_from_scontrol_and_sinfo():
    part = _partition("ci", "2 19284\n")
    assert part == slurm_resources.Partition("ci", "UP", 60, None, None, 1, 2, 19284)
    big = _partition("big", "16 64000\n64 256000+\n")
    assert (big.max_minutes, big.max_cpus_per_node, big.max_mem_per_node_mb) == (2880, 32, 128000)
    assert (big.node_cpus, big.node_mem_mb, big.state) == (64, 256000, "DRAIN")


def test_a_request_that_fits_passes():
    slurm_resources.check(_request(), _partition("ci", "2 19284"))
    big = dataclasses.replace(_partition("big", "64 256000"), state="UP")
    slurm_resources.check(_request(cpus_per_task=32, mem_gb=120, timeout_min=2880), big)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cpus_per_task": 4}, r"hydra.launcher.cpus_per_task=4 .*at most 2 \(partition 'ci' has at most 2 CPUs per node"),
        ({"cpus_per_task": 1, "tasks_per_node": 4}, r"cpus_per_task=1 .*at most 1 "),
        ({"mem_gb": 32}, r"hydra.launcher.mem_gb=32 .*at most 18 \(partition 'ci' has at most 19284 MB"),
        ({"timeout_min": 240}, r"hydra.launcher.timeout_min=240 .*at most 60 \(the MaxTime of partition 'ci'\)"),
        ({"nodes": 2}, r"hydra.launcher.nodes=2 .*at most 1"),
    ],
)  # fmt: skip
def test_a_request_the_partition_cannot_run_is_one_line(changes, message):
    with pytest.raises(ConfigError, match=message) as error:
        slurm_resources.check(_request(**changes), _partition("ci", "2 19284"))
    assert "\n" not in str(error.value)


def test_partition_limits_below_the_node_size_count():
    big = _partition("big", "64 256000")
    with pytest.raises(ConfigError, match=r"cpus_per_task=48 .*at most 32"):
        slurm_resources.check(_request(cpus_per_task=48), dataclasses.replace(big, state="UP"))
    with pytest.raises(ConfigError, match=r"mem_gb=200 .*at most 125"):
        slurm_resources.check(_request(mem_gb=200), dataclasses.replace(big, state="UP"))
    with pytest.raises(ConfigError, match=r"partition='big' .*UP \(partition 'big' is DRAIN\)"):
        slurm_resources.check(_request(), big)


def test_no_slurm_commands_is_one_line(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InputError, match="needs SLURM's sbatch and scontrol on PATH"):
        slurm_resources.query(None)


# --------------------------------------------------------------------------- outcome report
def test_outcomes_read_from_the_cli_lines_of_a_job_log():
    read = slurm_report.read_outcome
    assert read("scenarios: 18\nwritten: /s/part-00001-of-00002.nc\n", "") == (
        "written", "/s/part-00001-of-00002.nc")  # fmt: skip
    assert read("skipped: /s/p.nc (complete, written by the same config)\n", "") == (
        "skipped", "/s/p.nc")  # fmt: skip
    err = "submitit WARNING ...\nfleetsim: error: sweep.shards=2 is not allowed: at most 1\n"
    assert read("", err) == ("failed", "sweep.shards=2 is not allowed: at most 1")
    trace = "Traceback (most recent call last):\n  File x\nMemoryError: out of memory\n"
    assert read("", trace) == ("failed", "MemoryError: out of memory")
    assert read("submitit INFO starting\n", "srun: got SIGCONT\n") is None


def test_outcome_lines_name_the_log_and_the_merged_result(tmp_path):
    log = tmp_path / "7_1_0_log.out"
    written = slurm_report.Outcome("shard 1 of 2", "written", "/s/part-00001-of-00002.nc", log)
    assert slurm_report.format_outcome(written) == (
        f"fleetsim: shard 1 of 2: written: /s/part-00001-of-00002.nc (log: {log})"
    )
    skipped = slurm_report.Outcome("shard 0 of 2", "skipped", "/s/part-00000-of-00002.nc", log)
    assert slurm_report.merged([skipped, written]) == (
        'fleetsim: 2 jobs done (1 written, 1 skipped); merged result: fleetsim.open_dataset("/s/*.nc")'
    )
    other = slurm_report.Outcome("job #1", "written", "/a/1/fleetsim.nc", log)
    assert slurm_report.merged([other]).endswith("results: /a/1/fleetsim.nc")


def test_labels_and_the_resume_command():
    assert slurm_report.label(["a=1", "sweep.shards=16", "sweep.shard=3"], 3) == "shard 3 of 16"
    assert slurm_report.label(["hardware=h200"], 5) == "job #5"
    argv = ["-m", "hydra/launcher=slurm", "sweep.shard=range(0,2)", "x=${linspace:0,1,3}"]
    assert slurm_report.resume_command(argv) == (
        "fleetsim -m hydra/launcher=slurm 'sweep.shard=range(0,2)' 'x=${linspace:0,1,3}'"
    )


def test_jobs_are_reported_once_as_their_results_appear(tmp_path, capsys):
    jobs = slurm_report.Jobs(tmp_path, ["shard 0 of 2", "shard 1 of 2"])
    for i in (0, 1):
        (tmp_path / f"9_{i}").mkdir()
    (tmp_path / "9_0" / "9_0_0_log.out").write_text("written: /s/part-00000-of-00002.nc\n")
    (tmp_path / "9_0" / "9_0_0_result.pkl").write_bytes(b"")
    jobs.scan()
    jobs.scan()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"fleetsim: submitted SLURM job 9 (2 jobs; logs in {tmp_path})",
        "fleetsim: shard 0 of 2: written: /s/part-00000-of-00002.nc "
        f"(log: {tmp_path / '9_0' / '9_0_0_log.out'})",
    ]
    jobs.scan({1: "CANCELLED by 0"})  # ended without a result: its SLURM state
    assert capsys.readouterr().out == (
        "fleetsim: shard 1 of 2: failed: CANCELLED by 0 "
        f"(log: {tmp_path / '9_1' / '9_1_0_log.err'})\n"
    )
    assert sorted(jobs.arrays) == ["9"]
