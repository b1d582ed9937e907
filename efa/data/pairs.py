"""Counting what a batch must hold: neighbour pairs and reciprocal vectors per structure.

Neighbour pairs are the ordered pairs of real atoms of one structure closer than the cutoff,
found with cell lists (:mod:`efa.data.neighbors`), images included for periodic cells;
reciprocal vectors are one of each ``±g`` of a cell up to a reciprocal cutoff
(:func:`efa.nn.periodic.reciprocal_indices`). Packing (:mod:`efa.data.packing`) sizes its pair
and reciprocal slots from these counts.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int

from efa.data.neighbors import neighbor_pairs
from efa.data.structures import Structures

#: Atom slots of the structures whose neighbour pairs are counted at once (bounds memory).
_PAIR_COUNT_CHUNK = 2**16


def structure_pairs(
    positions: Float[np.ndarray, "S A 3"], atom_mask: Bool[np.ndarray, "S A"], cutoff: float
) -> tuple[Int[np.ndarray, " P"], Int[np.ndarray, " P"]]:
    """Neighbour pairs of ``S`` structures as flat atom indices ``s·A + a`` (cell lists).

    Returns ``(dst, src)``: the ordered pairs of real atoms ``dst ≠ src`` of one structure with
    ``|r_src − r_dst| < cutoff``, sorted by ``dst`` then ``src`` (so grouped by structure).
    Cost and memory grow with the number of atoms and pairs, not with ``A²``
    (:func:`efa.data.neighbors.neighbor_pairs`).
    """
    num_atoms = atom_mask.shape[1]
    real = np.flatnonzero(atom_mask.reshape(-1))
    dst, src = neighbor_pairs(positions.reshape(-1, 3)[real], cutoff, segment_ids=real // num_atoms)
    return real[dst], real[src]


def periodic_structure_pairs(
    structures: Structures, cutoff: float
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(dst, src, shift)`` of every periodic structure (atom indices within the structure,
    images included; :func:`efa.data.neighbors.periodic_neighbor_pairs`)."""
    from efa.data.neighbors import periodic_neighbor_pairs

    pairs = []
    for index in range(len(structures.energy)):
        real = np.flatnonzero(structures.atom_mask[index])
        dst, src, shift = periodic_neighbor_pairs(
            structures.positions[index][real],
            structures.cell[index],
            structures.pbc[index],
            cutoff,
        )
        order = np.lexsort((src, dst))
        pairs.append((real[dst[order]], real[src[order]], shift[order]))
    return pairs


def count_pairs(structures: Structures, cutoff: float) -> Int[np.ndarray, " S"]:
    """Ordered neighbour pairs within ``cutoff`` per structure, in memory-bounded chunks
    (images included for periodic structures)."""
    if structures.periodic.any():
        return np.array([len(d) for d, _, _ in periodic_structure_pairs(structures, cutoff)])
    num_structures, num_atoms = structures.atom_mask.shape
    chunk = max(1, _PAIR_COUNT_CHUNK // max(1, num_atoms))
    counts = np.zeros(num_structures, np.int64)
    for start in range(0, num_structures, chunk):
        dst, _ = structure_pairs(
            structures.positions[start : start + chunk],
            structures.atom_mask[start : start + chunk],
            cutoff,
        )
        counts[start : start + chunk] = np.bincount(
            dst // num_atoms, minlength=min(chunk, num_structures - start)
        )
    return counts


def max_reciprocal(structures: Structures, reciprocal_cutoff: float | None) -> int:
    """Reciprocal-vector slots one batch of ``structures`` needs (0 without periodic cells or
    without a cutoff)."""
    if reciprocal_cutoff is None or not structures.periodic.any():
        return 0
    return int(count_reciprocal(structures, reciprocal_cutoff).max())


def count_reciprocal(structures: Structures, reciprocal_cutoff: float) -> Int[np.ndarray, " S"]:
    """Reciprocal vectors (one of each ``±g``) up to ``reciprocal_cutoff`` per periodic cell."""
    from efa.nn.periodic import reciprocal_indices

    return np.array(
        [len(reciprocal_indices(cell, reciprocal_cutoff)[0]) for cell in structures.cell]
    )
