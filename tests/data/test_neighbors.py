"""Cell-list neighbour search against brute force."""

import numpy as np
import pytest

from efa.data.neighbors import neighbor_pairs


def brute_force(positions, cutoff):
    difference = positions[None, :, :] - positions[:, None, :]
    distance2 = np.sum(difference**2, axis=-1)
    dst, src = np.nonzero((distance2 < cutoff * cutoff) & ~np.eye(len(positions), dtype=bool))
    return dst, src


def assert_same_pairs(positions, cutoff, **options):
    dst, src = neighbor_pairs(positions, cutoff, **options)
    expected_dst, expected_src = brute_force(np.asarray(positions, np.float64), cutoff)
    np.testing.assert_array_equal(dst, expected_dst)
    np.testing.assert_array_equal(src, expected_src)
    return dst


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("cutoff", [0.7, 2.0, 5.0, 50.0])
def test_random_systems_match_brute_force(seed, cutoff):
    rng = np.random.default_rng(seed)
    num_atoms = int(rng.integers(2, 300))
    positions = rng.uniform(-6.0, 9.0, size=(num_atoms, 3)) * rng.uniform(0.2, 2.0, size=3)
    assert_same_pairs(positions, cutoff)


def test_small_chunks_give_the_same_pairs():
    positions = np.random.default_rng(7).uniform(0, 10, size=(200, 3))
    assert_same_pairs(positions, 2.5, max_candidates=7)


def test_atoms_exactly_at_the_cutoff_are_not_neighbours():
    grid = np.stack(np.meshgrid(*[np.arange(4.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    positions = 5.0 * grid  # nearest neighbours exactly 5 Å apart, cell boundaries on atoms
    dst = assert_same_pairs(positions, 5.0)
    assert dst.size == 0
    dst = assert_same_pairs(positions, 5.0 + 1e-9)
    assert dst.size == 2 * 3 * 4 * 4 * 3  # bonds along x, y and z, both directions


def test_empty_cells_between_distant_clusters():
    rng = np.random.default_rng(3)
    cluster = rng.uniform(0, 1.5, size=(20, 3))
    positions = np.concatenate([cluster, cluster + [40.0, 0, 0], cluster + [0, 0, -35.0]])
    dst = assert_same_pairs(positions, 2.0)
    assert dst.size > 0


def test_segments_pair_only_atoms_of_the_same_segment():
    rng = np.random.default_rng(11)
    positions = rng.uniform(0, 4.0, size=(90, 3))  # segments overlap in space
    segment_ids = rng.integers(0, 4, size=90)
    dst, src = neighbor_pairs(positions, 2.0, segment_ids=segment_ids)
    same = segment_ids[:, None] == segment_ids[None, :]
    distance2 = np.sum((positions[None, :, :] - positions[:, None, :]) ** 2, axis=-1)
    expected_dst, expected_src = np.nonzero((distance2 < 4.0) & same & ~np.eye(90, dtype=bool))
    np.testing.assert_array_equal(dst, expected_dst)
    np.testing.assert_array_equal(src, expected_src)


def test_far_apart_atoms_need_no_dense_grid():
    # 10⁶ Å apart at a 1 Å cutoff: a dense grid of cells would have ~10¹⁸ entries.
    positions = np.array([[0.0, 0, 0], [0.5, 0, 0], [1e6, 1e6, 1e6], [1e6, 1e6, 1e6 + 0.9]])
    dst = assert_same_pairs(positions, 1.0)
    assert dst.tolist() == [0, 1, 2, 3]


def test_degenerate_inputs():
    assert all(a.size == 0 for a in neighbor_pairs(np.zeros((1, 3)), 3.0))
    assert all(a.size == 0 for a in neighbor_pairs(np.zeros((0, 3)), 3.0))
    assert_same_pairs(np.zeros((3, 3)), 1.0)  # coincident atoms are neighbours of each other


@pytest.mark.parametrize(
    "positions, cutoff, message",
    [
        (np.zeros((4, 2)), 1.0, "shape"),
        (np.zeros((4, 3)), 0.0, "cutoff"),
        (np.array([[0.0, 0, 0], [np.nan, 0, 0]]), 1.0, "NaN"),
    ],
)
def test_bad_input_is_named(positions, cutoff, message):
    with pytest.raises(ValueError, match=message):
        neighbor_pairs(positions, cutoff)


@pytest.mark.parametrize("segment_ids", [np.zeros(3, int), np.array([0, -1, 0, 1])])
def test_bad_segment_ids_are_named(segment_ids):
    with pytest.raises(ValueError, match="segment_ids"):
        neighbor_pairs(np.zeros((4, 3)), 1.0, segment_ids=segment_ids)
