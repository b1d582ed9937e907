"""Probe geometries: pulling two fragments apart and reading scan coordinates off structures.

All lengths in Å, angles in degrees. Positions are ``(A, 3)`` for one structure or ``(S, A, 3)``
for a scan.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jaxtyping import Bool, Float, Int

from efa.errors import ConfigError

#: Largest C–H distance (Å) counted as a bond when locating terminal CH₂ groups.
CH_BOND_MAX = 1.3


def fragment_mask(num_atoms: int, fragment: Sequence[int], source: str = "fragment") -> np.ndarray:
    """Bool ``(num_atoms,)``: True for the atoms of ``fragment`` (indices into the structure).

    Raises :class:`ConfigError` if an index is out of range or a fragment is empty or everything.
    """
    indices = np.asarray(list(fragment), dtype=np.int64)
    if indices.size == 0 or indices.min() < 0 or indices.max() >= num_atoms:
        raise ConfigError(f"{source}={list(fragment)}: expected atom indices in 0..{num_atoms - 1}")
    mask = np.zeros(num_atoms, bool)
    mask[indices] = True
    if mask.all():
        raise ConfigError(
            f"{source}={list(fragment)}: contains every atom; expected a proper subset"
        )
    return mask


def fragment_gap(
    positions: Float[np.ndarray, "S A 3"], moving: Bool[np.ndarray, " A"]
) -> Float[np.ndarray, " S"]:
    """Smallest distance between an atom of the ``moving`` fragment and one of the rest."""
    difference = positions[:, moving, None, :] - positions[:, None, ~moving, :]
    return np.linalg.norm(difference, axis=-1).min(axis=(1, 2))


def isolation_distance(
    positions: Float[np.ndarray, "S A 3"], atom_mask: Bool[np.ndarray, "S A"]
) -> Float[np.ndarray, " S"]:
    """``max_i min_{j≠i} r_ij``: how far the most isolated real atom is from its nearest neighbour.

    For two atoms this is their distance; for an ion leaving a molecule (SN2) it is the distance of
    the ion to the closest atom.
    """
    difference = positions[:, :, None, :] - positions[:, None, :, :]
    distance = np.linalg.norm(difference, axis=-1)
    real_pair = atom_mask[:, :, None] & atom_mask[:, None, :]
    distance = np.where(real_pair & ~np.eye(positions.shape[1], dtype=bool), distance, np.inf)
    nearest = distance.min(axis=2)
    return np.where(atom_mask, nearest, -np.inf).max(axis=1)


def pull_apart(
    positions: Float[np.ndarray, "A 3"],
    moving: Bool[np.ndarray, " A"],
    gaps: Float[np.ndarray, " P"],
) -> Float[np.ndarray, "P A 3"]:
    """Rigidly translate the ``moving`` fragment away from the rest until their gap is ``gaps[k]``.

    The direction is that from the centroid of the rest to the centroid of the moving fragment,
    ``û``; point ``k`` translates the fragment by ``t_k û`` with ``t_k`` chosen so that
    :func:`fragment_gap` equals ``gaps[k]`` (found by bisection, to 1e-10 Å) on the branch where
    the fragments' projections on ``û`` do not overlap. Both fragments keep
    their internal geometry exactly.
    """
    direction = positions[moving].mean(axis=0) - positions[~moving].mean(axis=0)
    norm = np.linalg.norm(direction)
    if norm < 1e-8:
        raise ConfigError(
            "pull_apart: the two fragments share their centroid; no direction to pull"
        )
    direction = direction / norm
    gaps = np.asarray(gaps, dtype=np.float64)

    def gap_at(shift: np.ndarray) -> np.ndarray:
        moved = np.broadcast_to(positions, (shift.size, *positions.shape)).copy()
        moved[:, moving] += shift[:, None, None] * direction
        return fragment_gap(moved, moving)

    # From t₀ on (the fragments' projections on û no longer overlap) every inter-fragment
    # distance |d + t û| with d·û ≥ 0 grows with t, and gap(t₀ + s) ≥ s: bisect on [t₀, t₀ + g + 1].
    projection = positions @ direction
    start = projection[~moving].max() - projection[moving].min()
    closest = gap_at(np.array([start]))[0]
    if gaps.min() < closest - 1e-9:
        raise ConfigError(
            f"pull_apart: gap {gaps.min():.3g} Å is below {closest:.3g} Å, the smallest gap of "
            "fragments pulled along the line of their centroids; expected larger gaps"
        )
    low = np.full(gaps.size, start)
    high = np.full(gaps.size, start + gaps.max() + 1.0)
    for _ in range(200):
        middle = 0.5 * (low + high)
        below = gap_at(middle) < gaps
        low, high = np.where(below, middle, low), np.where(below, high, middle)
        if np.max(high - low) < 1e-10:
            break
    shift = 0.5 * (low + high)
    moved = np.broadcast_to(positions, (gaps.size, *positions.shape)).copy()
    moved[:, moving] += shift[:, None, None] * direction
    return moved


def terminal_torsion_deg(
    positions: Float[np.ndarray, "S A 3"], atomic_numbers: Int[np.ndarray, "S A"]
) -> Float[np.ndarray, " S"]:
    """Angle in [0°, 90°] between the planes of the two terminal CH₂ groups of a cumulene.

    The terminal carbons are the two carbons with two hydrogens within :data:`CH_BOND_MAX`. With
    the chain axis ``a`` between them and ``h₁``, ``h₂`` the H–H vectors of the two groups
    projected onto the plane normal to ``a``, the angle is ``arccos |ĥ₁·ĥ₂|``.
    """
    angles = np.zeros(positions.shape[0])
    for index, (r, z) in enumerate(zip(positions, atomic_numbers)):
        carbons, hydrogens = np.flatnonzero(z == 6), np.flatnonzero(z == 1)
        bonded = np.linalg.norm(r[carbons, None] - r[None, hydrogens], axis=-1) < CH_BOND_MAX
        ends = carbons[bonded.sum(axis=1) == 2]
        if ends.size != 2:
            raise ConfigError(
                f"structure {index}: found {ends.size} carbons bonded to two hydrogens; expected "
                "a cumulene H2C=...=CH2 with exactly two terminal CH2 groups"
            )
        axis = r[ends[1]] - r[ends[0]]
        axis /= np.linalg.norm(axis)
        planes = []
        for row in np.flatnonzero(bonded.sum(axis=1) == 2):
            h1, h2 = r[hydrogens[bonded[row]]]
            vector = (h1 - h2) - np.dot(h1 - h2, axis) * axis
            planes.append(vector / np.linalg.norm(vector))
        angles[index] = np.degrees(np.arccos(np.clip(abs(np.dot(*planes)), 0.0, 1.0)))
    return angles
