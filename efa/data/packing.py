"""Packing structures into one fixed-shape padded :class:`Batch` with its neighbour pairs.

JAX compiles one program per array shape, so batches have static shapes: ``B`` structure slots,
each padded to ``n`` atom slots, and ``P`` neighbour-pair slots (:class:`BucketShape`).

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
  :func:`pack`) pads every structure to the largest; the batcher
  (:class:`efa.data.batching.Batcher`) packs the pairs of each group of ``B/D`` slots (``D``:
  devices) together instead, with ``c`` rounded up to a multiple of ``⌈(B/D)·p / K⌉`` (``p``:
  the bucket's largest pair count, ``K`` = :data:`efa.data.batching.PAIR_CAPACITY_STEPS`), so
  that structures with few neighbours leave no padding behind them and a bucket has at most
  ``K`` shapes;
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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from jaxtyping import Bool, Float, Int

from efa.data.pairs import periodic_structure_pairs, structure_pairs
from efa.data.structures import Structures
from efa.errors import ConfigError


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
