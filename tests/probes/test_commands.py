"""``efa probe`` on a briefly trained local model: store layout and the exact reach of a local
model."""

import json
import math

import pytest
import xarray as xr

from efa.cli.main import main
from efa.data.generators.analytic import two_atoms
from efa.data.store import write_dataset
from efa.models.registry import build_model
from efa.predictors.trained import declared_receptive_field, model_family
from efa.runs.config import config_from_mapping
from efa.train.loop import Trainer

TINY = {"features": 8, "num_iterations": 2, "max_degree": 0, "num_basis": 8, "cutoff": 3.0}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe_cli")
    dataset = two_atoms(64, seed=0)
    dataset.attrs.update(name="two_atoms", license="CC0-1.0", citation="test data")
    write_dataset(dataset, root / "two_atoms.zarr")
    config = config_from_mapping(
        {
            "experiment": "probe_test",
            "dataset": str(root / "two_atoms.zarr"),
            "model": "local",
            "model_options": TINY,
            "splits": {"train": 48, "valid": 8, "test": 8},
            "batch_size": 16,
            "max_steps": 10,
            "valid_every": 5,
            "output_root": str(root / "runs"),
            "seed": 3,
        }
    )
    Trainer(config).run()
    return config.run_dir()


def test_reach_of_a_trained_local_model_is_exactly_zero_beyond_t_cutoff(run_dir, tmp_path, capsys):
    output = tmp_path / "reach.zarr"
    assert (
        main(
            [
                "probe",
                "reach",
                "--run",
                str(run_dir),
                "--output",
                str(output),
                "--num-points",
                "40",
                "--max-gap",
                "20",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["change_beyond_receptive_field/local/seed3"] == 0.0
    store = xr.open_zarr(output, consolidated=False).load()
    assert store["receptive_field"].sel(model="local").item() == 2 * TINY["cutoff"]
    energy = store["energy_predicted"].sel(model="local", seed=3).values[0]
    gaps = store["separation"].values[0]
    beyond = energy[gaps > 2 * TINY["cutoff"]]
    assert beyond.size > 10 and (beyond == beyond[0]).all()
    assert store.attrs["runs"] == [str(run_dir)]
    assert store["energy_predicted"].dims == ("probe", "model", "seed", "point")


def test_probe_command_errors_name_the_option(run_dir, tmp_path, capsys):
    assert (
        main(
            [
                "probe",
                "two_atoms",
                "--run",
                str(run_dir),
                "--output",
                str(tmp_path / "x.zarr"),
                "--split",
                "test",
            ]
        )
        == 2
    )
    assert "--split" in capsys.readouterr().err
    assert (
        main(
            [
                "probe",
                "sn2",
                "--run",
                str(run_dir),
                "--output",
                str(tmp_path / "x.zarr"),
                "--datasets-root",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "sn2_scan.zarr: no data set store found" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()
    probe = ["probe", "two_atoms", "--run", str(run_dir), "--num-points", "5"]
    assert main([*probe, "--output", str(tmp_path / "x.zarr"), "--label", "../../x"]) == 2
    assert "--label: probe label '../../x' is not a valid name" in capsys.readouterr().err
    notes = tmp_path / "notes" / "keep.txt"
    notes.parent.mkdir()
    notes.write_text("keep")
    assert main([*probe, "--output", str(notes.parent)]) == 2
    assert "a folder of other files (not a zarr store)" in capsys.readouterr().err
    assert notes.read_text() == "keep"
    assert not (tmp_path / "x.zarr").exists()


def test_model_families_and_declared_receptive_fields():
    def family_and_reach(model):
        return model_family(model), declared_receptive_field(model)

    assert family_and_reach(build_model("local", TINY)) == ("local", 6.0)
    assert family_and_reach(build_model("efa", TINY)) == ("efa", math.inf)
    assert family_and_reach(build_model("efa", {**TINY, "efa_layers": []})) == ("local", 6.0)
    assert family_and_reach(build_model("examples.my_model:PairMLP", {"cutoff": 4.0})) == (
        "external",
        4.0,
    )


def test_efa_probe_help_lists_every_probe_with_its_kind():
    """The help's table of probes is written by hand (``efa --help`` imports no JAX): every
    probe of the registry is in it, with its kind."""
    import re

    from efa.cli.probe import _EPILOG
    from efa.probes.registry import PROBES, SIZE_SCAN_PROBES

    listed = dict(re.findall(r"^  (\S+)\s+([a-z ]+);", _EPILOG, re.MULTILINE))
    for name, probe in PROBES.items():
        assert listed.get(name) == probe.kind.replace("_", " "), name
    for name in SIZE_SCAN_PROBES:
        assert listed.get(name) == "size scan", name
    assert set(listed) == {*PROBES, *SIZE_SCAN_PROBES}
