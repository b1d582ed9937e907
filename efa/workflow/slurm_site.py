"""Whether a SLURM site can ever run the jobs of a workflow, checked before the first submission.

SLURM accepts a job that asks for more CPUs, GPUs or time than any node of its partition offers
and leaves it ``PENDING`` (reason ``PartitionConfig`` or ``PartitionTimeLimit``) forever; the
executor then waits without a word. :func:`unrunnable_jobs` compares every job's request with the
nodes that ``sinfo`` lists, so such a job is refused, by name, before anything is submitted.

A job can run when one node of one of its partitions (``slurm_partition``, several separated by
commas; else the site's default partition) has at least the job's CPUs (its threads), memory
(``mem_mb``), GPUs (``gpu``, or the count in ``gres``), and a time limit of at least its
``runtime``.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from efa.errors import EfaError

#: The ``sinfo`` call: one line per node and partition, ``|``-separated.
SINFO_COMMAND = ("sinfo", "--noheader", "--Node", "--format=%N|%P|%c|%m|%G|%l")


class SiteError(EfaError):
    """A job asks for more than any node of its partition offers, or the site cannot be read."""


@dataclass(frozen=True)
class SiteNode:
    """One node in one partition, as ``sinfo`` lists it.

    Attributes:
      name: the node's name.
      partition: the partition's name (without sinfo's ``*`` mark of the default partition).
      default: whether the partition is the site's default.
      cpus, mem_mb, gpus: what the node offers (memory in MB; GPUs from its ``gres``).
      time_limit_min: the partition's time limit in minutes (``inf`` when unlimited).
    """

    name: str
    partition: str
    default: bool
    cpus: int
    mem_mb: int
    gpus: int
    time_limit_min: float


@dataclass(frozen=True)
class JobRequest:
    """What one job asks for.

    Attributes:
      job: the job as a reader finds it in the log (rule and wildcards).
      partitions: the partitions it may run in; empty for the default partition.
      cpus, mem_mb, gpus: CPUs (threads), memory in MB and GPUs.
      runtime_min: its time limit in minutes, or ``None`` when it sets none.
    """

    job: str
    partitions: tuple[str, ...]
    cpus: int
    mem_mb: int
    gpus: int
    runtime_min: float | None


def gres_gpus(gres: str) -> int:
    """GPUs in a ``gres`` string: ``gpu:a100:4(S:0-1),shard:8`` → 4, ``gpu:2`` → 2, ``gpu`` → 1,
    ``(null)`` → 0."""
    total = 0
    for item in gres.split(","):
        fields = re.sub(r"\(.*?\)", "", item.strip()).split(":")
        if fields[0] != "gpu":
            continue
        total += int(fields[-1]) if len(fields) > 1 and fields[-1].isdigit() else 1
    return total


def time_limit_minutes(limit: str) -> float:
    """A SLURM time limit in minutes: ``infinite``/``UNLIMITED`` → inf, ``1-12:00:00`` → 2160,
    ``2:30:00`` → 150, ``30:00`` → 30, ``45`` → 45 (minutes)."""
    limit = limit.strip()
    if limit.lower() in ("infinite", "unlimited", "n/a", ""):
        return math.inf
    days, _, clock = limit.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    if days:  # days-hours[:minutes[:seconds]]
        hours, minutes, seconds = parts + [0] * (3 - len(parts))
    elif len(parts) == 1:  # minutes
        hours, minutes, seconds = 0, parts[0], 0
    else:  # minutes:seconds or hours:minutes:seconds
        hours, minutes, seconds = [0] * (3 - len(parts)) + parts
    return int(days or 0) * 1440 + hours * 60 + minutes + seconds / 60


def parse_sinfo(text: str) -> list[SiteNode]:
    """The nodes of :data:`SINFO_COMMAND`'s output (lines ``node|partition|cpus|mem|gres|limit``).

    Raises:
      SiteError: on a line that does not have these six fields.
    """
    nodes = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 6:
            raise SiteError(f"sinfo printed {line!r}; expected node|partition|cpus|mem|gres|limit")
        name, partition, cpus, memory, gres, limit = (field.strip() for field in fields)
        try:
            nodes.append(
                SiteNode(
                    name=name,
                    partition=partition.rstrip("*"),
                    default=partition.endswith("*"),
                    cpus=int(cpus),
                    mem_mb=int(memory.rstrip("+")),
                    gpus=gres_gpus(gres),
                    time_limit_min=time_limit_minutes(limit),
                )
            )
        except ValueError as error:
            raise SiteError(f"sinfo printed {line!r}, which could not be read: {error}") from None
    return nodes


def _fits(request: JobRequest, node: SiteNode) -> bool:
    runtime = request.runtime_min or 0
    return (
        node.cpus >= request.cpus
        and node.mem_mb >= request.mem_mb
        and node.gpus >= request.gpus
        and node.time_limit_min >= runtime
    )


def _largest(nodes: Sequence[SiteNode]) -> str:
    limit = max(node.time_limit_min for node in nodes)
    return (
        f"{max(node.cpus for node in nodes)} CPUs, {max(node.mem_mb for node in nodes)} MB, "
        f"{max(node.gpus for node in nodes)} GPUs, "
        + ("no time limit" if math.isinf(limit) else f"{limit:g} min")
    )


def unrunnable_jobs(requests: Iterable[JobRequest], nodes: Sequence[SiteNode]) -> list[str]:
    """One message per job that no node of its partitions can ever run, naming the job, what it
    asks for and the most the partitions offer (each of CPUs, memory, GPUs, time at its
    largest)."""
    problems = []
    for request in requests:
        if request.partitions:
            candidates = [node for node in nodes if node.partition in request.partitions]
            where = "partition " + ",".join(request.partitions)
        else:
            candidates = [node for node in nodes if node.default]
            where = "the default partition"
        asked = f"{request.cpus} CPUs, {request.mem_mb} MB, {request.gpus} GPUs, " + (
            "no time limit" if request.runtime_min is None else f"{request.runtime_min:g} min"
        )
        if not candidates:
            problems.append(f"{request.job} asks for {where}, which sinfo does not list")
        elif not any(_fits(request, node) for node in candidates):
            problems.append(
                f"{request.job} asks for {asked}; no node of {where} offers that "
                f"(its nodes offer at most {_largest(candidates)})"
            )
    return problems


def site_nodes(timeout_s: float = 30.0) -> list[SiteNode]:
    """The site's nodes from ``sinfo`` (bounded by ``timeout_s``).

    Raises:
      SiteError: when sinfo is missing, fails or does not answer in time.
    """
    try:
        answer = subprocess.run(
            SINFO_COMMAND, capture_output=True, text=True, timeout=timeout_s, check=True
        )
    except FileNotFoundError:
        raise SiteError("sinfo is not on PATH: run the SLURM workflow on a submit host") from None
    except subprocess.TimeoutExpired:
        raise SiteError(f"sinfo did not answer within {timeout_s:g} s") from None
    except subprocess.CalledProcessError as error:
        raise SiteError(f"sinfo failed: {error.stderr.strip()}") from None
    return parse_sinfo(answer.stdout)


def job_request(job) -> JobRequest:
    """The request of a Snakemake job (its rule, wildcards, threads and resources)."""
    resources = job.resources
    partition = resources.get("slurm_partition") or ""
    wildcards = ", ".join(f"{key}={value}" for key, value in dict(job.wildcards_dict).items())
    runtime = resources.get("runtime")
    return JobRequest(
        job=f"rule {job.rule.name}" + (f" ({wildcards})" if wildcards else ""),
        partitions=tuple(part.strip() for part in str(partition).split(",") if part.strip()),
        cpus=int(resources.get("cpus_per_task") or job.threads),
        mem_mb=int(resources.get("mem_mb") or 0),
        gpus=int(resources.get("gpu") or 0) or gres_gpus(str(resources.get("gres") or "")),
        runtime_min=None if runtime is None else float(runtime),
    )


def check_site(jobs: Iterable) -> None:
    """Refuse, before the first submission, the Snakemake jobs that no node can ever run.

    ``jobs`` are the jobs to run (local jobs, which never reach SLURM, are left out).

    Raises:
      SiteError: listing every such job, or when the site's nodes cannot be read.
    """
    requests = [job_request(job) for job in jobs if not job.is_local]
    if not requests:
        return
    problems = unrunnable_jobs(requests, site_nodes())
    if problems:
        raise SiteError(
            "SLURM would keep these jobs pending forever (docs/workflow.md, 'Node sizes'):\n  "
            + "\n  ".join(problems)
        )
