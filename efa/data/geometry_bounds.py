"""Bounds on a structure's geometry: what no reader, generator or prediction may pass on.

A model cannot be asked about atoms on top of each other, coordinates of 1e300 Å or a cell of
0.01 Å (whose periodic images fill memory in a neighbour list); such structures are refused by
index, with the value, where they enter (:func:`efa.data.schema.make_dataset`, which every reader
and generator uses, and :func:`efa.data.atoms.structures_from_atoms`, the way of ``efa
predict`` and the ASE calculator):

- coordinates lie within :data:`MAX_COORDINATE_A` of the origin;
- no two atoms of a structure are closer than :data:`MIN_DISTANCE_A` (direct distances);
- a periodic cell is at least :data:`MIN_CELL_WIDTH_A` wide across every periodic direction:
  ``V / |a_j × a_k|`` for the lattice vector ``a_i`` of a cell periodic in all three directions,
  ``|a_i|`` otherwise.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float
from scipy.spatial import cKDTree

from efa.errors import DataError

#: The largest coordinate accepted (Å).
MAX_COORDINATE_A = 1.0e5
#: The closest two atoms of one structure may be (Å).
MIN_DISTANCE_A = 0.1
#: The narrowest a periodic cell may be across a periodic direction (Å).
MIN_CELL_WIDTH_A = 0.5


def _cell_widths(cell: Float[np.ndarray, "3 3"], periodic: Bool[np.ndarray, " 3"]) -> np.ndarray:
    """Width of the cell across each periodic direction (Å), see the module docstring."""
    if periodic.all():
        volume = abs(float(np.linalg.det(cell)))
        faces = [np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
        return np.array([volume / face if face > 0 else 0.0 for face in faces])
    return np.linalg.norm(cell[periodic], axis=1)


def check_geometry(
    positions: Float[np.ndarray, "S A 3"],
    atom_mask: Bool[np.ndarray, "S A"],
    cell: Float[np.ndarray, "S 3 3"] | None = None,
    pbc: Bool[np.ndarray, "S 3"] | None = None,
    source: str = "<structures>",
) -> None:
    """Refuse the first structure outside the bounds of this module.

    Raises:
      DataError: naming ``source``, the structure (and atoms) and the value.
    """
    positions = np.asarray(positions, dtype=np.float64)
    mask = np.asarray(atom_mask, dtype=bool)
    empty = np.flatnonzero(~mask.any(axis=1)) if mask.ndim == 2 else np.array([0])
    if empty.size:
        raise DataError(f"{source}: structure {int(empty[0])} has no atoms; expected at least one")
    real = np.where(mask[..., None], positions, 0.0)
    if not np.isfinite(real).all():
        structure = int(np.flatnonzero(~np.isfinite(real).all(axis=(1, 2)))[0])
        raise DataError(
            f"{source}: structure {structure} has non-finite coordinates; expected finite "
            "positions in Å"
        )
    far = np.abs(real).max(axis=(1, 2)) > MAX_COORDINATE_A
    if far.any():
        structure = int(np.flatnonzero(far)[0])
        raise DataError(
            f"{source}: structure {structure} has a coordinate of "
            f"{np.abs(real[structure]).max():.3g} Å; expected coordinates within "
            f"{MAX_COORDINATE_A:g} Å of the origin"
        )
    if cell is not None and pbc is not None:
        for structure, (vectors, periodic) in enumerate(zip(np.asarray(cell), np.asarray(pbc))):
            if not periodic.any():
                continue
            widths = _cell_widths(vectors, periodic)
            if widths.min() < MIN_CELL_WIDTH_A:
                raise DataError(
                    f"{source}: structure {structure} is a periodic cell {widths.min():.3g} Å "
                    f"wide (lattice vectors {vectors.tolist()}); expected at least "
                    f"{MIN_CELL_WIDTH_A:g} Å across every periodic direction"
                )
    for structure in range(positions.shape[0]):
        atoms = positions[structure][mask[structure]]
        if len(atoms) < 2:
            continue
        pairs = cKDTree(atoms).query_pairs(MIN_DISTANCE_A, output_type="ndarray")
        distances = np.linalg.norm(atoms[pairs[:, 0]] - atoms[pairs[:, 1]], axis=1)
        close = np.flatnonzero(distances < MIN_DISTANCE_A)  # the tree's search includes the bound
        if close.size:
            first, second = (int(index) for index in sorted(pairs[close[0]]))
            distance = float(distances[close[0]])
            raise DataError(
                f"{source}: structure {structure}: atoms {first} and {second} are "
                f"{distance:.3g} Å apart; expected atoms at least {MIN_DISTANCE_A:g} Å apart"
            )
