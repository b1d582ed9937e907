"""Random geometry helpers shared by the generators (all lengths in Å, all angles in radians)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from efa.errors import DataError


def random_unit_vectors(rng: np.random.Generator, num: int) -> np.ndarray:
    """(num, 3) directions uniform on the unit sphere (normalised Gaussian vectors)."""
    vectors = rng.normal(size=(num, 3))
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def random_in_ball(rng: np.random.Generator, num: int, radius: float) -> np.ndarray:
    """(num, 3) points uniform in a ball of ``radius`` around the origin."""
    radii = radius * rng.random(num) ** (1 / 3)
    return random_unit_vectors(rng, num) * radii[:, None]


def random_ball_packing(
    rng: np.random.Generator,
    num_atoms: int,
    radius: float,
    min_distance: float,
    max_rounds: int = 50,
) -> np.ndarray:
    """(num_atoms, 3) points uniform in a ball of ``radius``, all pair distances > ``min_distance``.

    Random sequential addition: uniform proposals are taken in order and each is kept unless it
    lies within ``min_distance`` of a point kept before it. Conflicts are found in bulk with a
    k-d tree; proposals are drawn in rounds until ``num_atoms`` points are kept. Raises
    :class:`DataError` if that fails within ``max_rounds`` (the packing is too dense).
    """
    points = np.empty((0, 3))
    for _ in range(max_rounds):
        candidates = np.concatenate(
            [points, random_in_ball(rng, max(64, 4 * (num_atoms - len(points))), radius)]
        )
        pairs = cKDTree(candidates).query_pairs(min_distance, output_type="ndarray")
        later, earlier = pairs.max(axis=1), pairs.min(axis=1)
        order = np.argsort(later, kind="stable")
        earlier = earlier[order]
        bounds = np.searchsorted(later[order], np.arange(len(candidates) + 1))
        kept = np.zeros(len(candidates), dtype=bool)
        kept[: len(points)] = True
        count = len(points)
        for index in range(len(points), len(candidates)):
            if count == num_atoms:
                break
            if not kept[earlier[bounds[index] : bounds[index + 1]]].any():
                kept[index] = True
                count += 1
        points = candidates[kept]
        if count == num_atoms:
            return points
    raise DataError(
        f"random packing: placed only {len(points)} of {num_atoms} atoms in a ball of radius "
        f"{radius} Å with min_distance {min_distance} Å; expected a less dense packing"
    )


def rattle(rng: np.random.Generator, positions: np.ndarray, stddev: float) -> np.ndarray:
    """Positions plus independent Gaussian displacements of standard deviation ``stddev`` (Å)."""
    return positions + stddev * rng.normal(size=positions.shape)
