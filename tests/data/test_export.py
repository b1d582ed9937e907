"""efa data export: a data set, or exactly a run's splits, as extxyz under MACE's and ASE's keys."""

import json

import numpy as np
import pytest
from ase.io import read

from efa.cli.main import main
from efa.data.generators.sn2 import sn2_scan
from efa.data.store import open_dataset, write_dataset
from efa.predictors import prepare_calculator_run
from efa.runs.config import config_from_mapping


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "datasets"
    scan = sn2_scan(num_points=6, coordinate_min=-3.0, coordinate_max=3.0)
    scan.attrs.update(name="scan", license="CC0-1.0", citation="test data")
    write_dataset(scan, root / "scan.zarr")
    return root


def test_export_writes_every_structure_with_its_labels(root, tmp_path):
    output = tmp_path / "export"
    assert main(["data", "export", "scan", "--root", str(root), "-o", str(output)]) == 0
    frames = read(output / "scan.xyz", index=":")
    dataset = open_dataset("scan", root)
    assert len(frames) == dataset.sizes["structure"] == 6
    for index, atoms in enumerate(frames):
        mask = dataset.atom_mask.values[index]
        assert atoms.get_potential_energy() == pytest.approx(float(dataset.energy[index]), abs=1e-9)
        assert atoms.info["REF_energy"] == pytest.approx(float(dataset.energy[index]), abs=1e-9)
        np.testing.assert_allclose(
            atoms.get_forces(), dataset.forces.values[index][mask], atol=1e-8
        )
        np.testing.assert_allclose(
            atoms.arrays["REF_forces"], dataset.forces.values[index][mask], atol=1e-8
        )
        np.testing.assert_allclose(
            atoms.positions, dataset.positions.values[index][mask], atol=1e-8
        )
        assert atoms.info["total_charge"] == atoms.info["charge"] == -1
        assert atoms.info["total_spin"] == 1 and atoms.info["efa_index"] == index


def test_export_of_a_run_writes_exactly_its_splits(root, tmp_path):
    config = config_from_mapping(
        {
            "experiment": "e",
            "dataset": "scan",
            "datasets_root": str(root),
            "label": "lj",
            "calculator": "ase.calculators.lj:LennardJones",
            "splits": {"train": 3, "valid": 1, "test": 2},
            "output_root": str(tmp_path / "runs"),
        }
    )
    prepare_calculator_run(config)
    run = config.run_dir()
    output = tmp_path / "splits"
    assert (
        main(["data", "export", "scan", "--root", str(root), "--run", str(run), "-o", str(output)])
        == 0
    )
    splits = json.loads((run / "splits.json").read_text())
    for part in ("train", "valid", "test"):
        frames = read(output / f"{part}.xyz", index=":")
        assert [atoms.info["efa_index"] for atoms in frames] == splits[part]


def test_export_refuses_a_non_empty_folder_and_writes_nothing(root, tmp_path, capsys):
    output = tmp_path / "taken"
    output.mkdir()
    (output / "mine.txt").write_text("keep me")
    assert main(["data", "export", "scan", "--root", str(root), "-o", str(output)]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in output.iterdir()) == ["mine.txt"]


def test_periodic_cells_keep_cell_and_stress_through_extxyz(tmp_path):
    """Export then import: cells, periodicity and stress (3×3, eV/Å³) come back, and MACE's
    ``REF_stress`` is the Voigt form of the same stress."""
    from ase.stress import full_3x3_to_voigt_6_stress

    from efa.data.export import export_extxyz
    from efa.data.generators import nacl_crystal
    from efa.data.readers import read_extxyz

    dataset = nacl_crystal(3, seed=2, defects="charged")
    (path,) = export_extxyz(dataset, tmp_path / "out", name="cells")
    back = read_extxyz(path, charge_key="charge")
    np.testing.assert_allclose(back["cell"].values, dataset["cell"].values, atol=1e-8)
    np.testing.assert_allclose(back["stress"].values, dataset["stress"].values, atol=1e-10)
    assert back.attrs["units"]["stress"] == "eV/Å^3"
    frame = read(path, index=0)
    np.testing.assert_allclose(
        frame.info["REF_stress"],
        full_3x3_to_voigt_6_stress(dataset["stress"].values[0]),
        atol=1e-10,
    )


def test_stress_on_only_some_frames_is_refused_naming_the_frame(tmp_path):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from efa.data.readers import read_extxyz
    from efa.errors import DataError

    frames = []
    for index in range(2):
        atoms = Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]], cell=np.eye(3) * 5.6, pbc=True)
        results = {"energy": -1.0, "forces": np.zeros((2, 3))}
        if index == 0:
            results["stress"] = np.full(6, 0.01)
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    write(tmp_path / "cells.xyz", frames, format="extxyz")
    with pytest.raises(DataError, match="field 'stress': frame 1 has no stress"):
        read_extxyz(tmp_path / "cells.xyz")


def test_nacl_crystal_refuses_a_repeat_that_is_not_a_positive_integer():
    from efa.data.generators import nacl_crystal
    from efa.errors import DataError

    with pytest.raises(DataError, match=r"repeats=\[1, 0\]; expected a positive integer"):
        nacl_crystal(2, seed=0, repeats=[1, 0])
    with pytest.raises(DataError, match=r"labels='dft'; expected one of \['ewald', 'gfn2-xtb'\]"):
        nacl_crystal(2, seed=0, labels="dft")
