"""Builders of small test inputs shared by several test modules."""

import numpy as np

from efa.data.batching import Structures


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
