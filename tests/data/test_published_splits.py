"""Published splits: one file per split on import, several test sets, metrics per group."""

import json
import shutil

import ase.io
import numpy as np
import pytest
import xarray as xr

from efa.cli.main import main
from efa.data.registry import load_registry
from efa.data.store import open_dataset
from tests.builders import write_published_split_files, write_two_atom_store

from ..conftest import ROOT

LJ = "ase.calculators.lj:LennardJones"
LJ_OPTIONS = {"sigma": 1.116, "epsilon": 0.8, "rc": 6.0}


@pytest.fixture
def root(tmp_path):
    """A data set root with the registry and the two-atom store (no published splits)."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    shutil.copy(ROOT / "datasets" / "registry.yaml", folder / "registry.yaml")
    write_two_atom_store(folder, 40)
    return folder


@pytest.fixture
def files(tmp_path):
    return write_published_split_files(tmp_path / "files")


def _import(root, files, *extra, name="pub"):
    argv = ["data", "import", "--root", str(root), "--name", name]
    for split, path in files.items():
        argv += ["--split", f"{split}={path}"]
    return main([*argv, *extra])


def test_import_keeps_each_files_split_and_the_group_labels(root, files, capsys):
    assert _import(root, files, "--group-key", "config_type") == 0
    dataset = open_dataset("pub", root)
    splits = [str(s) for s in dataset["split"].values]
    groups = [str(g) for g in dataset["group"].values]
    assert splits == ["train"] * 40 + ["valid"] * 10 + ["test"] * 20 + ["test_far"] * 6
    expected = [
        str(a.info["config_type"]) for path in files.values() for a in ase.io.read(path, ":")
    ]
    assert groups == expected and groups.count("ood") == 16
    first = ase.io.read(files["test"], "0")
    row = splits.index("test")
    np.testing.assert_allclose(dataset["positions"].values[row, :2], first.get_positions())
    entry = load_registry(root).get("pub")
    assert set(entry.source["splits"]) == set(files)
    capsys.readouterr()
    assert main(["data", "show", "pub", "--root", str(root)]) == 0
    shown = capsys.readouterr().out
    assert "splits          train 40, valid 10, test 20, test_far 6" in shown
    assert "groups          in_domain 60, ood 16" in shown


def _test_file_with_a_training_structure(files):
    """The test file with the fourth training structure appended (a leaking test set)."""
    frames = ase.io.read(files["test"], ":") + [ase.io.read(files["train"], "3")]
    path = files["test"].with_name("leaky_test.xyz")
    ase.io.write(path, frames, format="extxyz")
    return {**files, "test": path}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: {k: v for k, v in f.items() if k != "valid"}, "no file for split(s) ['valid']"),
        (_test_file_with_a_training_structure, "repeat in other splits (1 of test="),
        (lambda f: {**f, "te st": f["test"]}, "split 'te st' is not a valid name"),
        (
            lambda f: {**f, "test": f["test"].with_name("missing.xyz")},
            "missing.xyz: file not found",
        ),
        (lambda f: {**f, "valid": f["train"]}, "the same content as split 'train'"),
    ],
)
def test_bad_split_files_are_refused_and_nothing_is_written(root, files, capsys, change, message):
    assert _import(root, change(files)) == 2
    assert message in capsys.readouterr().err
    assert not (root / "pub.zarr").exists() and not (root / "registry.user.yaml").exists()


def test_report_repeated_keeps_a_leaking_split_and_says_so(root, files, capsys):
    assert _import(root, _test_file_with_a_training_structure(files), "--report-repeated") == 0
    error = capsys.readouterr().err
    assert "efa: warning: data set 'pub': structures of the training file" in error
    assert "1 of test=" in error and "kept (--report-repeated)" in error
    assert open_dataset("pub", root).attrs["repeated_structures"] == "test=1"
    assert load_registry(root).get("pub").source["repeated"] == "report"
    assert main(["data", "show", "pub", "--root", str(root)]) == 0
    assert "repeated        training structures in test=1" in capsys.readouterr().out


def test_the_user_registry_records_files_of_the_project_relative_to_it(root, files, tmp_path):
    """Files inside the project (the folder holding the data set root) are recorded relative
    to the registry, so that the project moved or cloned elsewhere rebuilds the set."""
    assert _import(root, files) == 0
    recorded = load_registry(root).get("pub").source["splits"]
    assert recorded["train"]["path"] == "../files/train.xyz"
    moved = tmp_path.parent / f"{tmp_path.name}_moved"
    shutil.copytree(tmp_path, moved)
    shutil.rmtree(moved / "datasets" / "pub.zarr")
    assert main(["data", "build", "--root", str(moved / "datasets"), "pub"]) == 0
    assert open_dataset("pub", moved / "datasets").attrs["source"].startswith("train=../files/")
    shutil.rmtree(moved)


def test_a_file_and_split_files_together_are_refused(root, files, capsys):
    assert _import(root, files, str(files["train"])) == 2
    assert "give either FILE or --split" in capsys.readouterr().err


def test_a_missing_group_label_names_the_frame(root, files, capsys):
    frames = ase.io.read(files["valid"], ":")
    del frames[3].info["config_type"]
    ase.io.write(files["valid"], frames, format="extxyz")
    assert _import(root, files, "--group-key", "config_type") == 2
    err = capsys.readouterr().err
    assert "valid.xyz: field 'group': info key 'config_type' missing in frame 3" in err
    assert not (root / "pub.zarr").exists()


def test_a_fractional_total_charge_is_refused(root, files, capsys):
    frames = ase.io.read(files["train"], ":")
    for atoms in frames:
        atoms.info["charge"] = 0
    frames[5].info["charge"] = 0.5
    ase.io.write(files["train"], frames, format="extxyz")
    assert _import(root, files, "--charge-key", "charge") == 2
    assert "field 'total_charge': 0.5 in frame 5" in capsys.readouterr().err


def _lj_run(root, tmp_path, dataset="pub", splits="dataset"):
    argv = [
        "train",
        "--experiment",
        "pub",
        "--dataset",
        dataset,
        "--set",
        f"datasets_root={root}",
        "--set",
        f"calculator={LJ}",
        "--set",
        f"calculator_options={json.dumps(LJ_OPTIONS)}",
        "--set",
        "label=lj",
        "--set",
        "cutoff=6.0",
        "--set",
        f"splits={splits}",
        "--output-root",
        str(tmp_path / "runs"),
    ]
    return main(argv), tmp_path / "runs" / "pub" / "lj" / "seed0"


def test_a_run_on_published_splits_reports_every_test_set_and_group(root, files, tmp_path):
    assert _import(root, files, "--group-key", "config_type") == 0
    status, run = _lj_run(root, tmp_path)
    assert status == 0
    recorded = json.loads((run / "splits.json").read_text())
    assert {name: len(indices) for name, indices in recorded.items()} == {
        "train": 40,
        "valid": 10,
        "test": 20,
        "test_far": 6,
    }

    assert main(["evaluate", str(run)]) == 0
    sets = xr.open_zarr(run / "test_sets.zarr", consolidated=False).load()
    assert sets["test_set"].values.tolist() == ["test", "test_far"]
    assert sets["group"].values.tolist() == ["all", "in_domain", "ood"]
    counts = sets["num_structures"].isel(experiment=0, model=0, seed=0)
    assert counts.sel(test_set="test").values.tolist() == [20, 10, 10]
    assert counts.sel(test_set="test_far", group="ood").item() == 6
    assert np.isnan(counts.sel(test_set="test_far", group="in_domain").item())

    # per-group errors against the per-structure predictions of the test set
    predictions = xr.open_zarr(run / "predictions_test.zarr", consolidated=False).load()
    groups = open_dataset("pub", root)["group"].values[predictions["structure"].values]
    error = np.abs(predictions.energy_predicted - predictions.energy_reference).values
    for group in ("in_domain", "ood"):
        value = sets["energy_mae"].sel(test_set="test", group=group).item()
        assert value == pytest.approx(error[groups == group].mean(), rel=1e-12)
    metrics = xr.open_zarr(run / "metrics.zarr", consolidated=False).load()
    assert (
        metrics["energy_mae"].item() == sets["energy_mae"].sel(test_set="test", group="all").item()
    )
    # metrics written elsewhere: the test-set store stays the run's own
    elsewhere = tmp_path / "metrics" / "lj.zarr"
    assert main(["evaluate", str(run), "--output", str(elsewhere)]) == 0
    written = {path.name for path in elsewhere.parent.iterdir()}
    assert "lj.zarr" in written and "test_sets.zarr" not in written
    assert (run / "test_sets.zarr" / "zarr.json").is_file()

    output = tmp_path / "report"
    assert (
        main(
            [
                "report",
                "--metrics",
                str(run / "metrics.zarr"),
                "--test-sets",
                str(run / "test_sets.zarr"),
                "--output-dir",
                str(output),
            ]
        )
        == 0
    )
    table = (output / "tables" / "test_sets.md").read_text()
    assert "| pub | lj | test | ood | 10 |" in table
    assert "| pub | lj | test_far | ood | 6 |" in table
    assert "test_far | in_domain" not in table
    board = (output / "tables" / "leaderboard_pub.csv").read_text()
    assert "test/ood:forces_mae" in board and "test_far/ood:energy_mae" in board
    summary = json.loads((output / "metrics.json").read_text())
    assert summary["test_sets"]["pub"]["lj"]["test_far"]["ood"]["num_structures"] == 6


def test_export_of_a_published_split_run_writes_every_test_set_with_its_groups(
    root, files, tmp_path
):
    assert _import(root, files, "--group-key", "config_type") == 0
    status, run = _lj_run(root, tmp_path)
    assert status == 0
    out = tmp_path / "export"
    assert (
        main(["data", "export", "pub", "--root", str(root), "--run", str(run), "-o", str(out)]) == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "test.xyz",
        "test_far.xyz",
        "train.xyz",
        "valid.xyz",
    ]
    frames = ase.io.read(out / "test.xyz", ":")
    original = ase.io.read(files["test"], ":")
    assert [a.info["config_type"] for a in frames] == [a.info["config_type"] for a in original]
    assert {a.info["efa_split"] for a in frames} == {"test"}


def test_published_splits_on_a_data_set_without_them_is_refused(root, tmp_path, capsys):
    status, run = _lj_run(root, tmp_path, dataset="two_atoms")
    assert status == 2
    assert "has no published splits (no 'split' label)" in capsys.readouterr().err
    assert not (run / "splits.json").exists()
