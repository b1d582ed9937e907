"""The ci configuration end to end through DVC in a fresh clone, and kill-and-rerun."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
import yaml

from efa.storage import read_zarr

from .conftest import ROOT, environment, load_config, run, snakemake, snakemake_command, tool


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clone of the repository whose DVC pipeline runs the ci configuration, reproduced once."""
    path = tmp_path_factory.mktemp("clone") / "efa-bench"
    run(["git", "clone", "--quiet", ROOT, path], cwd=path.parent)
    run([tool("efa"), "dvc", "config/ci.yaml", "--cores", "2"], cwd=path)
    run(["git", "commit", "--quiet", "-am", "test: the DVC pipeline of config/ci.yaml"], cwd=path)
    run([tool("dvc"), "repro"], cwd=path, timeout=600)
    # DVC's way: the lock and the small result files in git, the rest in DVC's cache
    run(["git", "add", "dvc.lock", "results"], cwd=path)
    run(["git", "commit", "--quiet", "-m", "test: the ci suite's results"], cwd=path)
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
    """'dvc metrics show' lists the quality numbers, and no provenance strings among them."""
    result = run([tool("dvc"), "metrics", "show"], cwd=clone)
    assert "results/metrics.json" in result.stdout, result.stdout
    assert "test.two_atoms.efa.energy_mae" in result.stdout, result.stdout
    assert "provenance" not in result.stdout and "git_commit" not in result.stdout, result.stdout


def test_touched_outputs_do_not_rerun(clone):
    """As after 'dvc pull': new modification times alone make neither DVC nor Snakemake rerun."""
    for path in sorted((clone / "results").rglob("*"), reverse=True):
        os.utime(path)
    status = run([tool("dvc"), "status"], cwd=clone)
    assert "up to date" in status.stdout, status.stdout


def test_plots_show_draws_the_figures_and_the_curves_of_any_models(clone):
    """'dvc plots show' renders the figures (Snakemake's marker in their folder is ignored) and
    the probe curve declared by the report for the models that ran, whatever their labels."""
    result = run([tool("dvc"), "plots", "show", "--json"], cwd=clone)
    output = json.loads(result.stdout)
    shown = output["data"]
    assert "results/tables/curve_two_atoms.csv" in shown, sorted(shown)
    assert any(name.endswith("two_atoms.png") for name in shown), sorted(shown)
    assert not any("snakemake_timestamp" in name for name in shown), sorted(shown)
    assert not output.get("errors"), output["errors"]


def test_experiment_changes_a_parameter(clone):
    """'dvc exp run -S' on the configuration of the pipeline runs an experiment with a changed
    probe option (the probe reruns with it); 'dvc exp show' lists it with that parameter and
    its own metrics (metrics.json is committed with it), and 'dvc metrics diff' compares."""
    run(
        [
            tool("dvc"),
            "exp",
            "run",
            "--name",
            "short",
            "-S",
            "config/ci.yaml:experiments.two_atoms.probes.two_atoms.num_points=11",
        ],
        cwd=clone,
        timeout=600,
    )
    probe = xr.open_zarr(clone / "results" / "probes" / "two_atoms.zarr", consolidated=False)
    assert probe.sizes["point"] == 11
    result = run([tool("dvc"), "exp", "show", "--no-pager", "--csv"], cwd=clone)
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    row = next(row for row in table if row["Experiment"] == "short")
    assert row["experiments.two_atoms.probes.two_atoms.num_points"] == "11", row
    baseline = next(row for row in table if row["typ"] == "baseline" and row["rev"] != "workspace")
    # each revision's own numbers, read from its commit (not '!': the file is in git)
    assert float(row["probes.two_atoms.efa.energy_mae"]) > 0, row
    assert row["probes.two_atoms.efa.energy_mae"] != baseline["probes.two_atoms.efa.energy_mae"]
    diff = run([tool("dvc"), "metrics", "diff", "HEAD", "short", "--json"], cwd=clone)
    assert "probes.two_atoms.efa.energy_mae" in diff.stdout, diff.stdout


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


def _process_words(entry: Path) -> tuple[list[str], str] | None:
    """The command line and working directory of process ``/proc/<pid>``, or None if gone."""
    try:
        words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        return words, os.readlink(entry / "cwd")
    except OSError:
        return None


def _job_pids(kind: tuple[str, ...] | str, root: Path) -> list[int]:
    """Processes of this user running ``python -m efa.cli KIND…`` inside ``root``; with a
    string ``kind``, processes whose command line holds that word (an external trainer)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (found := _process_words(entry)) is None:
            continue
        words, cwd = found
        if isinstance(kind, str):
            if kind in words:
                pids.append(int(entry.name))
        elif "efa.cli" in words and cwd == str(root):
            start = words.index("efa.cli") + 1
            if tuple(words[start : start + len(kind)]) == kind:
                pids.append(int(entry.name))
    return pids


def _kill_during(
    command,
    workdir: Path,
    kind: tuple[str, ...] | str,
    whole: bool = False,
    number: signal.Signals = signal.SIGKILL,
    when: str | None = None,
) -> str:
    """Start Snakemake; as soon as a job of ``kind`` (see :func:`_job_pids`) runs, and a
    process of ``when`` if given, send it signal ``number`` (or, with ``whole``, to Snakemake
    and all its jobs); wait for Snakemake to end. Returns what was signalled, or "" if the
    workflow finished first."""
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
            pids = _job_pids(kind, workdir)
            if pids and (when is None or _job_pids(when, workdir)):
                time.sleep(0.5 if kind == JOB_KINDS["train"] else 0.0)  # let it reach its steps
                if whole:
                    os.killpg(process.pid, number)
                    killed = f"{number.name} to snakemake and its jobs during {kind}"
                else:
                    for pid in pids:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, number)
                    killed = f"{number.name} to {kind}"
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
        killed.append(_kill_during(command, workdir, JOB_KINDS[kind], whole=whole))
        if whole:
            run(snakemake_command(workdir, "--unlock", "--configfile", "config.yaml"), cwd=workdir)
    assert all(killed), killed  # every kill landed while its job ran
    run(command, cwd=workdir, timeout=600)
    result = json.loads((workdir / "results" / "metrics.json").read_text())
    uninterrupted = json.loads((clone.parent / "uninterrupted_metrics.json").read_text())
    for key in ("test", "test_sets", "probes", "targets", "truncated"):
        assert result[key] == uninterrupted[key], key


#: A stand-in for another code's trainer: takes a few seconds, then "fits" a Lennard-Jones
#: sigma to the training split (where its energy is lowest) and writes it as the model file.
SLOW_TRAINER = """
import json, sys, time
from ase.io import read

time.sleep(8)
frames = read(sys.argv[1], index=":")
best = min(frames, key=lambda atoms: atoms.info["REF_energy"])
json.dump({"sigma": float(best.get_distance(0, 1)) / 2 ** (1 / 6)}, open(sys.argv[2], "w"))
"""
#: Its calculator, found on PYTHONPATH by every job.
SLOW_TRAINER_MODELS = """
import json
from ase.calculators.lj import LennardJones

def load(path):
    return LennardJones(sigma=json.load(open(path))["sigma"], epsilon=0.8, rc=12.0)
"""


def _external_trainer_suite(directory: Path) -> list:
    """A workflow in ``directory`` of one externally trained model, probed and reported; the
    Snakemake command that runs it."""
    (directory / "slow_trainer.py").write_text(SLOW_TRAINER)
    (directory / "slow_models.py").write_text(SLOW_TRAINER_MODELS)
    config = load_config("ci.yaml")
    experiment = config["experiments"]["two_atoms"]
    experiment["models"] = {
        "other_code": {
            "trainer": {
                "command": [
                    sys.executable,
                    str(directory / "slow_trainer.py"),
                    "{train}",
                    "{run_dir}/model.json",
                ],
                "model_file": "{run_dir}/model.json",
            },
            "calculator": "slow_models:load",
            "options": {"path": "{model_file}"},
            "receptive_field": 12.0,
            "cutoff": 12.0,
        }
    }
    experiment["probes"] = {"two_atoms": experiment["probes"]["two_atoms"]}
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    return snakemake_command(directory, "--cores", "2", "--configfile", "config.yaml")


@pytest.mark.extended  # default run: tests/predictors/test_external.py (SIGTERM, SIGKILL, lock)
def test_kill_and_sigterm_of_external_trainer_jobs_then_rerun_gives_the_same_results(
    tmp_path, monkeypatch
):
    """Kill -9 of the other code's trainer, kill -9 and SIGTERM of its ``efa train`` job, and
    of Snakemake with all its jobs, each followed by a rerun: the results equal those of an
    uninterrupted run, and no trainer outlives the workflow (a trainer runs in a session of
    its own, so a kill of Snakemake's process group leaves it to the next ``efa train``)."""
    directories = {}
    for name in ("uninterrupted", "killed"):
        directories[name] = tmp_path / name
        (directories[name] / "datasets").mkdir(parents=True)
        shutil.copy(ROOT / "datasets" / "registry.yaml", directories[name] / "datasets")
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(map(str, directories.values())))
    commands = {name: _external_trainer_suite(path) for name, path in directories.items()}
    run(commands["uninterrupted"], cwd=directories["uninterrupted"], timeout=600)
    workdir, command = directories["killed"], commands["killed"]
    trainer = str(workdir / "slow_trainer.py")
    killed = []
    for kind, whole, number, when in [
        (trainer, False, signal.SIGKILL, None),
        (JOB_KINDS["train"], False, signal.SIGKILL, trainer),  # once the trainer runs
        (JOB_KINDS["train"], False, signal.SIGTERM, trainer),
        (trainer, True, signal.SIGKILL, None),
        (trainer, True, signal.SIGTERM, None),
        (JOB_KINDS["evaluate"], False, signal.SIGKILL, None),
    ]:
        killed.append(_kill_during(command, workdir, kind, whole, number, when))
        if number == signal.SIGKILL and (whole or kind == JOB_KINDS["train"]):
            # SIGKILL cannot reach the trainer's own session: the next efa train ends it
            assert _job_pids(trainer, workdir), f"{killed[-1]}: the trainer should still run"
        if whole:
            run(snakemake_command(workdir, "--unlock", "--configfile", "config.yaml"), cwd=workdir)
    assert all(killed), killed  # every signal landed while its job ran
    run(command, cwd=workdir, timeout=600)
    assert not _job_pids(trainer, workdir), "a trainer outlived the workflow"
    results = {
        name: json.loads((path / "results" / "metrics.json").read_text())
        for name, path in directories.items()
    }
    for key in ("test", "test_sets", "probes", "targets", "truncated"):
        assert results["killed"][key] == results["uninterrupted"][key], key
