"""Padded bucketed batches: layout, neighbour lists and deterministic order."""

import itertools

import numpy as np

import efa.data.batching
from efa.data.batching import Batcher, BucketShape, Structures, count_pairs, pack


def mixed_structures(count=40, seed=0):
    """Structures of 2–9 atoms in a 4 Å box."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 10, count)
    positions = rng.uniform(0, 4.0, (count, 9, 3))
    mask = np.arange(9) < sizes[:, None]
    numbers = np.where(mask, 1, 0).astype(np.int32)
    return Structures(
        positions,
        numbers,
        mask,
        rng.normal(size=count),
        np.zeros((count, 9, 3)),
        np.zeros(count, np.int32),
    )


def test_layout_and_neighbour_lists():
    structures = mixed_structures()
    batcher = Batcher(structures, batch_size=8, cutoff=2.5, num_buckets=3)
    assert 1 < len(batcher.buckets) <= 3
    seen = []
    for members, batch in batcher.ordered_batches():
        slots, n = batch.num_structures, batch.max_structure_size
        seen += list(members)
        assert batch.atomic_numbers.shape == (slots * n,)
        # padding atoms live in segment B
        assert np.all((batch.segment_ids == slots) == ~batch.atom_mask)
        # every real pair is within the cutoff and inside one structure
        dst, src = batch.pair_dst[batch.pair_mask], batch.pair_src[batch.pair_mask]
        assert np.all(dst // n == src // n) and np.all(dst != src)
        distance = np.linalg.norm(batch.positions[dst] - batch.positions[src], axis=1)
        assert np.all(distance < 2.5)
        # and the list is complete: as many pairs as a brute-force count
        for slot, index in enumerate(members):
            p = structures.positions[index][structures.atom_mask[index]]
            d = np.linalg.norm(p[:, None] - p[None], axis=-1)
            expected = np.sum((d < 2.5) & ~np.eye(len(p), dtype=bool))
            assert np.sum(dst // n == slot) == expected
        reference = structures.energy[members]
        np.testing.assert_allclose(batch.energy[: members.size], reference, rtol=1e-6)
    assert sorted(seen) == list(range(40))


def test_training_order_is_a_function_of_seed_and_step():
    batcher = Batcher(mixed_structures(), batch_size=8, cutoff=2.5)
    per_epoch = batcher.batches_per_epoch
    first = list(itertools.islice(batcher.training_batches(seed=3), 2 * per_epoch))
    again = list(itertools.islice(batcher.training_batches(seed=3), 2 * per_epoch))
    resumed = list(itertools.islice(batcher.training_batches(seed=3, first_step=per_epoch - 1), 3))
    other = next(batcher.training_batches(seed=4))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
    for a, b in zip(first[per_epoch - 1 :], resumed, strict=False):
        np.testing.assert_array_equal(a.positions, b.positions)
    assert not (
        first[0].positions.shape == other.positions.shape
        and np.array_equal(first[0].positions, other.positions)
    )
    # one epoch visits every structure once
    energies = np.concatenate([b.energy[b.structure_mask] for b in first[:per_epoch]])
    assert energies.size == 40


def test_one_large_structure_matches_brute_force(monkeypatch):
    """3000 atoms at 0.1 Å⁻³: pairs sorted by (dst, src), as the dense O(n²) search gives."""
    rng = np.random.default_rng(5)
    num_atoms, cutoff = 3000, 5.0
    positions = rng.uniform(0, (num_atoms / 0.1) ** (1 / 3), (1, num_atoms + 2, 3))
    mask = np.arange(num_atoms + 2) < num_atoms  # two padding slots
    structures = Structures(
        positions,
        mask.astype(np.int32)[None],
        mask[None],
        np.zeros(1),
        np.zeros((1, num_atoms + 2, 3)),
        np.zeros(1, np.int32),
    )
    real = positions[0, :num_atoms]
    distance2 = np.sum((real[None] - real[:, None]) ** 2, axis=-1)
    dst, src = np.nonzero((distance2 < cutoff**2) & ~np.eye(num_atoms, dtype=bool))
    monkeypatch.setattr(efa.data.batching, "_PAIR_COUNT_CHUNK", 1)  # one structure per chunk
    assert count_pairs(structures.select([0, 0]), cutoff).tolist() == [dst.size] * 2
    batch = pack(structures, BucketShape(num_atoms + 2, dst.size + 5), 2, cutoff)
    np.testing.assert_array_equal(batch.pair_dst[: dst.size], dst)
    np.testing.assert_array_equal(batch.pair_src[: dst.size], src)
    assert batch.pair_mask.sum() == dst.size and not batch.pair_mask[dst.size :].any()
