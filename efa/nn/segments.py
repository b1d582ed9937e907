"""Padded per-structure layout for atoms given by segment ids.

EFA sums keys and values over each structure (segment). Doing that with a scatter of per-atom
outer products would materialise ``(N, M, D_qk, D_v)``; instead, atoms are placed into a padded
array ``(G, n, …)`` — ``G`` segments with ``n`` slots each — so that both the key–value sums and
the queries become batched matrix products. Empty slots hold zeros and contribute nothing.

Atoms keep their order inside a segment; segment ids need not be sorted. Batches that are
already padded per structure (atom ``s·n + i`` is slot ``i`` of structure ``s``, as in
:class:`efa.data.packing.Batch`) use :func:`contiguous_layout`, which is a reshape instead of a
sort, a scatter and a gather.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int


class SegmentLayout(NamedTuple):
    """Where each atom sits in the padded ``(num_segments, max_segment_size)`` array.

    Attributes:
      slot: ``(N,)`` flat index ``segment * max_segment_size + rank`` of every atom, or None for
        a contiguous layout (atom ``k`` is slot ``k``).
      fits: ``(N,)`` False for atoms whose rank inside their segment is ``>= max_segment_size``
        (they are dropped and their outputs are set to NaN, see :func:`from_padded`); in a
        contiguous layout, False for padding atoms (left out; their outputs are zero).
      num_segments: static number of segments ``G``.
      max_segment_size: static number of slots per segment ``n``.
    """

    slot: Int[Array, " N"] | None
    fits: Bool[Array, " N"]
    num_segments: int
    max_segment_size: int


def segment_layout(
    segment_ids: Int[Array, " N"], num_segments: int, max_segment_size: int | None = None
) -> SegmentLayout:
    """Compute the padded layout of atoms grouped by ``segment_ids``.

    Args:
      segment_ids: ``(N,)`` integers in ``[0, num_segments)``.
      num_segments: number of segments ``G`` (static).
      max_segment_size: slots per segment ``n`` (static). If None, it is taken from concrete
        ``segment_ids`` (the largest segment), or is ``N`` when there is a single segment. Under
        ``jit`` with several segments it must be given, because array shapes must be static.

    Returns:
      The :class:`SegmentLayout`.
    """
    num_atoms = segment_ids.shape[0]
    if max_segment_size is None:
        if num_segments == 1:
            max_segment_size = num_atoms
        elif isinstance(segment_ids, jax.core.Tracer):
            raise ValueError(
                "max_segment_size must be given (as a static int) when segment_ids is traced "
                f"and num_segments={num_segments} > 1: padded shapes must be known at trace time"
            )
        else:
            counts = np.bincount(np.asarray(segment_ids), minlength=num_segments)
            max_segment_size = max(int(counts.max(initial=0)), 1)
    max_segment_size = int(max_segment_size)
    segment_ids = jnp.asarray(segment_ids)
    order = jnp.argsort(segment_ids, stable=True)
    sorted_ids = segment_ids[order]
    counts = jax.ops.segment_sum(jnp.ones_like(segment_ids), segment_ids, num_segments=num_segments)
    starts = jnp.cumsum(counts) - counts
    rank_sorted = jnp.arange(num_atoms) - starts[sorted_ids]
    rank = jnp.zeros_like(rank_sorted).at[order].set(rank_sorted)
    fits = rank < max_segment_size
    slot = segment_ids * max_segment_size + jnp.minimum(rank, max_segment_size - 1)
    return SegmentLayout(slot, fits, num_segments, max_segment_size)


def contiguous_layout(atom_mask: Bool[Array, " N"], num_segments: int) -> SegmentLayout:
    """Layout of atoms already padded per structure: atom ``k`` is slot ``k mod n`` of ``k // n``.

    Args:
      atom_mask: ``(N,)`` False for padding atoms, which take part in no segment.
      num_segments: number of structures ``G`` (static); ``N`` must be a multiple of it.
    """
    num_atoms = atom_mask.shape[0]
    if num_segments < 1 or num_atoms % num_segments:
        raise ValueError(
            f"a contiguous layout of {num_atoms} atoms needs a number of segments dividing it, "
            f"got num_segments={num_segments}"
        )
    return SegmentLayout(
        None, jnp.asarray(atom_mask, bool), num_segments, num_atoms // num_segments
    )


def to_padded(x: Array, layout: SegmentLayout) -> Array:
    """Scatter per-atom ``x`` of shape ``(N, …)`` into ``(G, n, …)`` (empty slots are zero)."""
    shape = (layout.num_segments, layout.max_segment_size) + x.shape[1:]
    if layout.slot is None:
        mask = layout.fits.reshape((-1,) + (1,) * (x.ndim - 1))
        return jnp.where(mask, x, 0).reshape(shape)
    size = layout.num_segments * layout.max_segment_size
    slot = jnp.where(layout.fits, layout.slot, size)  # out of range → dropped
    padded = jnp.zeros((size,) + x.shape[1:], x.dtype).at[slot].set(x, mode="drop")
    return padded.reshape(shape)


def from_padded(x: Array, layout: SegmentLayout) -> Array:
    """Gather ``(G, n, …)`` back to per-atom ``(N, …)``.

    Atoms that did not fit get NaN; padding atoms of a contiguous layout get zero.
    """
    flat = x.reshape((-1,) + x.shape[2:])
    mask = layout.fits.reshape((-1,) + (1,) * (flat.ndim - 1))
    if layout.slot is None:
        return jnp.where(mask, flat, 0)
    return jnp.where(mask, flat[layout.slot], jnp.nan)
