"""Check a SLURM request against its partition before submitting it.

A job array asking more than any node of its partition has does not fail on most clusters: it
pends forever (``Reason=PartitionConfig``) unless the site sets ``EnforcePartLimits``. fleetsim's
launcher reads the partition with ``scontrol``/``sinfo`` first and turns such a request into a
one-line error naming the ``hydra.launcher`` key, the value and what the partition allows.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from fleetsim.errors import ConfigError, InputError, one_line

#: kernel threads (CPUs) per job when neither ``sweep.threads`` nor the launcher says
DEFAULT_CPUS = 2

_UNLIMITED = {"UNLIMITED", "INFINITE", "NONE"}


def cpus_for(threads: object) -> int:
    """Return the CPUs one job asks for: ``sweep.threads`` if set, else :data:`DEFAULT_CPUS`.

    The ``fleetsim.cpus`` resolver of the ``slurm`` preset (``cpus_per_task``).
    """
    return int(threads) if isinstance(threads, int) and threads > 0 else DEFAULT_CPUS


@dataclass(frozen=True)
class Request:
    """What one job of the array asks for (from the launcher's parameters)."""

    partition: str | None
    cpus_per_task: int
    tasks_per_node: int
    mem_gb: float | None
    timeout_min: int
    nodes: int

    @classmethod
    def of(cls, params: Mapping) -> Request:
        """Return the request of the launcher parameters ``params`` (``hydra.launcher``)."""
        return cls(
            partition=params.get("partition"),
            cpus_per_task=int(params.get("cpus_per_task") or 1),
            tasks_per_node=int(params.get("tasks_per_node") or 1),
            mem_gb=params.get("mem_gb"),
            timeout_min=int(params.get("timeout_min") or 0),
            nodes=int(params.get("nodes") or 1),
        )


@dataclass(frozen=True)
class Partition:
    """What a partition allows one job: limits (None: unlimited) and its largest node."""

    name: str
    state: str
    max_minutes: int | None
    max_cpus_per_node: int | None
    max_mem_per_node_mb: int | None
    total_nodes: int
    node_cpus: int
    node_mem_mb: int


def minutes(text: str) -> int | None:
    """Return a SLURM time limit in whole minutes (rounded up), or None when unlimited.

    Formats: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``.
    """
    if text.upper() in _UNLIMITED:
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        parts += [0] * (3 - len(parts))  # D-H, D-H:M
        hours, mins, secs = parts
    elif len(parts) == 3:
        hours, mins, secs = parts
    else:
        hours, (mins, secs) = 0, (parts + [0])[:2]
    total = ((int(days or 0) * 24 + hours) * 60 + mins) * 60 + secs
    return -(-total // 60)


def _limit(text: str | None) -> int | None:
    return None if text is None or text.upper() in _UNLIMITED else int(text)


def parse_partitions(text: str) -> dict[str, dict[str, str]]:
    """Return ``scontrol show partition --oneliner`` output as name -> {key: value}."""
    partitions = {}
    for line in text.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "PartitionName" in fields:
            partitions[fields["PartitionName"]] = fields
    return partitions


def parse_nodes(text: str) -> tuple[int, int]:
    """Return the most CPUs and memory [MB] of one node from ``sinfo -h -o '%c %m'`` lines."""
    sizes = [tuple(int(v.rstrip("+")) for v in line.split()) for line in text.splitlines() if line]
    return max((s[0] for s in sizes), default=0), max((s[1] for s in sizes), default=0)


def partition(fields: Mapping[str, str], nodes: tuple[int, int]) -> Partition:
    """Return the :class:`Partition` of one ``scontrol`` record and its nodes' largest size."""
    return Partition(
        name=fields["PartitionName"],
        state=fields.get("State", "UP"),
        max_minutes=minutes(fields.get("MaxTime", "UNLIMITED")),
        max_cpus_per_node=_limit(fields.get("MaxCPUsPerNode")),
        max_mem_per_node_mb=_limit(fields.get("MaxMemPerNode")),
        total_nodes=int(fields.get("TotalNodes", "0")),
        node_cpus=nodes[0],
        node_mem_mb=nodes[1],
    )


def check(request: Request, part: Partition) -> None:
    """Raise :class:`~fleetsim.errors.ConfigError` if ``part`` can never run ``request``."""
    where = f"partition {part.name!r}"
    if part.state != "UP":
        raise ConfigError(
            "hydra.launcher.partition",
            part.name,
            f"a partition that is UP ({where} is {part.state})",
        )
    if request.nodes > part.total_nodes:
        raise ConfigError(
            "hydra.launcher.nodes",
            request.nodes,
            f"at most {part.total_nodes} ({where} has {part.total_nodes} nodes)",
        )
    cpus = min(part.node_cpus, part.max_cpus_per_node or part.node_cpus)
    if request.cpus_per_task * request.tasks_per_node > cpus:
        per_task = max(1, cpus // request.tasks_per_node)
        raise ConfigError(
            "hydra.launcher.cpus_per_task",
            request.cpus_per_task,
            f"at most {per_task} ({where} has at most {cpus} CPUs per node; "
            "sweep.threads or hydra.launcher.cpus_per_task sets it)",
        )
    memory = min(part.node_mem_mb, part.max_mem_per_node_mb or part.node_mem_mb)
    if request.mem_gb is not None and request.mem_gb * 1024 > memory:
        raise ConfigError(
            "hydra.launcher.mem_gb",
            request.mem_gb,
            f"at most {memory // 1024} ({where} has at most {memory} MB per node)",
        )
    if part.max_minutes is not None and request.timeout_min > part.max_minutes:
        raise ConfigError(
            "hydra.launcher.timeout_min",
            request.timeout_min,
            f"at most {part.max_minutes} (the MaxTime of {where})",
        )


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        detail = one_line(getattr(error, "stderr", None) or str(error))
        raise InputError(f"{' '.join(command)} failed: {detail}") from error
    return done.stdout


def query(name: str | None) -> Partition:
    """Return the partition ``name`` (None: the cluster's default) as SLURM describes it.

    Raises
    ------
    fleetsim.InputError
        If SLURM's commands are missing, or there is no such partition (or no default).
    """
    if shutil.which("scontrol") is None or shutil.which("sbatch") is None:
        raise InputError(
            "hydra/launcher=slurm needs SLURM's sbatch and scontrol on PATH and this machine has "
            "none: submit from the cluster's login node (hydra/launcher=local tries a sweep here)"
        )
    partitions = parse_partitions(_run(["scontrol", "show", "partition", "--oneliner"]))
    if name is None:
        defaults = [n for n, f in partitions.items() if f.get("Default") == "YES"]
        if not defaults:
            raise ConfigError(
                "hydra.launcher.partition",
                None,
                f"a partition name (this cluster has no default): one of {', '.join(partitions)}",
            )
        name = defaults[0]
    if name not in partitions:
        raise ConfigError(
            "hydra.launcher.partition", name, f"one of {', '.join(partitions) or '(none)'}"
        )
    nodes = parse_nodes(_run(["sinfo", "--noheader", "--partition", name, "--format", "%c %m"]))
    return partition(partitions[name], nodes)
