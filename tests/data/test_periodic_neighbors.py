"""Periodic neighbour lists (vesin) against a brute-force search over images."""

import itertools

import numpy as np
import pytest

from efa.data.neighbors import periodic_neighbor_pairs


def brute_force(positions, cell, pbc, cutoff, images=4):
    """Every (dst, src, n) with ``|r_src + n·cell − r_dst| < cutoff``, n over ±images."""
    found = set()
    ranges = [range(-images, images + 1) if p else range(1) for p in pbc]
    for n in itertools.product(*ranges):
        shift = np.asarray(n) @ cell
        for dst, src in itertools.product(range(len(positions)), repeat=2):
            if dst == src and not any(n):
                continue
            if np.sum((positions[src] + shift - positions[dst]) ** 2) < cutoff**2:
                found.add((dst, src, n))
    return found


@pytest.mark.parametrize(
    "pbc, scale",
    [([True] * 3, 6.0), ([True, True, False], 6.0), ([True] * 3, 2.5)],
    ids=["bulk", "slab", "cell-smaller-than-cutoff"],
)
def test_pairs_with_images_equal_brute_force(pbc, scale):
    rng = np.random.default_rng(0)
    cell = scale * (np.eye(3) + rng.normal(scale=0.1, size=(3, 3)))
    positions = rng.uniform(-0.2, 1.2, (7, 3)) @ cell  # some atoms outside the cell
    cutoff = 4.0
    dst, src, shift = periodic_neighbor_pairs(positions, cell, np.array(pbc), cutoff)
    lattice = np.rint(shift @ np.linalg.inv(cell)).astype(int)
    np.testing.assert_allclose(lattice @ cell, shift, atol=1e-9)
    found = {(int(d), int(s), tuple(int(x) for x in n)) for d, s, n in zip(dst, src, lattice)}
    assert len(found) == len(dst)
    assert found == brute_force(positions, cell, pbc, cutoff)
