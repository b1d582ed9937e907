"""Data-parallel training: split batches, and 1 vs 2 devices giving the same training."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from efa.data.packing import BucketShape, pack, split_batch
from efa.data.structures import Structures
from efa.errors import ConfigError
from efa.evaluate import write_evaluation
from efa.train.log import TrainingLog
from efa.train.sharding import DataParallel


def test_split_parts_are_the_batches_of_their_structures():
    """Part d of a split batch is what pack makes of the structures of slots d·B' … ."""
    rng = np.random.default_rng(0)
    count, atoms = 5, 4
    mask = np.arange(atoms) < rng.integers(1, atoms + 1, count)[:, None]
    structures = Structures(
        positions=rng.uniform(0, 3.0, (count, atoms, 3)),
        atomic_numbers=np.where(mask, 6, 0).astype(np.int32),
        atom_mask=mask,
        energy=rng.normal(size=count),
        forces=rng.normal(size=(count, atoms, 3)),
        total_charge=np.arange(count, dtype=np.int32),
    )
    shape, slots = BucketShape(atoms, atoms * (atoms - 1)), 6  # slot 5 stays empty
    batch = pack(structures, shape, slots, cutoff=2.0)
    for parts in (1, 2, 3):
        split = split_batch(batch, parts)
        per_part = slots // parts
        for d in range(parts):
            members = np.arange(d * per_part, min((d + 1) * per_part, count))
            expected = pack(structures.select(members), shape, per_part, cutoff=2.0)
            for name, field in expected._asdict().items():
                if field is None:  # the periodic fields of a batch of molecules
                    assert getattr(split, name) is None, name
                    continue
                np.testing.assert_array_equal(getattr(split, name)[d], field, err_msg=name)
    with pytest.raises(ValueError, match="cannot split 6 structure slots into 4"):
        split_batch(batch, 4)


def test_more_devices_than_visible_is_a_config_error():
    visible = len(jax.devices())
    message = rf"devices={visible + 1}: expected 1 to {visible}, the number of JAX devices"
    with pytest.raises(ConfigError, match=message):
        DataParallel(visible + 1)
    with pytest.raises(ConfigError, match="devices=0: expected 1 to"):
        DataParallel(0)
    assert DataParallel().num_devices == visible


#: Trains in a process that sees two CPU devices: ``one`` (``--devices 1``), and ``resumed``,
#: started on two devices, stopped by SIGTERM after step 12 and resumed on one; asks for 3.
TWO_DEVICE_SCRIPT = """
import json, os, signal, sys

import jax

from efa.cli.main import main
from efa.runs.config import load_config
from efa.train.loop import Trainer
from efa.train.sharding import DataParallel

config, root = sys.argv[1:]

def train(run, *flags):
    return main(["train", "--config", config, "--run-dir", f"{root}/{run}", *flags])

codes = {"one": train("one", "--devices", "1")}
trainer = Trainer(load_config(config, ["devices=2"]), f"{root}/resumed")
step, calls = trainer._step, []

def step_then_sigterm(state, batch):
    calls.append(1)
    if len(calls) == 12:
        os.kill(os.getpid(), signal.SIGTERM)
    return step(state, batch)

trainer._step = step_then_sigterm
codes["interrupted"] = trainer.run()["status"]
codes["resumed"] = train("resumed", "--devices", "1")
codes["three"] = train("three", "--devices", "3")
print(json.dumps({
    "codes": codes,
    "device_count": jax.device_count(),
    "default_devices": DataParallel().num_devices,
    "xla_flags": os.environ["XLA_FLAGS"],
}))
"""


def _records(run_dir, event):
    return [r for r in TrainingLog(run_dir / "train_log.jsonl").records() if r["event"] == event]


def test_two_devices_train_like_one(base_config, config_file, compilation_cache, tmp_path):
    # 15 structures in 16 slots: the second device gets an empty slot, and all 8 empty slots
    # in the last batch of an epoch (6 structures)
    data = {**base_config, "batch_size": 15, "max_steps": 20, "log_every": 1}
    env = {
        **os.environ,
        **compilation_cache,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(TWO_DEVICE_SCRIPT),
            str(config_file(data)),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert result["codes"] == {
        "one": 0,
        "interrupted": "interrupted",
        "resumed": 0,
        "three": 2,
    }
    assert "devices=3: expected 1 to 2, the number of JAX devices" in process.stderr
    assert result["device_count"] == result["default_devices"] == 2
    # efa's own XLA flag is appended to the one set before the process started
    assert "--xla_force_host_platform_device_count=2" in result["xla_flags"]
    assert "--xla_cpu_experimental_ynn_fusion_type=" in result["xla_flags"]

    one, resumed = tmp_path / "one", tmp_path / "resumed"
    assert [r["devices"] for r in _records(one, "start")] == [1]
    assert [r["devices"] for r in _records(resumed, "start")] == [2]
    assert [(r["step"], r["devices"]) for r in _records(resumed, "resume")] == [(12, 1)]
    for event in ("train", "valid"):
        reference = [(r["step"], r["loss"]) for r in _records(one, event)]
        assert [r["step"] for r in _records(one, event)] == (
            list(range(1, 21)) if event == "train" else [10, 20]
        )
        # steps 1-12 (and the validation at 10) on two devices, the rest on one after the
        # checkpoint written on two devices was restored on one
        steps, losses = zip(*[(r["step"], r["loss"]) for r in _records(resumed, event)])
        assert list(steps) == [step for step, _ in reference]
        np.testing.assert_allclose(losses, [loss for _, loss in reference], rtol=1e-4)

    # the best parameters of the run trained on two devices load and evaluate on one device
    _, metrics_two = write_evaluation(resumed)
    _, metrics_one = write_evaluation(one)
    for name in ("energy_mae", "forces_mae"):
        np.testing.assert_allclose(metrics_two[name].values, metrics_one[name].values, rtol=1e-4)
