"""Readers (extxyz through ASE, npz with unit mapping) and the ``efa data`` command line."""

import shutil
from pathlib import Path

import ase.io
import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from efa.cli.main import main
from efa.data.readers import read_extxyz, read_npz
from efa.data.registry import load_registry
from efa.data.store import open_dataset
from efa.errors import DataError

REGISTRY = Path(__file__).resolve().parents[2] / "datasets" / "registry.yaml"


def frames(num=4):
    rng = np.random.default_rng(0)
    out = []
    for index in range(num):
        size = 2 + index
        atoms = Atoms(numbers=rng.integers(1, 10, size), positions=rng.normal(size=(size, 3)))
        atoms.info["total_charge"] = index % 2
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(rng.normal()), forces=rng.normal(size=(size, 3))
        )
        out.append(atoms)
    return out


def test_extxyz_round_trip(tmp_path):
    original = frames()
    ase.io.write(tmp_path / "data.xyz", original, format="extxyz")
    ds = read_extxyz(tmp_path / "data.xyz", charge_key="total_charge")
    assert ds.sizes["structure"] == 4 and ds.sizes["atom"] == 5
    for s, atoms in enumerate(original):
        n = len(atoms)
        assert ds.atom_mask.values[s].sum() == n
        np.testing.assert_allclose(
            ds.positions.values[s, :n], atoms.positions, atol=1e-7
        )  # extxyz text precision
        np.testing.assert_array_equal(ds.atomic_numbers.values[s, :n], atoms.numbers)
        assert ds.energy.values[s] == pytest.approx(atoms.get_potential_energy())
        np.testing.assert_allclose(ds.forces.values[s, :n], atoms.get_forces(), atol=1e-7)
    assert ds.total_charge.values.tolist() == [0, 1, 0, 1]
    with pytest.raises(DataError, match="data.xyz: field 'energy': key 'U0' not found"):
        read_extxyz(tmp_path / "data.xyz", energy_key="U0")


def test_npz_unit_mapping_and_missing_key(tmp_path):
    rng = np.random.default_rng(1)
    R, F, E = rng.normal(size=(3, 4, 3)), rng.normal(size=(3, 4, 3)), rng.normal(size=3)
    N = np.array([2, 4, 3])
    Z = np.where(np.arange(4) < N[:, None], 6, 0)
    np.savez(tmp_path / "raw.npz", R=R, F=F, E=E, Z=Z, N=N)
    keys = {"positions": "R", "atomic_numbers": "Z", "energy": "E", "forces": "F", "num_atoms": "N"}
    ds = read_npz(
        tmp_path / "raw.npz",
        keys,
        {"positions": "Bohr", "energy": "Hartree", "forces": "Hartree/Bohr"},
    )
    bohr, hartree = 0.529177210903, 27.211386245988
    mask = ds.atom_mask.values
    np.testing.assert_allclose(ds.positions.values[mask], R[mask] * bohr)
    np.testing.assert_allclose(ds.energy.values, E * hartree)
    np.testing.assert_allclose(ds.forces.values[mask], F[mask] * hartree / bohr)
    assert ds.forces.values[~mask].sum() == 0 and mask.sum(axis=1).tolist() == [2, 4, 3]
    with pytest.raises(DataError, match="raw.npz: field 'energy': key 'U' not found"):
        read_npz(tmp_path / "raw.npz", {**keys, "energy": "U"})
    with pytest.raises(DataError, match="unknown unit 'furlong'"):
        read_npz(tmp_path / "raw.npz", keys, {"positions": "furlong"})


@pytest.fixture
def root(tmp_path):
    shutil.copy(REGISTRY, tmp_path / "registry.yaml")
    return tmp_path


def test_cli_build_list_show(root, capsys):
    assert (
        main(["data", "build", "two_atoms", "--root", str(root), "--set", "num_structures=50"]) == 0
    )
    ds = open_dataset("two_atoms", root=root)
    assert ds.sizes["structure"] == 50 and ds.attrs["parameters"]["num_structures"] == 50
    assert ds.attrs["splits"] == {"train": 2000, "valid": 500, "test": 200}
    assert main(["data", "list", "--root", str(root), "--citations"]) == 0
    listing = capsys.readouterr().out
    # the built store's 50 structures, not the registry's 10,000
    assert any(
        line.split()[:3] == ["two_atoms", "generate", "50"] and line.split()[-1] == "yes"
        for line in listing.splitlines()
    ), listing
    assert "two_atoms (MIT):\n  J. T. Frank" in listing
    assert main(["data", "show", "two_atoms", "--root", str(root)]) == 0
    shown = capsys.readouterr().out
    assert "structures      50" in shown and "elements        [1, 2]" in shown and "MIT" in shown
    assert main(["data", "show", "cluster_16", "--root", str(root)]) == 2
    assert "efa data build cluster_16" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["two_atoms", "nosuch"], "unknown data set 'nosuch'"),
        (["two_atoms", "--set", "seed=1"], "--set seed: generator 'two_atoms' of data set"),
        (["two_atoms", "--set", "num_structures=-5"], "--set num_structures: -5: expected a"),
        (["two_atoms", "--set", "num_structures=abc"], "--set num_structures: 'abc': expected"),
        (["two_atoms", "ref_two_atoms", "--set", "num_structures=7"], "only generated sets"),
    ],
)
def test_cli_build_checks_every_name_and_override_first(root, capsys, arguments, message):
    assert main(["data", "build", *arguments, "--root", str(root)]) == 2
    assert message in capsys.readouterr().err
    assert not list(root.glob("*.zarr"))  # nothing built, not even the good names before


def test_cli_import_refuses_an_unknown_unit_by_option(root, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "import", "x.xyz", "--name", "mine", "--energy-unit", "furlong"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --energy-unit: invalid choice: 'furlong'" in error and "'Hartree'" in error


def test_cli_import_extxyz(root, tmp_path, capsys):
    ase.io.write(tmp_path / "mine.extxyz", frames(), format="extxyz")
    assert (
        main(
            [
                "data",
                "import",
                str(tmp_path / "mine.extxyz"),
                "--name",
                "mine",
                "--root",
                str(root),
                "--charge-key",
                "total_charge",
            ]
        )
        == 0
    )
    user = yaml.safe_load((root / "registry.user.yaml").read_text())
    assert user["datasets"]["mine"]["kind"] == "import"
    assert load_registry(root).get("mine").reader["charge_key"] == "total_charge"
    assert open_dataset("mine", root=root).sizes["structure"] == 4
    assert (
        main(
            [
                "data",
                "import",
                str(tmp_path / "mine.extxyz"),
                "--name",
                "two_atoms",
                "--root",
                str(root),
            ]
        )
        == 2
    )
    assert "already a built-in data set" in capsys.readouterr().err


def test_registry_file_is_complete():
    registry = load_registry(REGISTRY.parent)
    for entry in registry.entries.values():
        assert entry.description and entry.license and entry.level_of_theory
        assert entry.splits, entry.name
        if entry.num_structures is not None:
            assert sum(entry.splits.values()) <= entry.num_structures, entry.name
        if entry.kind == "fetch":
            for spec in entry.source["files"]:
                assert spec["url"].startswith("https://")


def test_extxyz_keeps_periodic_cells(tmp_path):
    """Cells and periodicity survive the import (a slab: periodic along two vectors)."""
    frames = []
    for index in range(3):
        atoms = Atoms(
            "NaCl",
            positions=[[0, 0, 0], [2.8 + 0.1 * index, 0, 0]],
            cell=[[5.6, 0, 0], [0, 5.6, 0], [0, 0, 20.0]],
            pbc=[True, True, False],
        )
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0 * index, forces=np.zeros((2, 3)))
        frames.append(atoms)
    ase.io.write(tmp_path / "slab.xyz", frames, format="extxyz")
    ds = read_extxyz(tmp_path / "slab.xyz", units={"positions": "Å"})
    np.testing.assert_array_equal(ds["cell"].values[1], frames[1].cell.array)
    assert ds["pbc"].values.tolist() == [[True, True, False]] * 3
    assert ds.attrs["units"]["cell"] == "Å"
