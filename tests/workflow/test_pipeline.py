"""The ci configuration end to end through DVC in a fresh clone, and kill-and-rerun."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import xarray as xr
import yaml

from efa.storage import read_zarr

from .conftest import ROOT, environment, load_config, run, snakemake, snakemake_command, tool


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clone of the repository whose default configuration is the ci one, reproduced once."""
    path = tmp_path_factory.mktemp("clone") / "efa-bench"
    run(["git", "clone", "--quiet", ROOT, path], cwd=path.parent)
    (path / "config" / "config.yaml").write_text((ROOT / "config" / "ci.yaml").read_text())
    run(["git", "commit", "--quiet", "-am", "test: ci configuration as the default"], cwd=path)
    run([tool("dvc"), "repro"], cwd=path, timeout=600)
    # the uninterrupted results, before any test changes the clone (dvc exp run does)
    shutil.copy(path / "results" / "metrics.json", path.parent / "uninterrupted_metrics.json")
    return path


def test_ci_suite_writes_every_output(clone):
    results = clone / "results"
    config = load_config("ci.yaml")
    for experiment, spec in config["experiments"].items():
        for model in spec["models"]:
            for seed in spec["seeds"]:
                store = xr.open_zarr(
                    results / "runs" / experiment / model / f"seed{seed}" / "metrics.zarr",
                    consolidated=False,
                )
                assert set(store.dims) == {"experiment", "model", "seed"}
        for probe in spec["probes"]:
            assert (results / "probes" / f"{probe}.zarr" / "zarr.json").is_file()
    combined = xr.open_zarr(results / "metrics.zarr", consolidated=False)
    assert combined.sizes["model"] == 2
    summary = json.loads((results / "metrics.json").read_text())
    assert summary
    assert (results / "tables" / "test_metrics.md").is_file()
    assert list((results / "figures").glob("*.png"))
    for log in ["report.log", "train/two_atoms/efa/seed0.log", "datasets/two_atoms.log"]:
        assert (results / "logs" / log).is_file()
    for store in [*results.rglob("*.zarr"), *(clone / "datasets").glob("*.zarr")]:
        files = [p for p in store.rglob("*") if p.is_file()]
        assert len(files) <= 80, f"{store} holds {len(files)} files"


def test_second_repro_does_nothing(clone):
    result = run([tool("dvc"), "repro"], cwd=clone)
    assert "Running stage" not in result.stdout, result.stdout
    status = run([tool("dvc"), "status"], cwd=clone)
    assert "up to date" in status.stdout, status.stdout


def test_metrics_show(clone):
    result = run([tool("dvc"), "metrics", "show"], cwd=clone)
    assert "results/metrics.json" in result.stdout, result.stdout


def test_touched_outputs_do_not_rerun(clone):
    """As after 'dvc pull': new modification times alone make neither DVC nor Snakemake rerun."""
    for path in sorted((clone / "results").rglob("*"), reverse=True):
        os.utime(path)
    status = run([tool("dvc"), "status"], cwd=clone)
    assert "up to date" in status.stdout, status.stdout


def test_experiment_changes_a_parameter(clone):
    """'dvc exp run -S' runs an experiment with a changed probe option (the probe reruns with
    it), and 'dvc exp show' lists it with that parameter."""
    run(
        [
            tool("dvc"),
            "exp",
            "run",
            "--name",
            "short",
            "-S",
            "config/config.yaml:experiments.two_atoms.probes.two_atoms.num_points=11",
        ],
        cwd=clone,
        timeout=600,
    )
    result = run([tool("dvc"), "exp", "show", "--no-pager", "--csv"], cwd=clone)
    assert "short" in result.stdout, result.stdout
    assert "experiments.two_atoms.probes.two_atoms.num_points" in result.stdout, result.stdout
    probe = xr.open_zarr(clone / "results" / "probes" / "two_atoms.zarr", consolidated=False)
    assert probe.sizes["point"] == 11


@pytest.mark.extended  # tests/test_storage.py covers the store rule in the default run
def test_adding_a_seed_reruns_the_probe_over_its_store(workdir):
    """A seed added to a finished suite reruns its probe with changed parameters; Snakemake
    deletes the job's declared output, the probe store's root zarr.json, before the job starts,
    and the rest of the old store must not stop the probe from writing the new one (it did
    until the store rule learned this; a DVC-run clone does not show it)."""
    config = load_config("ci.yaml")
    experiment = config["experiments"]["two_atoms"]
    experiment["models"] = {"local": experiment["models"]["local"]}  # one model is enough
    experiment["probes"] = {"two_atoms": experiment["probes"]["two_atoms"]}
    target = "results/probes/two_atoms.zarr/zarr.json"
    first = workdir / "config.yaml"
    first.write_text(yaml.safe_dump(config))
    snakemake(workdir, target, "--cores", "2", "--configfile", first, timeout=600)
    experiment["seeds"] = [0, 1]
    second = workdir / "two_seeds.yaml"
    second.write_text(yaml.safe_dump(config))
    snakemake(workdir, target, "--cores", "2", "--configfile", second, timeout=600)
    probe = read_zarr(workdir / "results" / "probes" / "two_atoms.zarr", "probe")
    assert probe["seed"].values.tolist() == [0, 1]  # complete: every file listed is there


def _train_log(run_dir: Path) -> list[dict]:
    log = run_dir / "train_log.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


@pytest.mark.extended  # the kill of every job kind below and tests/train cover this more cheaply
def test_kill_and_rerun_resumes_from_checkpoint(workdir):
    config = load_config("ci.yaml")
    # enough steps that the kill lands mid-run; the rerun trains what is left of them
    config["train"].update(max_steps=5000, valid_every=100)
    config["experiments"]["two_atoms"]["probes"] = {}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "results/runs/two_atoms/local/seed0/metrics.zarr/zarr.json"
    command = snakemake_command(workdir, target, "--cores", "1", "--configfile", path)
    run_dir = workdir / "results" / "runs" / "two_atoms" / "local" / "seed0"

    process = subprocess.Popen(
        [str(c) for c in command],
        cwd=workdir,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not any(r["event"] == "checkpoint" for r in _train_log(run_dir)):
            assert process.poll() is None, "snakemake ended before the first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.5)
        # SIGTERM to Snakemake and its running training job at once (as 'kill -TERM -PGID' or a
        # scheduler stopping the job). A kill between the two checkpoint saves of a validation
        # step is covered by checkpoints.save, which replaces a step a killed attempt wrote.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert not (run_dir / "summary.json").exists(), "training finished before the kill"

    run(command, cwd=workdir, timeout=300)
    events = _train_log(run_dir)
    resumed = [r for r in events if r["event"] == "resume"]
    assert resumed and resumed[0]["step"] > 0, events
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["stop_reason"] == "max_steps"
    assert summary["steps"] == 5000 > resumed[0]["step"] and summary["truncated"] is False
    metrics = xr.open_zarr(run_dir / "metrics.zarr", consolidated=False)
    assert int(metrics["steps"].item()) == summary["steps"]


#: Jobs of each kind, by the words after ``efa.cli`` in their command line.
JOB_KINDS = {
    "build": ("data", "build"),
    "train": ("train",),
    "evaluate": ("evaluate",),
    "probe": ("probe",),
    "report": ("report",),
}


def _job_pids(kind: tuple[str, ...], root: Path) -> list[int]:
    """Processes of this user running ``python -m efa.cli KIND…`` inside ``root``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if "efa.cli" in words and cwd == str(root):
            start = words.index("efa.cli") + 1
            if tuple(words[start : start + len(kind)]) == kind:
                pids.append(int(entry.name))
    return pids


def _kill_during(command, workdir: Path, kind: str | None, whole: bool = False) -> str:
    """Start Snakemake; as soon as a job of ``kind`` runs, SIGKILL it (or, with ``whole``,
    Snakemake and all its jobs); wait for Snakemake to end. Returns what was killed, or "" if
    the workflow finished first."""
    process = subprocess.Popen(
        [str(c) for c in command],
        cwd=workdir,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed = ""
    try:
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            pids = _job_pids(JOB_KINDS[kind], workdir)
            if pids:
                time.sleep(0.5 if kind == "train" else 0.0)  # let training reach its steps
                if whole:
                    os.killpg(process.pid, signal.SIGKILL)
                    killed = f"snakemake and its jobs during {kind}"
                else:
                    for pid in pids:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    killed = f"{kind} job"
                break
            time.sleep(0.01)
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return killed


def test_kill_9_of_every_job_kind_and_of_snakemake_then_rerun_gives_the_same_results(
    clone, workdir
):
    """SIGKILL of a data set build, an evaluation, a probe, the report, and of Snakemake with
    all its jobs during a training, each followed by a rerun: the results equal those of the
    uninterrupted run of the same configuration (the clone's)."""
    (workdir / "config.yaml").write_text((ROOT / "config" / "ci.yaml").read_text())
    command = snakemake_command(workdir, "--cores", "2", "--configfile", "config.yaml")
    killed = []
    for kind, whole in [
        ("build", False),
        ("train", True),
        ("evaluate", False),
        ("probe", False),
        ("report", False),
    ]:
        if whole:
            killed.append(_kill_during(command, workdir, kind, whole=True))
            run(snakemake_command(workdir, "--unlock", "--configfile", "config.yaml"), cwd=workdir)
        else:
            killed.append(_kill_during(command, workdir, kind))
    assert all(killed), killed  # every kill landed while its job ran
    run(command, cwd=workdir, timeout=600)
    result = json.loads((workdir / "results" / "metrics.json").read_text())
    uninterrupted = json.loads((clone.parent / "uninterrupted_metrics.json").read_text())
    for key in ("test", "test_sets", "probes", "targets", "truncated"):
        assert result[key] == uninterrupted[key], key
