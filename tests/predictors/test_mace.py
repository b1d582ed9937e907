"""MACE as an external trainer: its own training command on the run's splits, then a probe through
its ASE calculator (needs the [mace] extra; skipped without it)."""

import json
import sys

import numpy as np
import pytest
import xarray as xr

from efa.cli.main import main
from tests.builders import write_two_atom_store

pytest.importorskip("mace", reason="the [mace] extra is not installed")

#: A tiny MACE trained for two epochs: the machinery, not the accuracy.
MACE_COMMAND = [
    sys.executable,
    "-m",
    "mace.cli.run_train",
    "--name",
    "mace",
    "--train_file",
    "{train}",
    "--valid_file",
    "{valid}",
    "--test_file",
    "{test}",
    "--model",
    "MACE",
    "--r_max",
    "5.0",
    "--num_channels",
    "8",
    "--max_L",
    "0",
    "--max_ell",
    "1",
    "--correlation",
    "1",
    "--num_interactions",
    "1",
    "--E0s",
    "average",
    "--batch_size",
    "10",
    "--max_num_epochs",
    "2",
    "--device",
    "cpu",
    "--default_dtype",
    "float64",
    "--seed",
    "{seed}",
    "--model_dir",
    "{run_dir}",
    "--checkpoints_dir",
    "{run_dir}/checkpoints",
    "--log_dir",
    "{run_dir}/logs",
    "--results_dir",
    "{run_dir}/results",
]


@pytest.mark.slow
def test_mace_trains_on_the_exported_splits_and_is_probed(tmp_path):
    root = tmp_path / "datasets"
    write_two_atom_store(root, 60)
    trainer = {"command": MACE_COMMAND, "model_file": "{run_dir}/mace.model"}
    options = {"model_paths": "{model_file}", "device": "cpu", "default_dtype": "float64"}
    argv = [
        "train",
        "--experiment",
        "pairs",
        "--dataset",
        "two_atoms",
        "--set",
        f"datasets_root={root}",
        "--set",
        "calculator=mace.calculators:MACECalculator",
        "--set",
        f"calculator_options={json.dumps(options)}",
        "--set",
        f"trainer={json.dumps(trainer)}",
        "--set",
        "label=mace",
        "--set",
        "receptive_field=5.0",
        "--set",
        "splits={train: 40, valid: 10, test: 10}",
        "--output-root",
        str(tmp_path / "runs"),
    ]
    assert main(argv) == 0
    run = tmp_path / "runs" / "pairs" / "mace" / "seed0"
    assert (run / "mace.model").is_file() and (run / "trainer.log").is_file()

    assert main(["evaluate", str(run)]) == 0
    metrics = xr.open_zarr(run / "metrics.zarr", consolidated=False).load()
    assert np.isfinite(float(metrics["energy_mae"].item()))
    store = tmp_path / "two_atoms.zarr"
    assert (
        main(
            ["probe", "two_atoms", "--run", str(run), "--num-points", "12", "--output", str(store)]
        )
        == 0
    )
    probe = xr.open_zarr(store, consolidated=False).load()
    assert np.all(np.isfinite(probe["energy_predicted"].values))
    assert probe["receptive_field"].values.tolist() == [5.0]
