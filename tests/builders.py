"""Builders of small test inputs shared by several test modules."""

import numpy as np

from efa.data.generators.analytic import two_atoms
from efa.data.store import write_dataset
from efa.data.structures import Structures


def padded_structures(positions_list, numbers_list, charges=None, cells=None) -> Structures:
    """Canonical padded arrays for a list of structures (no labels: energies and forces 0);
    with ``cells`` (one ``(3, 3)`` per structure) they are cells periodic in all directions."""
    count, width = len(positions_list), max(len(p) for p in positions_list)
    positions = np.zeros((count, width, 3))
    numbers = np.zeros((count, width), np.int32)
    for s, (p, z) in enumerate(zip(positions_list, numbers_list, strict=True)):
        positions[s, : len(p)], numbers[s, : len(z)] = p, z
    return Structures(
        positions,
        numbers,
        numbers > 0,
        np.zeros(count),
        np.zeros((count, width, 3)),
        np.asarray(charges if charges is not None else np.zeros(count), np.int32),
        cell=None if cells is None else np.stack(cells).astype(np.float64),
        pbc=None if cells is None else np.ones((count, 3), bool),
    )


def write_two_atom_store(root, count: int, seed: int = 0):
    """Write ``<root>/two_atoms.zarr``: ``count`` analytic two-atom pairs drawn with ``seed``."""
    dataset = two_atoms(count, seed=seed)
    dataset.attrs.update(name="two_atoms", license="CC0-1.0", citation="test data")
    return write_dataset(dataset, root / "two_atoms.zarr")


def write_published_split_files(folder, seed: int = 1) -> dict:
    """Two-atom pairs as four extxyz files of published splits, with a ``config_type`` label.

    ``train.xyz`` (40) and ``valid.xyz`` (10) hold pairs closer than 8 Å (``in_domain``);
    ``test.xyz`` 10 in-domain and 10 farther pairs (``ood``); ``test_far.xyz`` 6 far pairs.
    Returns ``{split: path}``.
    """
    import ase.io

    from efa.data.atoms import labelled_atoms

    folder.mkdir(parents=True, exist_ok=True)
    structures = Structures.from_dataset(two_atoms(160, seed=seed))
    distance = np.linalg.norm(structures.positions[:, 0] - structures.positions[:, 1], axis=-1)
    near, far = [], []
    for index in range(len(distance)):
        atoms = labelled_atoms(structures, index)
        atoms.info["config_type"] = "ood" if distance[index] > 8.0 else "in_domain"
        (far if distance[index] > 8.0 else near).append(atoms)
    parts = {
        "train": near[:40],
        "valid": near[40:50],
        "test": near[50:60] + far[:10],
        "test_far": far[10:16],
    }
    paths = {}
    for split, frames in parts.items():
        paths[split] = folder / f"{split}.xyz"
        ase.io.write(paths[split], frames, format="extxyz")
    return paths
