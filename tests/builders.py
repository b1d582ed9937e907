"""Builders of small test inputs shared by several test modules."""

import numpy as np

from efa.data.batching import Structures
from efa.data.generators.analytic import two_atoms
from efa.data.store import write_dataset


def padded_structures(positions_list, numbers_list, charges=None) -> Structures:
    """Canonical padded arrays for a list of structures (no labels: energies and forces 0)."""
    count, width = len(positions_list), max(len(p) for p in positions_list)
    positions = np.zeros((count, width, 3))
    numbers = np.zeros((count, width), np.int32)
    for s, (p, z) in enumerate(zip(positions_list, numbers_list, strict=True)):
        positions[s, : len(p)], numbers[s, : len(z)] = p, z
    return Structures(
        positions, numbers, numbers > 0, np.zeros(count), np.zeros((count, width, 3)),
        np.asarray(charges if charges is not None else np.zeros(count), np.int32),
    )


def write_two_atom_store(root, count: int, seed: int = 0):
    """Write ``<root>/two_atoms.zarr``: ``count`` analytic two-atom pairs drawn with ``seed``."""
    dataset = two_atoms(count, seed=seed)
    dataset.attrs.update(name="two_atoms", license="CC0-1.0", citation="test data")
    return write_dataset(dataset, root / "two_atoms.zarr")
