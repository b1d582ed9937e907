"""Fixed-shape padded batches of atomic structures with per-structure neighbour lists.

JAX compiles one program per array shape, so batches have static shapes: ``B`` structure slots,
each padded to ``n`` atom slots, and ``P`` neighbour-pair slots. Structures are sorted into a few
*size buckets* by atom count; every bucket has its own ``n``, so a data set of mixed sizes costs
one compilation per bucket (and pair capacity) rather than one per batch.

Flat layout of a :class:`Batch` (``N = B·n`` atoms, ``P`` pairs):

- atom ``a`` of structure slot ``b`` sits at index ``b·n + a``;
- padding atoms have atomic number 0, ``atom_mask`` False and ``segment_ids == B`` — a segment
  of their own, so that per-structure sums (energies, EFA key–value sums) never see them;
- pairs ``(dst, src)`` are the ordered atom pairs of one structure with ``0 < |r_src − r_dst| <
  cutoff``, sorted by ``dst`` then ``src`` and found with cell lists in O(atoms), so one
  structure may have millions of atoms;
- the structure slots form ``g`` *pair groups* of ``B/g`` consecutive slots, and group ``k``
  owns the pair slots ``k·c … (k+1)·c − 1`` (``P = g·c``): its structures' pairs first, then
  padding pairs, which point from the group's first atom to itself and have ``pair_mask``
  False. One group per slot (``c`` = the bucket's largest pair count, the default of
  :func:`pack`) pads every structure to the largest; the :class:`Batcher` packs the pairs of
  each group of ``B/D`` slots (``D``: devices) together instead, with ``c`` rounded up to a
  multiple of ``⌈(B/D)·p / PAIR_CAPACITY_STEPS⌉`` (``p``: the bucket's largest pair count), so that
  structures with few neighbours leave no padding behind them and a bucket has at most
  :data:`PAIR_CAPACITY_STEPS` shapes;
- structure slots not filled by a structure (the last batch of a split) have
  ``structure_mask`` False and only padding atoms;
- ``atomic_dipoles`` are per-atom input vectors (the data set variable ``dipoles``), zero when
  the data set has none;
- a batch of periodic cells (all its structures periodic) also has ``cell (B, 3, 3)``,
  ``pair_shift (P, 3)``, the lattice vector by which a pair's source is displaced
  (``r_src + shift − r_dst``, images included, :func:`efa.data.neighbors.periodic_neighbor_pairs`),
  and, when a reciprocal cutoff is given, the integer coordinates ``reciprocal (B, G, 3)`` of
  each cell's reciprocal vectors with their multiplicities (0 on padding,
  :func:`efa.nn.periodic.reciprocal_indices`), or, when a mesh spacing is given instead, an
  empty array ``mesh (B, K₁, K₂, K₃, 0)`` whose static shape is the FFT mesh of the batch's
  cells (:func:`efa.nn.mesh.mesh_shape`, the largest over its cells). Non-periodic batches
  leave these None.

Training batches follow a deterministic order: epoch ``e`` shuffles every bucket with a generator
seeded by ``(seed, e)``, cuts it into batches and shuffles the batch order, so the batch of any
step is a pure function of ``(seed, step)`` — which makes resuming a killed run exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import xarray as xr
from jaxtyping import Bool, Float, Int

from efa.data.neighbors import neighbor_pairs
from efa.errors import ConfigError

#: Atom slots of the structures whose neighbour pairs are counted at once (bounds memory).
_PAIR_COUNT_CHUNK = 2**16
#: A pair group's capacity is a multiple of ``⌈c_max / PAIR_CAPACITY_STEPS⌉``, ``c_max`` the
#: capacity that the largest pair count of its bucket needs in every slot of the group (so a
#: bucket has at most this many pair capacities).
PAIR_CAPACITY_STEPS = 16


class Batch(NamedTuple):
    """A padded batch of ``B`` structures (see the module docstring for the layout).

    Model inputs are all fields but ``energy``, ``forces`` and ``stress``, the reference labels
    (zeros for padding; ``stress`` None unless the structures have stress labels).
    ``B = structure_mask.shape[0]`` and ``n = atom_mask.shape[0] // B`` are static.
    """

    atomic_numbers: Int[np.ndarray, " N"]
    positions: Float[np.ndarray, "N 3"]
    atom_mask: Bool[np.ndarray, " N"]
    segment_ids: Int[np.ndarray, " N"]
    structure_mask: Bool[np.ndarray, " B"]
    total_charge: Int[np.ndarray, " B"]
    pair_dst: Int[np.ndarray, " P"]
    pair_src: Int[np.ndarray, " P"]
    pair_mask: Bool[np.ndarray, " P"]
    energy: Float[np.ndarray, " B"]
    forces: Float[np.ndarray, "N 3"]
    atomic_dipoles: Float[np.ndarray, "N 3"] | None = None
    pair_shift: Float[np.ndarray, "P 3"] | None = None
    cell: Float[np.ndarray, "B 3 3"] | None = None
    reciprocal: Int[np.ndarray, "B G 3"] | None = None
    reciprocal_multiplicity: Float[np.ndarray, "B G"] | None = None
    stress: Float[np.ndarray, "B 3 3"] | None = None
    mesh: Int[np.ndarray, "B K1 K2 K3 0"] | None = None

    @property
    def num_structures(self) -> int:
        """Structure slots ``B`` (static)."""
        return self.structure_mask.shape[0]

    @property
    def max_structure_size(self) -> int:
        """Atom slots per structure ``n`` (static)."""
        return self.atom_mask.shape[0] // self.structure_mask.shape[0]


class Structures(NamedTuple):
    """Structures held in memory as numpy arrays in the canonical layout (``S`` structures).

    ``energy`` and ``forces`` may be zeros when labels are unknown (prediction only);
    ``atomic_dipoles`` is None when the data set has no ``dipoles`` input, ``stress`` (eV/Å³)
    when it has no stress labels.
    """

    positions: Float[np.ndarray, "S A 3"]
    atomic_numbers: Int[np.ndarray, "S A"]
    atom_mask: Bool[np.ndarray, "S A"]
    energy: Float[np.ndarray, " S"]
    forces: Float[np.ndarray, "S A 3"]
    total_charge: Int[np.ndarray, " S"]
    atomic_dipoles: Float[np.ndarray, "S A 3"] | None = None
    cell: Float[np.ndarray, "S 3 3"] | None = None
    pbc: Bool[np.ndarray, "S 3"] | None = None
    stress: Float[np.ndarray, "S 3 3"] | None = None

    @property
    def periodic(self) -> Bool[np.ndarray, " S"]:
        """True for the structures with any periodic direction."""
        if self.pbc is None:
            return np.zeros(len(self.energy), dtype=bool)
        return self.pbc.any(axis=1)

    @classmethod
    def from_dataset(cls, dataset: xr.Dataset) -> Structures:
        """Load the canonical variables of ``dataset`` (``total_charge`` defaults to 0).

        The optional per-atom input ``dipoles`` (structure, atom, xyz) becomes
        ``atomic_dipoles``; ``cell``, ``pbc`` and the ``stress`` label are kept for periodic
        structures.
        """
        missing = [
            name
            for name in ("positions", "atomic_numbers", "atom_mask", "energy", "forces")
            if name not in dataset
        ]
        if missing:
            raise ConfigError(
                f"dataset {dataset.attrs.get('name', '<unnamed>')!r} lacks the variables "
                f"{missing}; expected the canonical layout (docs/architecture.md)"
            )
        num_structures = dataset.sizes["structure"]
        charge = (
            dataset["total_charge"].values
            if "total_charge" in dataset
            else np.zeros(num_structures, np.int64)
        )
        return cls(
            positions=np.asarray(dataset["positions"].values, np.float64),
            atomic_numbers=np.asarray(dataset["atomic_numbers"].values, np.int32),
            atom_mask=np.asarray(dataset["atom_mask"].values, bool),
            energy=np.asarray(dataset["energy"].values, np.float64),
            forces=np.asarray(dataset["forces"].values, np.float64),
            total_charge=np.asarray(charge, np.int32),
            atomic_dipoles=(
                np.asarray(dataset["dipoles"].values, np.float64) if "dipoles" in dataset else None
            ),
            cell=np.asarray(dataset["cell"].values, np.float64) if "cell" in dataset else None,
            pbc=np.asarray(dataset["pbc"].values, bool) if "pbc" in dataset else None,
            stress=(
                np.asarray(dataset["stress"].values, np.float64) if "stress" in dataset else None
            ),
        )

    def select(self, indices: Sequence[int] | np.ndarray) -> Structures:
        """The structures at ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        return Structures(*(None if field is None else field[indices] for field in self))

    @property
    def num_atoms(self) -> Int[np.ndarray, " S"]:
        """Atoms per structure."""
        return self.atom_mask.sum(axis=1)


def structure_pairs(
    positions: Float[np.ndarray, "S A 3"], atom_mask: Bool[np.ndarray, "S A"], cutoff: float
) -> tuple[Int[np.ndarray, " P"], Int[np.ndarray, " P"]]:
    """Neighbour pairs of ``S`` structures as flat atom indices ``s·A + a`` (cell lists).

    Returns ``(dst, src)``: the ordered pairs of real atoms ``dst ≠ src`` of one structure with
    ``|r_src − r_dst| < cutoff``, sorted by ``dst`` then ``src`` (so grouped by structure).
    Cost and memory grow with the number of atoms and pairs, not with ``A²``
    (:func:`efa.data.neighbors.neighbor_pairs`).
    """
    num_atoms = atom_mask.shape[1]
    real = np.flatnonzero(atom_mask.reshape(-1))
    dst, src = neighbor_pairs(positions.reshape(-1, 3)[real], cutoff, segment_ids=real // num_atoms)
    return real[dst], real[src]


def periodic_structure_pairs(
    structures: Structures, cutoff: float
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(dst, src, shift)`` of every periodic structure (atom indices within the structure,
    images included; :func:`efa.data.neighbors.periodic_neighbor_pairs`)."""
    from efa.data.neighbors import periodic_neighbor_pairs

    pairs = []
    for index in range(len(structures.energy)):
        real = np.flatnonzero(structures.atom_mask[index])
        dst, src, shift = periodic_neighbor_pairs(
            structures.positions[index][real],
            structures.cell[index],
            structures.pbc[index],
            cutoff,
        )
        order = np.lexsort((src, dst))
        pairs.append((real[dst[order]], real[src[order]], shift[order]))
    return pairs


def count_pairs(structures: Structures, cutoff: float) -> Int[np.ndarray, " S"]:
    """Ordered neighbour pairs within ``cutoff`` per structure, in memory-bounded chunks
    (images included for periodic structures)."""
    if structures.periodic.any():
        return np.array([len(d) for d, _, _ in periodic_structure_pairs(structures, cutoff)])
    num_structures, num_atoms = structures.atom_mask.shape
    chunk = max(1, _PAIR_COUNT_CHUNK // max(1, num_atoms))
    counts = np.zeros(num_structures, np.int64)
    for start in range(0, num_structures, chunk):
        dst, _ = structure_pairs(
            structures.positions[start : start + chunk],
            structures.atom_mask[start : start + chunk],
            cutoff,
        )
        counts[start : start + chunk] = np.bincount(
            dst // num_atoms, minlength=min(chunk, num_structures - start)
        )
    return counts


class BucketShape(NamedTuple):
    """Padded sizes of one bucket: atom slots ``n``, the largest pair count ``p`` and (periodic
    cells) reciprocal-vector slots ``G`` per structure."""

    max_atoms: int
    max_pairs: int
    max_reciprocal: int = 0


def pack(
    structures: Structures,
    shape: BucketShape,
    num_structures: int,
    cutoff: float,
    dtype=np.float32,
    reciprocal_cutoff: float | None = None,
    mesh_spacing: float | None = None,
    pair_groups: tuple[int, int] | None = None,
) -> Batch:
    """Pack up to ``num_structures`` structures into one padded :class:`Batch`.

    Args:
      structures: at most ``num_structures`` structures with at most ``shape.max_atoms`` atoms
        each and at most ``shape.max_pairs`` pairs within ``cutoff`` each (without
        ``pair_groups``).
      shape: the bucket's padded sizes ``(n, p)``.
      num_structures: structure slots ``B``.
      cutoff: neighbour-list cutoff in Å.
      dtype: floating point type of positions, energies and forces.
      reciprocal_cutoff: for periodic cells, list the reciprocal vectors up to this norm
        (1/Å; at most ``shape.max_reciprocal`` per cell); None lists none.
      mesh_spacing: for periodic cells, add the FFT mesh of about this spacing (Å) instead.
      pair_groups: ``(g, c)``: ``g`` pair groups (a divisor of ``B``) of ``c`` pair slots each,
        the structures of a group holding at most ``c`` pairs together (module docstring).
        None: ``(B, p)``, every structure its own ``p`` pair slots.

    Returns:
      The batch; unused structure slots are masked out.

    Raises:
      ConfigError: the structures mix periodic cells and molecules.
      ValueError: more structures than slots, atoms beyond ``shape.max_atoms``, ``g`` not a
        divisor of ``B``, or more pairs in a structure (a group) than its pair slots.
    """
    count, atoms = structures.atom_mask.shape
    n, p = shape.max_atoms, shape.max_pairs
    if count > num_structures or structures.atom_mask[:, n:].any():
        raise ValueError(
            f"cannot pack {count} structures with atoms beyond slot {n} into {num_structures} "
            f"slots of {n} atoms (real atoms must come first in each structure)"
        )
    width = min(atoms, n)

    def padded(array, fill=0):
        out = np.full((num_structures, n) + array.shape[2:], fill, dtype=array.dtype)
        out[:count, :width] = array[:, :width]
        return out

    positions = padded(structures.positions)
    atom_mask = padded(structures.atom_mask, False)
    structure_mask = np.arange(num_structures) < count
    segment_ids = np.where(atom_mask, np.arange(num_structures)[:, None], num_structures)

    periodic = structures.periodic
    if periodic.any() and not periodic.all():
        raise ConfigError("a batch mixes periodic cells and molecules; expected one or the other")
    shift = None
    if periodic.any():
        found = periodic_structure_pairs(structures, cutoff)
        dst = np.concatenate([d + index * n for index, (d, _, _) in enumerate(found)])
        src = np.concatenate([s_ + index * n for index, (_, s_, _) in enumerate(found)])
        shift = np.concatenate([sh for _, _, sh in found]).reshape(-1, 3)
    else:
        dst, src = structure_pairs(positions, atom_mask, cutoff)
    groups, capacity = pair_groups or (num_structures, p)
    if num_structures % groups:
        raise ValueError(f"cannot cut {num_structures} structure slots into {groups} pair groups")
    group_slots = num_structures // groups
    group = dst // (group_slots * n)
    rank = np.arange(group.size) - np.searchsorted(group, group)
    if group.size and rank.max() >= capacity:
        owner = "a structure" if group_slots == 1 else f"a group of {group_slots} structures"
        raise ValueError(f"{owner} has more than {capacity} neighbour pairs")
    first_atoms = np.arange(groups) * group_slots * n
    pair_dst = np.repeat(first_atoms, capacity).reshape(groups, capacity)
    pair_src = pair_dst.copy()
    pair_mask = np.zeros((groups, capacity), bool)
    pair_dst[group, rank] = dst
    pair_src[group, rank] = src
    pair_mask[group, rank] = True
    cells = {}
    if shift is not None:
        cells = _periodic_fields(
            structures, shape, num_structures, reciprocal_cutoff, mesh_spacing, dtype
        )
        pair_shift = np.zeros((groups, capacity, 3), dtype)
        pair_shift[group, rank] = shift
        cells["pair_shift"] = pair_shift.reshape(-1, 3)
        if structures.stress is not None:
            stress = np.zeros((num_structures, 3, 3), dtype)
            stress[:count] = structures.stress
            cells["stress"] = stress

    dipoles = (
        structures.atomic_dipoles
        if structures.atomic_dipoles is not None
        else np.zeros(structures.positions.shape)
    )
    energy = np.zeros(num_structures, dtype)
    energy[:count] = structures.energy
    charge = np.zeros(num_structures, np.int32)
    charge[:count] = structures.total_charge
    return Batch(
        atomic_numbers=padded(structures.atomic_numbers).reshape(-1).astype(np.int32),
        positions=positions.reshape(-1, 3).astype(dtype),
        atom_mask=atom_mask.reshape(-1),
        segment_ids=segment_ids.reshape(-1).astype(np.int32),
        structure_mask=structure_mask,
        total_charge=charge,
        pair_dst=pair_dst.reshape(-1).astype(np.int32),
        pair_src=pair_src.reshape(-1).astype(np.int32),
        pair_mask=pair_mask.reshape(-1),
        energy=energy,
        forces=padded(structures.forces).reshape(-1, 3).astype(dtype),
        atomic_dipoles=padded(dipoles).reshape(-1, 3).astype(dtype),
        **cells,
    )


def _periodic_fields(
    structures: Structures,
    shape: BucketShape,
    num_structures: int,
    reciprocal_cutoff: float | None,
    mesh_spacing: float | None,
    dtype,
) -> dict[str, np.ndarray]:
    """``cell`` (empty slots: the unit cube) and, with a reciprocal cutoff, ``reciprocal`` and
    ``reciprocal_multiplicity`` padded to ``shape.max_reciprocal``, with a mesh spacing the
    empty ``mesh`` array."""
    from efa.nn.mesh import mesh_shape
    from efa.nn.periodic import reciprocal_indices

    count = len(structures.energy)
    cell = np.tile(np.eye(3, dtype=dtype), (num_structures, 1, 1))
    cell[:count] = structures.cell
    fields = {"cell": cell}
    if mesh_spacing is not None:
        mesh = mesh_shape(structures.cell, mesh_spacing)
        fields["mesh"] = np.zeros((num_structures, *mesh, 0), np.int8)
    if reciprocal_cutoff is not None:
        max_reciprocal = shape.max_reciprocal
        indices = np.zeros((num_structures, max_reciprocal, 3), np.int32)
        multiplicity = np.zeros((num_structures, max_reciprocal), dtype)
        for index in range(count):
            n, m = reciprocal_indices(structures.cell[index], reciprocal_cutoff)
            if len(n) > max_reciprocal:
                raise ValueError(
                    f"a cell has {len(n)} reciprocal vectors; max_reciprocal={max_reciprocal}"
                )
            indices[index, : len(n)], multiplicity[index, : len(n)] = n, m
        fields.update(reciprocal=indices, reciprocal_multiplicity=multiplicity)
    return fields


def reciprocal_options(model) -> dict[str, float | None]:
    """``reciprocal_cutoff`` and ``mesh_spacing`` of a model's periodic EFA, as keyword
    arguments of :func:`pack` and :class:`Batcher` (None for models without them)."""
    return {
        "reciprocal_cutoff": getattr(model, "reciprocal_cutoff", None),
        "mesh_spacing": getattr(model, "mesh_spacing", None),
    }


def max_reciprocal(structures: Structures, reciprocal_cutoff: float | None) -> int:
    """Reciprocal-vector slots one batch of ``structures`` needs (0 without periodic cells or
    without a cutoff)."""
    if reciprocal_cutoff is None or not structures.periodic.any():
        return 0
    return int(count_reciprocal(structures, reciprocal_cutoff).max())


def count_reciprocal(structures: Structures, reciprocal_cutoff: float) -> Int[np.ndarray, " S"]:
    """Reciprocal vectors (one of each ``±g``) up to ``reciprocal_cutoff`` per periodic cell."""
    from efa.nn.periodic import reciprocal_indices

    return np.array(
        [len(reciprocal_indices(cell, reciprocal_cutoff)[0]) for cell in structures.cell]
    )


def split_batch(batch: Batch, parts: int) -> Batch:
    """``batch`` cut into ``parts`` batches of consecutive structure slots, stacked.

    Part ``d`` holds the slots ``d·B' … (d+1)·B' − 1`` (``B' = B / parts``) with their atoms and
    pairs, and indices of its own: atom and pair indices count from the part's first atom,
    ``segment_ids`` from its first slot, and padding atoms have segment ``B'`` — the batch
    :func:`pack` makes of those slots' structures. Every array gets a leading axis ``parts``:
    ``(N,) → (parts, N/parts)``, ``(N, 3) → (parts, N/parts, 3)``, ``(P,) → (parts, P/parts)``,
    ``(B,) → (parts, B')``.

    Raises:
      ValueError: if ``B`` is not a multiple of ``parts``, or the pairs were packed in fewer
        pair groups than ``parts`` (:func:`pack`'s ``pair_groups``).
    """
    slots = batch.num_structures
    if slots % parts:
        raise ValueError(f"cannot split {slots} structure slots into {parts} equal parts")
    if batch.pair_dst.shape[0] % parts:
        raise ValueError(
            f"cannot split the batch's {batch.pair_dst.shape[0]} pair slots into {parts} parts: "
            f"they were packed in fewer pair groups (pack with a multiple of {parts} pair groups)"
        )
    part_slots = slots // parts
    part_atoms = batch.atom_mask.shape[0] // parts

    def stack(array):
        if array is None:
            return None
        return array.reshape(parts, array.shape[0] // parts, *array.shape[1:])

    first_slot = (np.arange(parts) * part_slots)[:, None]
    first_atom = (np.arange(parts) * part_atoms)[:, None]
    pair_dst = stack(batch.pair_dst) - first_atom
    if ((pair_dst < 0) | (pair_dst >= part_atoms)).any():
        raise ValueError(
            f"cannot split the batch's pairs into {parts} parts: they were packed in fewer "
            f"pair groups (pack with a multiple of {parts} pair groups)"
        )
    index_type = batch.segment_ids.dtype
    segment_ids = stack(batch.segment_ids) - first_slot
    segment_ids = np.where(stack(batch.atom_mask), segment_ids, part_slots)
    return Batch(*(stack(field) for field in batch))._replace(
        segment_ids=segment_ids.astype(index_type),
        pair_dst=pair_dst.astype(index_type),
        pair_src=(stack(batch.pair_src) - first_atom).astype(index_type),
    )


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
