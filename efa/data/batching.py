"""The batcher: a split cut into size buckets and fixed-shape batches, in a reproducible order.

JAX compiles one program per array shape, so batches have static shapes: ``B`` structure slots,
each padded to ``n`` atom slots, and ``P`` neighbour-pair slots. Structures are sorted into a few
*size buckets* by atom count; every bucket has its own ``n``, so a data set of mixed sizes costs
one compilation per bucket (and pair capacity) rather than one per batch.

A batch's layout is :mod:`efa.data.packing`.

Training batches follow a deterministic order: epoch ``e`` shuffles every bucket with a generator
seeded by ``(seed, e)``, cuts it into batches and shuffles the batch order, so the batch of any
step is a pure function of ``(seed, step)`` — which makes resuming a killed run exact.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from efa.data.packing import Batch, BucketShape, pack
from efa.data.pairs import count_pairs, count_reciprocal
from efa.data.structures import Structures
from efa.errors import ConfigError

#: A pair group's capacity is a multiple of ``⌈c_max / PAIR_CAPACITY_STEPS⌉``, ``c_max`` the
#: capacity that the largest pair count of its bucket needs in every slot of the group (so a
#: bucket has at most this many pair capacities, each compiled once). Fewer steps mean fewer
#: compilations and more padding pairs (docs/results.md, "Compilation": what each costs, and
#: that a step compiled for another number of pair slots may round its sums differently).
PAIR_CAPACITY_STEPS = 4


class Batcher:
    """Cuts a set of structures into padded, bucketed batches.

    Args:
      structures: the structures of one split.
      batch_size: structures per batch (the structure slots ``B``, see ``slot_multiple``).
      cutoff: neighbour-list cutoff (Å).
      num_buckets: largest number of size buckets. Structures are sorted by atom count and
        split at quantiles of it; each bucket pads to its largest structure.
      dtype: floating point type of the batches.
      reciprocal_cutoff: for periodic cells, the model's reciprocal cutoff (1/Å; None: no
        reciprocal vectors, e.g. for a local model).
      mesh_spacing: for periodic cells, the model's mesh spacing (Å; None: no mesh).
      slot_multiple: batches get ``B = ⌈batch_size / slot_multiple⌉ · slot_multiple`` structure
        slots, so that data-parallel training on ``slot_multiple`` devices can give every device
        the same number of whole slots (:mod:`efa.train.sharding`). A batch still holds at most
        ``batch_size`` structures; the extra slots stay empty. The pairs of each device's
        slots are packed together (``slot_multiple`` pair groups, module docstring).
    """

    def __init__(
        self,
        structures: Structures,
        batch_size: int,
        cutoff: float,
        num_buckets: int = 3,
        dtype=np.float32,
        slot_multiple: int = 1,
        reciprocal_cutoff: float | None = None,
        mesh_spacing: float | None = None,
    ):
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size}: expected a positive number")
        if len(structures.energy) == 0:
            raise ConfigError("cannot batch an empty split (0 structures)")
        self.structures = structures
        self.batch_size = batch_size
        self.num_slots = -(-batch_size // slot_multiple) * slot_multiple
        self.cutoff = cutoff
        self.dtype = dtype
        periodic = structures.periodic.any()
        self.reciprocal_cutoff = reciprocal_cutoff if periodic else None
        self.mesh_spacing = mesh_spacing if periodic else None
        self.slot_multiple = slot_multiple
        num_atoms = structures.num_atoms
        self.num_pairs = num_pairs = count_pairs(structures, cutoff)
        num_reciprocal = (
            count_reciprocal(structures, self.reciprocal_cutoff)
            if self.reciprocal_cutoff is not None
            else np.zeros(len(num_atoms), np.int64)
        )
        sizes = np.unique(num_atoms)
        quantiles = np.linspace(0, 1, min(num_buckets, sizes.size) + 1)[1:]
        edges = np.unique(np.quantile(sizes, quantiles, method="higher"))
        bucket_of = np.searchsorted(edges, num_atoms)
        self.buckets: list[np.ndarray] = []
        self.shapes: list[BucketShape] = []
        for bucket in range(edges.size):
            members = np.flatnonzero(bucket_of == bucket)
            if members.size:
                self.buckets.append(members)
                max_pairs = max(1, int(num_pairs[members].max()))
                self.shapes.append(
                    BucketShape(
                        int(num_atoms[members].max()),
                        max_pairs,
                        int(num_reciprocal[members].max()),
                    )
                )

    @property
    def batches_per_epoch(self) -> int:
        """Batches in one pass over all structures."""
        return sum(-(-members.size // self.batch_size) for members in self.buckets)

    def pair_groups(self, bucket: int, members: np.ndarray) -> tuple[int, int]:
        """``(g, c)`` of the batch of ``members`` (:func:`pack`): one pair group per device,
        each with room for its structures' pairs rounded up to a step of
        ``⌈(B/g)·p / PAIR_CAPACITY_STEPS⌉`` (``p``: the bucket's largest pair count)."""
        groups = self.slot_multiple
        group_slots = self.num_slots // groups
        step = -(-group_slots * self.shapes[bucket].max_pairs // PAIR_CAPACITY_STEPS)
        group_of = np.arange(members.size) // group_slots
        largest = np.bincount(group_of, self.num_pairs[members], minlength=groups).max()
        return groups, max(1, -(-int(largest) // step)) * step

    def _batch(self, bucket: int, members: np.ndarray) -> Batch:
        return pack(
            self.structures.select(members),
            self.shapes[bucket],
            self.num_slots,
            self.cutoff,
            self.dtype,
            self.reciprocal_cutoff,
            self.mesh_spacing,
            self.pair_groups(bucket, members),
        )

    def _epoch_plan(self, seed: int, epoch: int) -> list[tuple[int, np.ndarray]]:
        """``(bucket, structure indices)`` of every batch of ``epoch``, in shuffled order."""
        rng = np.random.default_rng([seed, epoch])
        plan = []
        for bucket, members in enumerate(self.buckets):
            shuffled = rng.permutation(members)
            plan += [
                (bucket, shuffled[start : start + self.batch_size])
                for start in range(0, shuffled.size, self.batch_size)
            ]
        return [plan[i] for i in rng.permutation(len(plan))]

    def training_batches(self, seed: int, first_step: int = 0) -> Iterator[Batch]:
        """Endless shuffled batches; the ``k``-th one is the batch of step ``first_step + k``."""
        per_epoch = self.batches_per_epoch
        epoch, position = divmod(first_step, per_epoch)
        while True:
            for bucket, members in self._epoch_plan(seed, epoch)[position:]:
                yield self._batch(bucket, members)
            epoch, position = epoch + 1, 0

    def ordered_batches(self) -> Iterator[tuple[np.ndarray, Batch]]:
        """Every structure once, in a fixed order: ``(structure indices, batch)`` pairs."""
        for bucket, members in enumerate(self.buckets):
            for start in range(0, members.size, self.batch_size):
                chunk = members[start : start + self.batch_size]
                yield chunk, self._batch(bucket, chunk)
