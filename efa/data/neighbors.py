"""Neighbour lists in O(N) with cell lists.

Space is divided into cubic cells of edge ``cutoff``; an atom's neighbours within ``cutoff`` can
only sit in its own cell or in one of the 26 adjacent cells. Atoms are sorted by cell, and for
each of the 27 cell offsets the candidate pairs are generated per cell block and filtered by
distance. Work and memory are proportional to ``N · ρ · cutoff³`` (ρ the atom density) instead
of ``N²``; candidates are processed in chunks of atoms so that memory stays bounded.

Convention (shared with the brute-force reference in the tests): ``i`` and ``j`` are neighbours
when ``i ≠ j`` and ``|r_j − r_i|² < cutoff²`` (strictly), evaluated in float64; atoms exactly at
the cutoff are not neighbours (the smooth cutoff function vanishes there anyway).
"""

from __future__ import annotations

import itertools

import numpy as np
from jaxtyping import Float, Int

#: The 27 integer offsets of a cell and its neighbours.
_OFFSETS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=np.int64)


def neighbor_pairs(
    positions: Float[np.ndarray, "N 3"], cutoff: float, *, chunk_atoms: int = 65536
) -> tuple[Int[np.ndarray, " P"], Int[np.ndarray, " P"]]:
    """All ordered pairs ``(dst, src)``, ``dst ≠ src``, with ``|r_src − r_dst|² < cutoff²``.

    Args:
      positions: ``(N, 3)`` Cartesian positions (Å), finite, no periodic boundaries.
      cutoff: neighbour cutoff (Å), > 0.
      chunk_atoms: atoms whose candidate pairs are generated at once (bounds memory).

    Returns:
      ``(dst, src)`` int64 arrays of equal length ``P``, sorted by ``dst`` then ``src``.

    Raises:
      ValueError: for a non-positive cutoff, a wrong shape or non-finite positions.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3); got {positions.shape}")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0 Å; got {cutoff}")
    if not np.isfinite(positions).all():
        raise ValueError("positions contain NaN or inf; neighbour lists need finite positions")
    num_atoms = positions.shape[0]
    empty = np.zeros(0, np.int64)
    if num_atoms < 2:
        return empty, empty

    cell = np.floor((positions - positions.min(axis=0)) / cutoff).astype(np.int64)
    shape = cell.max(axis=0) + 1
    cell_id = np.ravel_multi_index(cell.T, shape)
    order = np.argsort(cell_id, kind="stable")  # atoms sorted by cell
    counts = np.bincount(cell_id, minlength=int(np.prod(shape)))
    starts = np.cumsum(counts) - counts

    destinations, sources = [], []
    for first in range(0, num_atoms, chunk_atoms):
        atoms = np.arange(first, min(first + chunk_atoms, num_atoms))
        for offset in _OFFSETS:
            neighbour_cell = cell[atoms] + offset
            inside = np.all((neighbour_cell >= 0) & (neighbour_cell < shape), axis=1)
            dst = atoms[inside]
            neighbour_id = np.ravel_multi_index(neighbour_cell[inside].T, shape)
            per_atom = counts[neighbour_id]
            dst = np.repeat(dst, per_atom)
            # Position of each candidate inside its cell block of the sorted atom list.
            block_start = np.repeat(starts[neighbour_id], per_atom)
            rank = np.arange(dst.size) - np.repeat(np.cumsum(per_atom) - per_atom, per_atom)
            src = order[block_start + rank]
            distance2 = np.sum((positions[src] - positions[dst]) ** 2, axis=1)
            keep = (distance2 < cutoff * cutoff) & (src != dst)
            destinations.append(dst[keep])
            sources.append(src[keep])
    dst, src = np.concatenate(destinations), np.concatenate(sources)
    sort = np.lexsort((src, dst))
    return dst[sort], src[sort]
