"""With the data mirror (EFA_DATA_MIRROR): the five EFA reference files build and match their
source."""

import os
from pathlib import Path

import numpy as np
import pytest

from efa.data.build import build
from efa.data.fetch import MIRROR_ENV, find_in_mirror
from efa.data.registry import read_registry_file
from efa.data.store import open_dataset

REGISTRY = Path(__file__).resolve().parents[2] / "datasets" / "registry.yaml"
REFERENCE = [
    "ref_two_atoms",
    "ref_cluster_16",
    "ref_cluster_32",
    "ref_cumulene_profile",
    "ref_sn2_F_I",
]

pytestmark = pytest.mark.mirror


def reference_file(name):
    entry = read_registry_file(REGISTRY).get(name)
    file_name = entry.source["files"][0]["name"]
    if not os.environ.get(MIRROR_ENV) or find_in_mirror(file_name) is None:
        pytest.skip(f"{file_name} not in the data mirror (set {MIRROR_ENV})")
    return entry, find_in_mirror(file_name)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets")


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_file_builds_and_equals_source(name, root):
    entry, path = reference_file(name)
    build(name, root, REGISTRY)
    ds = open_dataset(name, root=root)
    source = np.load(path)
    keys = entry.reader["keys"]
    # all five files are in Å / eV / eV·Å⁻¹ already: the unit mapping is the identity
    for field in ("positions", "energy", "forces"):
        np.testing.assert_array_equal(ds[field].values, source[keys[field]].astype(np.float64))
    np.testing.assert_array_equal(ds.atomic_numbers.values, source[keys["atomic_numbers"]])
    if "atom_mask" in keys:
        np.testing.assert_array_equal(ds.atom_mask.values, source[keys["atom_mask"]])
    if "coordinate" in keys:
        np.testing.assert_array_equal(ds.coordinate.values, source[keys["coordinate"]])
    assert ds.attrs["sha256"] == entry.source["files"][0]["sha256"]


@pytest.mark.parametrize("name", ["ref_cluster_16", "ref_cluster_32"])
def test_cluster_energies_follow_the_formula(name, root):
    reference_file(name)
    if not (root / f"{name}.zarr").exists():
        build(name, root, REGISTRY)
    ds = open_dataset(name, root=root).isel(structure=slice(0, 200))
    positions = ds.positions.values
    distance = np.linalg.norm(positions[:, :, None] - positions[:, None], axis=-1)
    off = ~np.eye(positions.shape[1], dtype=bool)
    energy = np.sum(
        np.where(off, distance, 1.0) ** -6 - np.where(off, distance, 1.0) ** -1,
        axis=(1, 2),
        where=off,
    )
    np.testing.assert_allclose(ds.energy.values, energy, rtol=1e-5)


def test_two_atoms_energies_follow_the_formula(root):
    reference_file("ref_two_atoms")
    if not (root / "ref_two_atoms.zarr").exists():
        build("ref_two_atoms", root, REGISTRY)
    ds = open_dataset("ref_two_atoms", root=root)
    r = np.linalg.norm(ds.positions.values[:, 0] - ds.positions.values[:, 1], axis=-1)
    np.testing.assert_allclose(ds.energy.values, 12 / 11 * (r**-12 - r**-1), rtol=1e-5, atol=1e-6)
