"""Neighbour lists in O(N) with cell lists.

Space is divided into cubic cells of edge ``cutoff``; an atom's neighbours within ``cutoff`` can
only sit in its own cell or in one of the 26 adjacent cells. Cells are keyed by one integer
``key = ravel(segment, c_x + 1, c_y + 1, c_z + 1)`` over the grid ``(S, s_x + 2, s_y + 2,
s_z + 2)`` (``S`` segments, e.g. the structures of a batch, ``s`` cells along each axis, one empty
layer of cells around), so the 27 neighbour cells of a cell are ``key + δ`` for 27 fixed
integers ``δ`` and never belong to another segment. Only occupied cells are stored (sorted
keys), so memory does not depend on how far apart atoms are. Atoms are sorted by cell; the
candidate sources of an atom are the atoms of its 27 neighbour cells, generated in chunks of at
most ``max_candidates`` and filtered by distance. Work is proportional to
``N · ρ · (3 cutoff)³`` (ρ the atom density) instead of ``N²``; memory to ``N``, the pairs found
and ``max_candidates``.

Convention (shared with the brute-force reference in the tests): ``i`` and ``j`` are neighbours
when they are in the same segment, ``i ≠ j`` and ``|r_j − r_i|² < cutoff²`` (strictly),
evaluated in float64 as ``(Δx² + Δy²) + Δz²``; atoms exactly at the cutoff are not neighbours
(the smooth cutoff function vanishes there anyway).
"""

from __future__ import annotations

import itertools

import numpy as np
from jaxtyping import Float, Int

#: The 27 integer offsets of a cell and its neighbours.
_OFFSETS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=np.int64)


def neighbor_pairs(
    positions: Float[np.ndarray, "N 3"],
    cutoff: float,
    *,
    segment_ids: Int[np.ndarray, " N"] | None = None,
    max_candidates: int = 2**18,
) -> tuple[Int[np.ndarray, " P"], Int[np.ndarray, " P"]]:
    """All ordered pairs ``(dst, src)``, ``dst ≠ src``, with ``|r_src − r_dst|² < cutoff²``.

    Args:
      positions: ``(N, 3)`` Cartesian positions (Å), finite, no periodic boundaries.
      cutoff: neighbour cutoff (Å), > 0.
      segment_ids: optional ``(N,)`` non-negative integers; only atoms of the same segment
        are paired (several structures in one call). Default: one segment.
      max_candidates: candidate pairs generated at once (bounds memory; at least the
        candidates of one atom are always taken together).

    Returns:
      ``(dst, src)`` int64 arrays of equal length ``P``, sorted by ``dst`` then ``src``.

    Raises:
      ValueError: for a non-positive cutoff, a wrong shape, non-finite positions or segment
        ids of the wrong shape or sign.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3); got {positions.shape}")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0 Å; got {cutoff}")
    if not np.isfinite(positions).all():
        raise ValueError("positions contain NaN or inf; neighbour lists need finite positions")
    num_atoms = positions.shape[0]
    if segment_ids is None:
        segment_ids = np.zeros(num_atoms, np.int64)
    segment_ids = np.asarray(segment_ids, dtype=np.int64)
    if segment_ids.shape != (num_atoms,) or (num_atoms and segment_ids.min() < 0):
        raise ValueError(
            f"segment_ids must be {num_atoms} non-negative integers (one per atom); got shape "
            f"{segment_ids.shape}"
        )
    empty = np.zeros(0, np.int64)
    if num_atoms < 2:
        return empty, empty

    cell = np.floor((positions - positions.min(axis=0)) / cutoff).astype(np.int64) + 1
    grid = (int(segment_ids.max()) + 1, *(cell.max(axis=0) + 2))
    key = np.ravel_multi_index((segment_ids, *cell.T), grid)
    deltas = np.ravel_multi_index((np.zeros(27, np.int64), *(_OFFSETS + 1).T), grid)
    deltas -= np.ravel_multi_index((0, 1, 1, 1), grid)

    order = np.argsort(key, kind="stable")  # atoms sorted by cell
    cells, cell_of_atom, cell_size = np.unique(key, return_inverse=True, return_counts=True)
    cell_start = np.cumsum(cell_size) - cell_size  # of each cell's block in ``order``
    # The 27 neighbour cells of every occupied cell: (C, 27) start and size (0 if empty).
    neighbour_key = cells[:, None] + deltas
    found = np.minimum(np.searchsorted(cells, neighbour_key), cells.size - 1)
    occupied = cells[found] == neighbour_key
    block_start = np.where(occupied, cell_start[found], 0)
    block_size = np.where(occupied, cell_size[found], 0)

    sorted_positions = positions[order]
    per_atom = block_size.sum(axis=1)[cell_of_atom]  # candidate sources of every atom
    total = np.cumsum(per_atom)
    destinations, sources = [], []
    first = 0
    while first < num_atoms:
        done = total[first - 1] if first else 0
        last = max(first + 1, int(np.searchsorted(total, done + max_candidates, side="right")))
        size = block_size[cell_of_atom[first:last]].reshape(-1)
        start = block_start[cell_of_atom[first:last]].reshape(-1)
        # Candidate k of block b is atom ``start_b + k − (first candidate of b)`` of ``order``.
        candidate = np.repeat(start - (np.cumsum(size) - size), size)
        candidate += np.arange(candidate.size)
        difference = sorted_positions[candidate]
        difference -= np.repeat(positions[first:last], per_atom[first:last], axis=0)
        difference *= difference
        distance2 = difference[:, 0] + difference[:, 1]  # x² + y² + z², in this order
        distance2 += difference[:, 2]
        dst = np.repeat(np.arange(first, last), per_atom[first:last])
        src = order[candidate]
        keep = (distance2 < cutoff * cutoff) & (src != dst)
        dst, src = dst[keep], src[keep]
        sort = np.lexsort((src, dst))  # dst is already ascending; sort sources per atom
        destinations.append(dst[sort])
        sources.append(src[sort])
        first = last
    return np.concatenate(destinations), np.concatenate(sources)


def periodic_neighbor_pairs(
    positions: Float[np.ndarray, "N 3"],
    cell: Float[np.ndarray, "3 3"],
    pbc: np.ndarray,
    cutoff: float,
) -> tuple[Int[np.ndarray, " P"], Int[np.ndarray, " P"], Float[np.ndarray, "P 3"]]:
    """All ordered pairs of one periodic structure within ``cutoff``, images included, by vesin.

    Args:
      positions: ``(N, 3)`` Cartesian positions (Å), anywhere (not necessarily in the cell).
      cell: ``(3, 3)`` lattice vectors as rows (Å).
      pbc: ``(3,)`` periodicity along each lattice vector (mixed periodicity, e.g. a slab
        ``[True, True, False]``, is allowed).
      cutoff: Å. The cell may be smaller than the cutoff: every image within it is listed.

    Returns:
      ``(dst, src, shift)``: a pair is ``src`` seen from ``dst`` displaced by the lattice
      vector ``shift`` (Å), i.e. at ``r_src + shift − r_dst``, with
      ``|r_src + shift − r_dst| < cutoff``; an atom is listed with its own images but not with
      itself at ``shift = 0``. Both directions of every pair are listed.
    """
    from vesin import NeighborList

    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    calculator = NeighborList(cutoff=float(cutoff), full_list=True)
    dst, src, shifts = calculator.compute(
        points=positions, box=cell, periodic=[bool(p) for p in pbc], quantities="ijS"
    )
    shift = np.asarray(shifts, dtype=np.float64) @ cell
    vector = positions[src] + shift - positions[dst]
    keep = np.sum(vector**2, axis=1) < cutoff**2  # the strict convention of this module
    return dst[keep].astype(np.int64), src[keep].astype(np.int64), shift[keep]
