"""Training loop: evaluation output, NaN guard, resume after SIGTERM/SIGKILL, model plug-ins."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import xarray as xr

from efa.cli.main import main
from efa.evaluate import write_evaluation
from efa.runs.config import config_from_mapping
from efa.train import checkpoints
from efa.train.log import TrainingLog
from efa.train.loop import EXIT_INTERRUPTED, Trainer, TrainingDiverged


def test_train_then_evaluate_writes_result_store(base_config, tmp_path, capsys):
    config = config_from_mapping(base_config)
    summary = Trainer(config).run()
    assert summary["status"] == "complete" and summary["steps"] == 30
    # no terminal, no bar: a line per logged step and per validation, as a job's log shows them
    lines = capsys.readouterr().err.splitlines()
    progress = [line for line in lines if line.startswith("step ")]
    assert len(progress) == 30 // config.log_every, lines
    assert progress[-1].startswith("step 30/30  loss ") and "valid energy_mae " in progress[-1]
    path, metrics = write_evaluation(config.run_dir())
    stored = xr.open_zarr(path, consolidated=False)
    assert dict(stored.sizes) == {"experiment": 1, "model": 1, "seed": 1}
    assert stored.model.values.tolist() == ["local"]
    value = {name: stored[name].values.item() for name in stored.data_vars}
    for name in ("energy_mae", "energy_rmse", "energy_mae_per_atom", "forces_mae", "forces_rmse"):
        assert np.isfinite(value[name]) and value[name] > 0
    assert value["energy_rmse"] >= value["energy_mae"]
    assert value["steps"] == 30 and value["num_parameters"] > 0
    predictions = xr.open_zarr(config.run_dir() / "predictions_test.zarr", consolidated=False)
    assert predictions.sizes["structure"] == 32
    error = np.abs(predictions.energy_predicted - predictions.energy_reference).mean()
    np.testing.assert_allclose(float(error), value["energy_mae"], rtol=1e-5)
    records = TrainingLog(config.run_dir() / "train_log.jsonl").records()
    assert [r["step"] for r in records if r["event"] == "valid"] == [10, 20, 30]
    # a finished run is not trained again
    assert Trainer(config).run()["wall_time_s"] == summary["wall_time_s"]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(base_config):
    trainer = Trainer(config_from_mapping(base_config))
    real_step, calls = trainer._step, []

    def poisoned_step(state, batch):
        calls.append(1)
        state, loss = real_step(state, batch)
        return state, (np.nan if len(calls) == 15 else loss)

    trainer._step = poisoned_step
    with pytest.raises(TrainingDiverged, match=r"step 15: training loss is nan.*step 10"):
        trainer.run()
    assert checkpoints.latest_step(trainer.paths.checkpoints) == 10
    assert TrainingLog(trainer.paths.log).records()[-1]["event"] == "diverged"
    assert not trainer.paths.summary.exists()


def _efa(args, env, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "efa.cli", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for_checkpoint(log_path, process, after_step):
    """Poll the training log until a checkpoint beyond ``after_step`` is recorded."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        steps = [r["step"] for r in TrainingLog(log_path).records() if r["event"] == "checkpoint"]
        if steps and steps[-1] > after_step:
            return steps[-1]
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    raise AssertionError("no checkpoint within 120 s")


# SIGTERM then resume is covered by tests/train/test_sharding.py, SIGKILL of a training then a
# rerun giving the uninterrupted metrics by the kill matrix of tests/workflow/test_pipeline.py
@pytest.mark.extended
def test_killed_and_resumed_run_matches_uninterrupted_run(
    base_config, config_file, compilation_cache, tmp_path
):
    data = {**base_config, "max_steps": 600, "valid_every": 100, "log_every": 50}
    path = config_file(data)
    reference = Trainer(config_from_mapping(data), tmp_path / "uninterrupted").run()

    run_dir = tmp_path / "killed"
    args = ["train", "--config", str(path), "--run-dir", str(run_dir)]
    log_path = run_dir / "train_log.jsonl"

    process = _efa(args, compilation_cache)  # SIGTERM: checkpoint at the next step, exit 143
    _wait_for_checkpoint(log_path, process, 0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == EXIT_INTERRUPTED
    assert TrainingLog(log_path).records()[-1]["event"] == "interrupted"
    terminated_at = checkpoints.latest_step(run_dir / "checkpoints")

    process = _efa(args, compilation_cache)  # SIGKILL: no chance to save anything
    _wait_for_checkpoint(log_path, process, terminated_at)
    process.kill()
    process.wait(timeout=60)
    killed_at = checkpoints.latest_step(run_dir / "checkpoints")
    assert terminated_at < killed_at < 600

    process = _efa(args, compilation_cache)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    resumed = json.loads(out.strip().splitlines()[-1])
    assert resumed["steps"] == reference["steps"] == 600
    np.testing.assert_allclose(
        resumed["final_valid"]["loss"], reference["final_valid"]["loss"], rtol=1e-6
    )
    assert resumed["best_step"] == reference["best_step"]
    events = [r["event"] for r in TrainingLog(log_path).records()]
    assert events.count("resume") == 2 and events[-1] == "finish"
    steps = [r["step"] for r in TrainingLog(log_path).records() if r["event"] == "valid"]
    assert steps == sorted(set(steps))  # work redone after the kill is logged once


PLUGIN = '''
"""A pair-potential energy model defined outside the efa package."""

import flax.linen as nn
import jax
import jax.numpy as jnp


class PairPotential(nn.Module):
    """E = ½ Σ_pairs Σ_k c_k r^-k f_cut(r) + Σ_i b_Z — a model honouring the registry contract."""

    cutoff: float = 5.0
    num_terms: int = 3

    @nn.compact
    def __call__(self, batch):
        displacement = batch.positions[batch.pair_src] - batch.positions[batch.pair_dst]
        distance = jnp.sqrt(jnp.sum(displacement**2, axis=-1) + 1e-12)
        distance = jnp.where(batch.pair_mask, distance, 1.0)
        powers = distance[:, None] ** -jnp.arange(1, self.num_terms + 1)
        coefficients = self.param("coefficients", nn.initializers.zeros, (self.num_terms,))
        switch = jnp.where(distance < self.cutoff, jnp.cos(jnp.pi * distance / self.cutoff) + 1, 0)
        pair = jnp.where(batch.pair_mask, 0.25 * switch * (powers @ coefficients), 0.0)
        bias = self.param("bias", nn.initializers.zeros, (119,))
        atom = jax.ops.segment_sum(pair, batch.pair_dst, batch.atomic_numbers.shape[0])
        atom = jnp.where(batch.atom_mask, atom + bias[batch.atomic_numbers], 0.0)
        slots = batch.structure_mask.shape[0]
        return jax.ops.segment_sum(atom, batch.segment_ids, slots + 1)[:-1]
'''


def test_external_model_trains_and_evaluates_through_the_commands(
    base_config, config_file, tmp_path, monkeypatch, capsys
):
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "toy_pair_model.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(package))
    data = {**base_config, "model": "toy_pair_model:PairPotential"}
    data["model_options"] = {"num_terms": 2}
    assert main(["train", "--config", str(config_file(data))]) == 0
    run_dir = config_from_mapping(data).run_dir()
    assert run_dir.parts[-2] == "PairPotential"
    assert main(["evaluate", str(run_dir)]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["num_parameters"] == 2 + 119 and np.isfinite(metrics["energy_mae"])
    bad = {**data, "model_options": {"num_termz": 2}}
    assert main(["train", "--config", str(config_file(bad, "bad"))]) == 2
    assert "model_options.num_termz" in capsys.readouterr().err
