"""External trainers: another code's command trains on the exported splits, its calculator is
evaluated and probed like any run."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import xarray as xr
from ase.io import read

from efa.cli.main import main
from efa.errors import ConfigError
from efa.runs.trainer_spec import check_trainer
from tests.builders import write_two_atom_store

#: A stand-in trainer: "fits" a Lennard-Jones sigma to the training split (the position of the
#: lowest energy) and writes it as the model file.
FAKE_TRAINER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from ase.io import read

    train, model_file = sys.argv[1], sys.argv[2]
    frames = read(train, index=":")
    best = min(frames, key=lambda atoms: atoms.info["REF_energy"])
    r = float(np.linalg.norm(best.positions[1] - best.positions[0]))
    json.dump({"sigma": r / 2 ** (1 / 6), "n_train": len(frames)}, open(model_file, "w"))
""")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    write_two_atom_store(root, 60)
    (tmp_path / "fake_trainer.py").write_text(FAKE_TRAINER)
    (tmp_path / "fake_models.py").write_text(
        textwrap.dedent("""
        import json
        from ase.calculators.lj import LennardJones

        def load(path):
            return LennardJones(sigma=json.load(open(path))["sigma"], epsilon=0.8, rc=12.0)
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root, tmp_path
    sys.modules.pop("fake_models", None)


def _train_arguments(
    root, tmp_path, command, model_file="{run_dir}/fake_model.json", max_time_s=None
):
    """``efa train`` arguments of the fake run ``pairs/fake/seed0`` trained by ``command``."""
    trainer = {"command": command, "model_file": model_file}
    limit = [] if max_time_s is None else ["--set", f"max_time_s={max_time_s}"]
    return [
        "train",
        *limit,
        "--experiment",
        "pairs",
        "--dataset",
        "two_atoms",
        "--set",
        f"datasets_root={root}",
        "--set",
        "calculator=fake_models:load",
        "--set",
        'calculator_options={path: "{model_file}"}',
        "--set",
        f"trainer={json.dumps(trainer)}",
        "--set",
        "label=fake",
        "--set",
        "splits={train: 30, valid: 10, test: 20}",
        "--output-root",
        str(tmp_path / "runs"),
    ]


def _train(root, tmp_path, command, **options):
    argv = _train_arguments(root, tmp_path, command, **options)
    return main(argv), tmp_path / "runs" / "pairs" / "fake" / "seed0"


def test_external_trainer_trains_on_exactly_the_runs_splits(setup):
    root, tmp_path = setup
    command = [sys.executable, str(tmp_path / "fake_trainer.py"), "{train}", "{model_file}"]
    status, run = _train(root, tmp_path, command)
    assert status == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["stop_reason"] == "external trainer"
    assert summary["trainer_command"][2].endswith("splits_extxyz/train.xyz")
    splits = json.loads((run / "splits.json").read_text())
    for part in ("train", "valid", "test"):
        frames = read(run / "splits_extxyz" / f"{part}.xyz", index=":")
        assert [atoms.info["efa_index"] for atoms in frames] == splits[part]
    assert json.loads((run / "fake_model.json").read_text())["n_train"] == 30

    assert main(["evaluate", str(run)]) == 0
    metrics = xr.open_zarr(run / "metrics.zarr", consolidated=False).load()
    assert 0 < float(metrics["energy_mae"].item()) < 1.0
    card = json.loads(metrics.attrs["card"])
    assert card["training_data"].startswith("two_atoms (train split of")
    store = tmp_path / "probe.zarr"
    assert (
        main(
            ["probe", "two_atoms", "--run", str(run), "--num-points", "10", "--output", str(store)]
        )
        == 0
    )


def test_a_failing_trainer_is_an_error_with_its_output(setup, capsys):
    root, tmp_path = setup
    command = [sys.executable, "-c", "import sys; print('out of memory'); sys.exit(3)"]
    status, run = _train(root, tmp_path, command)
    error = capsys.readouterr().err
    assert status == 2 and "failed with exit status 3" in error and "out of memory" in error
    assert not (run / "summary.json").exists()


def test_a_trainer_that_writes_no_model_is_an_error(setup, capsys):
    root, tmp_path = setup
    status, run = _train(root, tmp_path, [sys.executable, "-c", "pass"])
    assert status == 2 and "wrote no model file" in capsys.readouterr().err
    assert not (run / "summary.json").exists()
    status, _ = _train(root, tmp_path / "second", ["no-such-trainer-xyz"])
    assert status == 2 and "cannot run 'no-such-trainer-xyz'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "trainer, message",
    [
        ({"command": "mace_run_train --name x", "model_file": "m"}, "expected a non-empty list"),
        ({"command": ["t"], "model_file": ""}, "trainer.model_file"),
        ({"command": ["t", "{trian}"], "model_file": "m"}, "unknown placeholder"),
        ({"command": ["t"], "model_file": "m", "gpu": 1}, "trainer.gpu: unknown key"),
        ({"command": ["t"], "model_file": "/old/model.pt"}, "outside the run directory"),
        ({"command": ["t"], "model_file": "{run_dir}/../m.pt"}, "outside the run directory"),
        ({"command": ["t", "a\ud800"], "model_file": "m"}, r"trainer.command\[1\].*surrogate"),
        ({"command": ["t", "a\0b"], "model_file": "m"}, r"trainer.command\[1\].*NUL"),
    ],
)
def test_bad_trainer_entries_are_refused_by_key(trainer, message):
    with pytest.raises(ConfigError, match=message):
        check_trainer(trainer)


#: A trainer that starts a child and sleeps: the process group must end with the job.
HANGING_TRAINER = textwrap.dedent("""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(sys.argv[1], "w").write(str(child.pid))
    time.sleep(600)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _hanging_command(tmp_path):
    """The command of :data:`HANGING_TRAINER`, and the file where it writes its child's pid."""
    (tmp_path / "hang.py").write_text(HANGING_TRAINER)
    pids = tmp_path / "child.pid"
    return [sys.executable, str(tmp_path / "hang.py"), str(pids)], pids


def _wait_until_gone(pid, seconds=10):
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def _wait_for_file(path, seconds=60):
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)
    return int(path.read_text())


def test_a_hanging_trainer_is_stopped_at_max_time_with_its_children(setup, capsys):
    root, tmp_path = setup
    command, pids = _hanging_command(tmp_path)
    start = time.monotonic()
    status, run = _train(root, tmp_path, command, max_time_s=3)
    assert status == 2 and time.monotonic() - start < 60
    assert "ran past max_time_s=3 s (train.max_time_s)" in capsys.readouterr().err
    assert _wait_until_gone(int(pids.read_text())), "the trainer's child outlived the job"
    assert not (run / "summary.json").exists()


def _efa_train_process(root, tmp_path, command):
    arguments = _train_arguments(root, tmp_path, command)
    return subprocess.Popen(
        [sys.executable, "-m", "efa.cli", *arguments],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_ends_the_trainer_group_and_a_second_train_of_the_run_is_refused(setup):
    root, tmp_path = setup
    command, pids = _hanging_command(tmp_path)
    first = _efa_train_process(root, tmp_path, command)
    try:
        child = _wait_for_file(pids)
        second = _efa_train_process(root, tmp_path, command)
        _, error = second.communicate(timeout=120)
        assert second.returncode == 2 and "another process is training this run" in error
        first.send_signal(signal.SIGTERM)
        _, error = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 128 + signal.SIGTERM, error
    run = tmp_path / "runs" / "pairs" / "fake" / "seed0"
    assert _wait_until_gone(child), "the trainer's child outlived the job"
    assert not (run / "summary.json").exists()
    assert sorted(path.name for path in run.iterdir() if path.name.startswith(".")) == []


def test_a_trainer_left_by_a_job_killed_outright_is_ended_by_the_next_train(setup, capsys):
    """SIGKILL of ``efa train`` cannot reach its trainer; the trainer's group is recorded in the
    run directory, and the next ``efa train`` of the run ends it before starting its own."""
    root, tmp_path = setup
    command, pids = _hanging_command(tmp_path)
    first = _efa_train_process(root, tmp_path, command)
    try:
        child = _wait_for_file(pids)
    finally:
        first.kill()
        first.communicate(timeout=60)
    run = tmp_path / "runs" / "pairs" / "fake" / "seed0"
    assert _alive(child) and (run / "trainer_group.json").is_file()
    pids.unlink()
    status, _ = _train(root, tmp_path, command, max_time_s=2)  # the new trainer hangs too
    assert status == 2
    assert "ended the trainer a killed job had left running" in capsys.readouterr().err
    assert _wait_until_gone(child), "the killed job's trainer outlived the next train"
    assert not (run / "trainer_group.json").exists()


def test_the_model_file_must_be_written_by_this_run_of_the_trainer(setup, capsys):
    root, tmp_path = setup
    touch = [sys.executable, "-c", "pass"]
    run = tmp_path / "runs" / "pairs" / "fake" / "seed0"
    run.mkdir(parents=True)
    old = run / "fake_model.json"
    old.write_text(json.dumps({"sigma": 1.0}))
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    status, _ = _train(root, tmp_path, touch)
    assert status == 2 and "older than this run of the trainer" in capsys.readouterr().err
    assert not (run / "summary.json").exists()
    # a relative model file is the trainer's own, written in its working directory (the run's)
    command = [sys.executable, str(tmp_path / "fake_trainer.py"), "{train}", "relative.json"]
    status, run = _train(root, tmp_path / "relative", command, model_file="relative.json")
    assert status == 0 and (run / "relative.json").is_file()
