"""Padded bucketed batches: layout, neighbour lists and deterministic order."""

import functools
import itertools

import numpy as np
import pytest

import efa.data.batching
import efa.data.pairs
from efa.data.batching import Batcher
from efa.data.packing import BucketShape, pack, split_batch
from efa.data.pairs import count_pairs
from efa.data.structures import Structures


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
    monkeypatch.setattr(efa.data.pairs, "_PAIR_COUNT_CHUNK", 1)  # one structure per chunk
    assert count_pairs(structures.select([0, 0]), cutoff).tolist() == [dst.size] * 2
    batch = pack(structures, BucketShape(num_atoms + 2, dst.size + 5), 2, cutoff)
    np.testing.assert_array_equal(batch.pair_dst[: dst.size], dst)
    np.testing.assert_array_equal(batch.pair_src[: dst.size], src)
    assert batch.pair_mask.sum() == dst.size and not batch.pair_mask[dst.size :].any()


def test_batcher_packs_the_pairs_of_each_device_together():
    """Pair groups of B/D slots: each group's pairs first, then at most one capacity step of
    padding; the same pairs as one group per structure; split parts stay inside their group."""
    structures = mixed_structures(count=37, seed=3)
    batcher = Batcher(structures, batch_size=8, cutoff=2.5, num_buckets=1, slot_multiple=2)
    largest = batcher.shapes[0].max_pairs
    step = -(-4 * largest // efa.data.batching.PAIR_CAPACITY_STEPS)
    for members, batch in batcher.ordered_batches():
        groups, capacity = batcher.pair_groups(0, members)
        assert groups == 2 and capacity % step == 0
        assert capacity <= efa.data.batching.PAIR_CAPACITY_STEPS * step  # ≤ K shapes
        assert batch.pair_dst.shape == (2 * capacity,)
        per_structure = pack(structures.select(members), batcher.shapes[0], 8, 2.5)
        real = per_structure.pair_mask
        counts = [int(batch.pair_mask[g * capacity : (g + 1) * capacity].sum()) for g in range(2)]
        assert capacity - max(counts) < step or max(counts) == 0 and capacity == step
        for group in range(2):
            mask = batch.pair_mask[group * capacity : (group + 1) * capacity]
            count = int(mask.sum())
            assert mask[:count].all() and not mask[count:].any()  # pairs first
            in_group = real & (per_structure.pair_dst // (4 * batch.max_structure_size) == group)
            packed = slice(group * capacity, group * capacity + count)
            np.testing.assert_array_equal(batch.pair_dst[packed], per_structure.pair_dst[in_group])
            np.testing.assert_array_equal(batch.pair_src[packed], per_structure.pair_src[in_group])
        parts = split_batch(batch, 2)
        assert parts.pair_dst.min() >= 0 and parts.pair_dst.max() < 4 * batch.max_structure_size
    one_group = pack(
        structures.select(np.arange(8)), batcher.shapes[0], 8, 2.5, pair_groups=(1, 8 * largest)
    )
    with pytest.raises(ValueError, match="packed in fewer pair groups"):
        split_batch(one_group, 2)
    odd = pack(
        structures.select(np.arange(8)), batcher.shapes[0], 8, 2.5, pair_groups=(1, 8 * largest + 1)
    )
    with pytest.raises(ValueError, match=f"{8 * largest + 1} pair slots into 2 parts"):
        split_batch(odd, 2)
    with pytest.raises(ValueError, match="a group of 8 structures has more than 3 neighbour"):
        pack(structures.select(np.arange(8)), batcher.shapes[0], 8, 2.5, pair_groups=(1, 3))


def test_packed_pairs_give_the_energies_and_forces_of_padded_ones():
    """The pair layout is padding only: a degree-1 model gives the same energies and forces
    (float64) with one group per structure and with all pairs packed in one group."""
    import jax

    from efa.models import build_model
    from efa.train.objective import predict

    structures = mixed_structures(count=6, seed=1)
    shape = BucketShape(9, 72)
    padded = pack(structures, shape, 6, 2.5, dtype=np.float64)
    packed = pack(structures, shape, 6, 2.5, dtype=np.float64, pair_groups=(1, 80))
    assert packed.pair_mask.sum() == padded.pair_mask.sum() < padded.pair_mask.size
    model = build_model(
        "local", {"features": 8, "num_iterations": 1, "max_degree": 1, "num_basis": 4}
    )
    with jax.enable_x64(True):
        params = jax.jit(model.init)(jax.random.PRNGKey(0), padded)  # eager e3x: op by op
        params = jax.tree.map(lambda p: np.asarray(p, np.float64), params)
        zero = np.zeros(119)
        compiled = jax.jit(functools.partial(predict, model))
        a, b = compiled(params, padded, zero), compiled(params, packed, zero)
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(a.forces, b.forces, rtol=1e-12, atol=1e-13)
    assert np.abs(a.forces).max() > 1e-6  # a test of something
