"""The SLURM site check: a job that no node of its partition can run is refused by name."""

import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from efa.workflow.slurm_site import (
    JobRequest,
    SiteError,
    check_site,
    gres_gpus,
    job_request,
    parse_sinfo,
    site_nodes,
    time_limit_minutes,
    unrunnable_jobs,
)

from .conftest import snakemake

ROOT = Path(__file__).resolve().parents[2]

SINFO = """\
cpu01|cpu*|64|256000|(null)|2-00:00:00
cpu02|cpu*|32|128000+|(null)|2-00:00:00
gpu01|gpu|32|512000|gpu:a100:4(S:0-1),shard:8|1-00:00:00
gpu01|debug|32|512000|gpu:a100:4(S:0-1)|30:00
"""


def request(**fields) -> JobRequest:
    defaults = dict(job="rule train", partitions=(), cpus=1, mem_mb=1000, gpus=0, runtime_min=60)
    return JobRequest(**{**defaults, **fields})


def test_sinfo_lines_become_nodes_per_partition():
    nodes = parse_sinfo(SINFO)
    assert [(node.name, node.partition, node.default) for node in nodes] == [
        ("cpu01", "cpu", True),
        ("cpu02", "cpu", True),
        ("gpu01", "gpu", False),
        ("gpu01", "debug", False),
    ]
    assert nodes[1].mem_mb == 128000 and nodes[2].gpus == 4
    assert nodes[0].time_limit_min == 2880 and nodes[3].time_limit_min == 30
    with pytest.raises(SiteError, match="node|partition|cpus"):
        parse_sinfo("cpu01|cpu*|64")
    with pytest.raises(SiteError, match="could not be read"):
        parse_sinfo("cpu01|cpu*|many|256000|(null)|infinite")


def test_jobs_that_fit_pass_and_the_others_are_named_with_what_the_site_offers():
    nodes = parse_sinfo(SINFO)
    assert unrunnable_jobs([request(cpus=64, mem_mb=256000, runtime_min=2880)], nodes) == []
    assert unrunnable_jobs([request(partitions=("gpu",), gpus=4, cpus=32)], nodes) == []
    problems = unrunnable_jobs(
        [
            request(job="rule train (model=efa)", cpus=8, gpus=1),  # default partition: no GPU
            request(job="rule probe", cpus=128),
            request(job="rule evaluate", partitions=("debug",), gpus=1, runtime_min=60),
            request(job="rule report", partitions=("bigmem",)),
            request(job="rule build", partitions=("gpu", "cpu"), cpus=64),  # cpu01 fits
        ],
        nodes,
    )
    assert len(problems) == 4
    assert problems[0].startswith("rule train (model=efa) asks for 8 CPUs, 1000 MB, 1 GPUs")
    assert "the default partition" in problems[0] and "0 GPUs" in problems[0]
    assert "128 CPUs" in problems[1] and "at most 64 CPUs" in problems[1]
    assert "partition debug" in problems[2] and "30 min" in problems[2]
    assert problems[3] == "rule report asks for partition bigmem, which sinfo does not list"


@given(
    days=st.integers(0, 30),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
)
def test_time_limits_in_every_slurm_form(days, hours, minutes, seconds):
    clock = hours * 60 + minutes + seconds / 60
    assert time_limit_minutes(f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}") == pytest.approx(
        days * 1440 + clock
    )
    assert time_limit_minutes(f"{days}-{hours}") == days * 1440 + hours * 60
    assert time_limit_minutes(f"{hours}:{minutes:02d}:{seconds:02d}") == pytest.approx(clock)
    assert time_limit_minutes(f"{minutes}:{seconds:02d}") == minutes + seconds / 60
    assert time_limit_minutes(str(minutes)) == minutes


def test_unlimited_time_and_gpu_counts_of_gres():
    assert math.isinf(time_limit_minutes("infinite")) and math.isinf(
        time_limit_minutes("UNLIMITED")
    )
    assert [
        gres_gpus(text) for text in ("(null)", "gpu", "gpu:2", "gpu:h100:8(S:0),gpu:a100:2")
    ] == [
        0,
        1,
        2,
        10,
    ]


def test_a_snakemake_job_becomes_a_request():
    resources = {"slurm_partition": "gpu, debug", "mem_mb": 8000, "gpu": 2, "runtime": 90}
    job = SimpleNamespace(
        rule=SimpleNamespace(name="train"),
        wildcards_dict={"experiment": "two_atoms", "model": "efa"},
        threads=4,
        resources=resources,
        is_local=False,
    )
    assert job_request(job) == JobRequest(
        job="rule train (experiment=two_atoms, model=efa)",
        partitions=("gpu", "debug"),
        cpus=4,
        mem_mb=8000,
        gpus=2,
        runtime_min=90.0,
    )
    resources.update(gpu=0, gres="gpu:a100:3")
    assert job_request(job).gpus == 3
    local = SimpleNamespace(**{**vars(job), "is_local": True})
    check_site([local])  # local jobs never reach SLURM: nothing to ask sinfo


def test_the_slurm_profile_leaves_job_sizes_to_the_configuration():
    """A command-line --set-resources replaces a profile's whole set-resources: the profile sets
    none, so such an option changes one key of one rule and nothing else."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert "set-resources" not in profile and "set-threads" not in profile
    assert profile["slurm-status-command"] == "squeue"
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] is True


@pytest.mark.skipif(
    shutil.which("sinfo") is None
    or not Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).is_file(),
    reason="no SLURM client (sinfo) or site configuration here",
)
def test_a_live_site_is_read():
    try:
        subprocess.run(["sinfo", "--noheader"], check=True, capture_output=True, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pytest.skip("sinfo is installed but no SLURM controller answers")
    nodes = site_nodes()
    assert nodes and all(node.cpus >= 1 and node.mem_mb >= 1 for node in nodes)


def test_a_command_line_resource_changes_one_key_of_one_rule(workdir):
    """Through the SLURM profile, --set-resources train:mem_mb=… changes the training jobs'
    memory and keeps their runtime, node count and GPUs (from the configuration and the rule)."""
    result = snakemake(
        workdir,
        "-n",
        "--workflow-profile",
        ROOT / "profiles" / "slurm",
        "--configfile",
        ROOT / "config" / "ci.yaml",
        "--set-resources",
        "train:mem_mb=9999",
    )
    jobs = {}
    for block in result.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        resources = re.search(r"resources: (.*)", block).group(1).split(", ")
        jobs.setdefault(rule, []).append(dict(item.split("=", 1) for item in resources))
    assert len(jobs["train"]) == 2
    for train in jobs["train"]:
        assert (train["mem_mb"], train["runtime"], train["nodes"], train["gpu"]) == (
            "9999",
            "60",
            "1",
            "0",
        )
    assert all(job["mem_mb"] == "4000" for job in jobs["evaluate"])
