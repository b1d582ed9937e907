"""Euclidean fast attention as a pure function: ERoPE-encoded linear attention on a Lebedev grid.

Notation (docs/science.md). Per atom ``i``: query and key features ``q_i, k_i`` in the e3x layout
``(P, (L+1)², F_qk)``, value features ``v_i`` of shape ``(P_v, (L_v+1)², F_v)``, position
``r_i``. Frequencies ``ω_k`` (``k = 0 … F_qk/2 − 1``) act on channel pairs ``(2k, 2k+1)``. For each
grid direction ``u_m`` (weight ``w_m``, ``Σ w_m = 1``), ERoPE rotates channel pair ``k`` of every
``(parity, degree-component)`` of ``q_i`` by the angle ``ω_k u_m·r_i`` (and ``k_j`` likewise), so
``⟨ERoPE_m q_i, ERoPE_m k_j⟩`` depends on ``u_m·(r_i − r_j)`` only. Then

    y_i = Σ_m w_m ERoPE_m(q_i)ᵀ [ Σ_{j ∈ structure(i)} ERoPE_m(k_j) v_jᵀ ] / sqrt(D_qk),

with ``D_qk = P (L+1)² F_qk``. Inside the quadrature bound (see :mod:`efa.nn.quadrature`) this
equals the pairwise form ``y_i = Σ_j Σ_k ⟨q_i, k_j⟩_k j0(ω_k r_ij) v_j / sqrt(D_qk)``.

Implementation. Atoms are placed into a padded per-structure layout ``(G, n)``
(:mod:`efa.nn.segments`). The grid is used as ``M/2`` antipodal pairs ``(u, −u)``, which halves
the trigonometric work (see :func:`_pair_features`). For a chunk of ``c`` grid pairs the
key–value sums ``(G, c·2D_qk, D_v)`` are summed over blocks of ``b`` atoms, each one matrix
product ``(c·2D_qk, b) @ (b, D_v)``, and a second pass multiplies each block's queries with the
finished sums (see :func:`_integrate_key_value`), so nothing of size ``(N, M, D_qk, D_v)`` is
ever formed and a block's features stay in cache. With few value columns per antipodal grid
pair the per-frequency order does the same products without forming the ERoPE features: the
cosine and sine tables are matrix operands, batched over channel pairs (see
:func:`_integrate_per_frequency`). Small structures use the score order instead (``(G, n, n)``
scores summed over the grid, then one product with the values) or, for a few atoms, the grid
sum per atom pair (see :func:`contraction_order`). Chunks and blocks go through ``lax.scan`` or
``lax.map`` under ``jax.checkpoint``, so forward and backward memory is that of one block or
chunk (plus the key–value sums) instead of ``O(N · M · D_qk)``; the per-frequency order's
memory is ``O(N · D_qk · D_v)`` for the key ⊗ value products and a bounded table per chunk.

Tensor integration (:func:`erope_tensor_attention`) keeps the per-grid-point result, multiplies
it with spherical harmonics ``Y_a(u_m)`` up to degree ``L_Y`` before summing over ``m``, and
couples ``Y ⊗ y`` to output degrees ``≤ L_out`` with Clebsch–Gordan coefficients.
"""

from __future__ import annotations

import functools
import math

import e3x
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from efa.nn.chunks import equal_chunk_size, map_over_chunks, split_into_chunks, sum_over_chunks
from efa.nn.quadrature import antipodal_half_grid
from efa.nn.segments import SegmentLayout, from_padded, segment_layout, to_padded
from efa.nn.so3 import clebsch_gordan
from efa.nn.trig import sincos
from efa.xla import ensure_xla

#: Elements per chunk-sized intermediate that the automatic chunk sizes aim for: the ERoPE
#: features of a block of atoms over a chunk of the grid (key–value order, ``(G, c·2·D_qk, b)``)
#: or of all atoms over a grid chunk (score order, ``(G, n, c·2·D_qk)``). 512 KiB in float32,
#: so that the features stay in cache between being formed and being multiplied
#: (``efa bench attention``; docs/results.md has the measurements).
DEFAULT_CHUNK_ELEMENTS = 2**17

#: Fewest atom slots per block of the key–value order (unless the structure has fewer): smaller
#: blocks make the matrix products too thin to run at speed.
MIN_BLOCK_SLOTS = 64

#: Elements of the key–value sums ``(G, c·2·D_qk, E)`` of one grid chunk of the key–value order;
#: the whole grid is one chunk when its sums fit (16 MiB in float32).
KEY_VALUE_SUM_ELEMENTS = 2**22

#: Elements per grid chunk of the pairwise order's kernels (``(G, T, K)`` per grid pair, see
#: :func:`_integrate_pairwise`). They are small (``T ≤ n²/2`` atom pairs of structures of at
#: most ``PAIRWISE_MAX_SLOTS`` atoms), so a training batch takes the whole grid in one chunk:
#: a loop over chunks under ``jax.checkpoint`` cost a 16-atom cluster batch more than its
#: whole kernel (``efa bench train``, docs/results.md).
PAIRWISE_CHUNK_ELEMENTS = 2**21

#: Elements of one atom chunk's largest intermediate in the per-frequency order (the cosine or
#: sine table ``(G, K, a, H)``, or the key ⊗ value and query sums ``(G, K, a, A·2C·E)``, see
#: :func:`_integrate_per_frequency`); sets how many atoms a chunk takes. The tables
#: do not fit in cache at any useful chunk size, so fewer, larger chunks are faster: 64 MiB in
#: float32 (all 314 slots of the NaCl network's batch in one chunk; docs/results.md).
PER_FREQUENCY_CHUNK_ELEMENTS = 2**24

#: ``contraction="auto"`` takes the per-frequency order when the grid has at least this many
#: antipodal pairs per value column (``H ≥ ratio · E``): then the ERoPE features over the grid,
#: which the key–value order writes and reads, outweigh the per-frequency order's
#: key ⊗ value products (``efa bench attention`` and ``efa bench train --config nacl``,
#: docs/results.md).
PER_FREQUENCY_MIN_PAIRS_PER_VALUE = 2

#: Largest structure (atom slots per segment) for which ``contraction="auto"`` sums the grid
#: per atom pair (see :func:`contraction_order`): up to this size the pairwise order needed
#: less time than the score order in ``efa bench attention``, above it more.
PAIRWISE_MAX_SLOTS = 16


def erope_attention(
    q: Float[Array, "N P S F"],
    k: Float[Array, "N P S F"],
    v: Float[Array, "N Pv Sv Fv"],
    positions: Float[Array, "N 3"],
    frequencies: Float[Array, " K"],
    segment_ids: Int[Array, " N"],
    num_segments: int,
    lebedev_num: int = 50,
    *,
    max_segment_size: int | None = None,
    grid_chunk_size: int | None = None,
    contraction: str = "auto",
    layout: SegmentLayout | None = None,
) -> Float[Array, "N Pv Sv Fv"]:
    """ERoPE linear attention integrated over a Lebedev grid (Euclidean fast attention).

    Args:
      q: queries ``(N, P, (L+1)², F_qk)``, ``F_qk`` even.
      k: keys, same shape as ``q``.
      v: values ``(N, P_v, (L_v+1)², F_v)``.
      positions: ``(N, 3)`` Cartesian positions (Å).
      frequencies: ``(F_qk // 2,)`` angular frequencies ``ω_k`` (1/Å).
      segment_ids: ``(N,)`` structure index of every atom in ``[0, num_segments)``. Atoms interact
        only within their segment; padding atoms go into a segment of their own.
      num_segments: number of segments ``G`` (static).
      lebedev_num: number of Lebedev grid points ``M`` (static).
      max_segment_size: largest number of atoms in one segment (static). Needed under ``jit``
        when ``num_segments > 1``; atoms beyond it in their segment get NaN outputs.
      grid_chunk_size: antipodal grid pairs ``(u, −u)`` processed at once (static, at most
        ``lebedev_num / 2``); by default chosen from the array sizes (the key–value order takes
        the whole grid and blocks of atoms, see :func:`_key_value_tiles`; the score order keeps
        intermediates near ``DEFAULT_CHUNK_ELEMENTS``). The per-frequency order chunks atoms.
      contraction: how the quadrature sum is taken (static); all orders compute the same sum.
        ``"key_value"`` forms the per-structure sums ``Σ_j ERoPE(k_j) v_jᵀ`` (cost ``∝ n·X·E``,
        linear in the structure size ``n``); ``"per_frequency"`` forms the same sums per
        channel pair from ``k_j ⊗ v_j`` and the cosine and sine tables, without the ERoPE
        features (same cost, less memory traffic when ``E`` is small against the grid);
        ``"scores"`` forms the per-structure scores
        ``A_ij = Σ_m w_m ⟨ERoPE_m q_i, ERoPE_m k_j⟩`` and then ``A v`` (cost ``∝ n²·(X + E)``);
        ``"pairwise"`` sums the grid per atom pair first (see :func:`_pairwise_kernels`), which
        has the fewest operations for structures of a few atoms. ``"auto"`` picks by
        :func:`contraction_order`.
      layout: a precomputed :class:`~efa.nn.segments.SegmentLayout` of the atoms, e.g.
        :func:`~efa.nn.segments.contiguous_layout` for batches already padded per structure;
        it replaces the sort-and-scatter layout built from ``segment_ids``.

    Returns:
      ``(N, P_v, (L_v+1)², F_v)``: the attention output ``y_i``.
    """
    ensure_xla("efa.nn.erope_attention")  # a user's own model may enter here first
    _check_inputs(q, k, v, positions, frequencies, segment_ids)
    if layout is None:
        layout = segment_layout(segment_ids, num_segments, max_segment_size)
    y = _integrate_over_grid(
        to_padded(q, layout),
        to_padded(k, layout),
        to_padded(v.reshape(v.shape[0], -1), layout),
        to_padded(positions, layout),
        frequencies,
        lebedev_num,
        harmonics_degree=None,
        grid_chunk_size=grid_chunk_size,
        contraction=contraction,
    )
    return from_padded(y[:, :, 0], layout).reshape(v.shape)


def erope_tensor_attention(
    q: Float[Array, "N P S F"],
    k: Float[Array, "N P S F"],
    v: Float[Array, "N Pv Sv Fv"],
    positions: Float[Array, "N 3"],
    frequencies: Float[Array, " K"],
    segment_ids: Int[Array, " N"],
    num_segments: int,
    lebedev_num: int = 50,
    *,
    max_degree_sph: int = 1,
    max_degree_out: int = 1,
    include_pseudotensors_out: bool = True,
    max_segment_size: int | None = None,
    grid_chunk_size: int | None = None,
    contraction: str = "auto",
    layout: SegmentLayout | None = None,
) -> Float[Array, "N Po So Fv"]:
    """EFA with tensor integration: directional outputs up to degree ``L_out``.

    Computes ``z_{i,a} = Σ_m Y_a(u_m) y_{i,m}`` where ``y_{i,m}`` is the per-grid-point term of
    :func:`erope_attention` and ``Y_a`` are the real spherical harmonics (e3x, Racah
    normalisation) up to degree ``L_Y = max_degree_sph``; then couples ``Y ⊗ v``-shaped ``z`` to
    degrees ``≤ max_degree_out`` with Clebsch–Gordan coefficients, keeping e3x's parity
    convention (see :func:`_harmonic_coupling`).

    Args are those of :func:`erope_attention` (including ``contraction`` and ``layout``) plus:
      max_degree_sph: ``L_Y``, largest degree of the spherical harmonics on the grid.
      max_degree_out: ``L_out``, largest output degree.
      include_pseudotensors_out: keep both parities in the output (``P_o = 2``), else only the
        parity ``(−1)^l`` part (``P_o = 1``).

    Returns:
      ``(N, P_o, (L_out+1)², F_v)``.
    """
    _check_inputs(q, k, v, positions, frequencies, segment_ids)
    num_atoms, parities_v, components_v, features_v = v.shape
    if layout is None:
        layout = segment_layout(segment_ids, num_segments, max_segment_size)
    z = _integrate_over_grid(
        to_padded(q, layout),
        to_padded(k, layout),
        to_padded(v.reshape(num_atoms, -1), layout),
        to_padded(positions, layout),
        frequencies,
        lebedev_num,
        harmonics_degree=max_degree_sph,
        grid_chunk_size=grid_chunk_size,
        contraction=contraction,
    )
    z = from_padded(z, layout).reshape(num_atoms, -1, parities_v, components_v, features_v)
    coupling = _harmonic_coupling(
        max_degree_sph,
        parities_v,
        _degree_of(components_v),
        max_degree_out,
        2 if include_pseudotensors_out else 1,
    )
    return jnp.einsum("napsf,apsqt->nqtf", z, coupling.astype(z.dtype))


def _check_inputs(q, k, v, positions, frequencies, segment_ids) -> None:
    """Raise ValueError naming the argument whose shape is inconsistent."""
    if q.ndim != 4 or q.shape != k.shape:
        raise ValueError(
            f"q and k must have the same shape (N, P, (L+1)**2, F_qk); got q {q.shape}, k {k.shape}"
        )
    num_atoms, _, components, features = q.shape
    _degree_of(components)
    if features % 2:
        raise ValueError(f"F_qk (last axis of q and k) must be even, got {features}")
    if v.ndim != 4 or v.shape[0] != num_atoms:
        raise ValueError(f"v must have shape (N={num_atoms}, P_v, (L_v+1)**2, F_v); got {v.shape}")
    _degree_of(v.shape[2])
    if positions.shape != (num_atoms, 3):
        raise ValueError(f"positions must have shape (N={num_atoms}, 3); got {positions.shape}")
    if frequencies.shape != (features // 2,):
        raise ValueError(
            f"frequencies must have shape (F_qk // 2,) = ({features // 2},); "
            f"got {frequencies.shape}"
        )
    if segment_ids.shape != (num_atoms,):
        raise ValueError(f"segment_ids must have shape (N={num_atoms},); got {segment_ids.shape}")


def _degree_of(components: int) -> int:
    """Max degree ``L`` of an axis of ``(L+1)²`` spherical components."""
    degree = math.isqrt(components) - 1
    if (degree + 1) ** 2 != components:
        raise ValueError(f"feature axis of size {components} is not (L+1)**2 for any degree L")
    return degree


def _chunk_size(
    num_slots: int,
    width: int,
    num_points: int,
    requested: int | None,
    elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> int:
    """Grid pairs per chunk: as requested, or as many as keep ``num_slots · width`` elements
    per grid pair within ``elements``."""
    if requested is not None:
        return min(requested, num_points)
    return equal_chunk_size(num_points, max(1, elements // max(1, num_slots * width)))


def _pair_features(x, trig):
    """ERoPE features of atoms for a chunk of antipodal grid pairs ``(u, −u)``.

    Rotating channel pair ``x = (a, b)`` by ``θ`` gives ``cos θ · x + sin θ · Jx`` with
    ``Jx = (−b, a)``; at ``−u`` the angle flips sign. Summing ``⟨R(θ_i) q, R(θ_j) k⟩`` over
    ``u`` and ``−u`` leaves ``2 [⟨cos θ_i q, cos θ_j k⟩ + ⟨sin θ_i Jq, sin θ_j Jk⟩]``, so one
    grid pair is represented by ``[cos ⊗ x, sin ⊗ Jx]``. The grid axis is innermost so that
    the product is one contiguous broadcast.

    Args:
      x: ``(G, n, 2, 2, C, K)``: ``[x, Jx]`` by (trig part, pair element, component, pair).
      trig: ``(G, n, 2, K, c)``: ``[cos θ, sin θ]`` for ``c`` grid pairs (possibly weighted).

    Returns:
      ``(G, n, 4·C·K·c)`` = ``(G, n, c·2·D_qk)`` features, ready for a matrix product.
    """
    features = x[..., None] * trig[:, :, :, None, None]
    return features.reshape(x.shape[0], x.shape[1], -1)


def _with_rotated_partner(x):
    """``(G, n, C, K, 2)`` channel pairs → ``(G, n, 2, 2, C, K)`` holding ``[x, Jx]``."""
    a, b = jnp.moveaxis(x, -1, 2)[:, :, 0], jnp.moveaxis(x, -1, 2)[:, :, 1]
    return jnp.stack([jnp.stack([a, b], 2), jnp.stack([-b, a], 2)], 2)


#: Contraction orders of :func:`erope_attention`.
CONTRACTIONS = ("auto", "key_value", "per_frequency", "scores", "pairwise")


def contraction_order(
    contraction: str, slots: int, grid_pairs: int, grid_width: int, num_harmonics: int, values: int
) -> str:
    """The contraction order used for structures of ``n = slots`` atoms, with ``grid_pairs``
    ``= H`` antipodal grid pairs and ``grid_width`` ``= X`` ERoPE feature columns over them.

    Operation counts per structure over the whole grid (``H`` grid pairs, ``X`` = ``H`` ×
    ``2·D_qk`` feature columns, ``A`` harmonics, ``E`` value columns): key–value and
    per-frequency order ``n·X·E·(1 + A)``, score order ``n²·A·(X + E)`` (the scores are summed
    over the grid before they meet the values). On a tie the score order wins: it skips the
    ``(G, X, E)`` key–value array. Between the two linear orders, which do the same products,
    memory traffic decides: the key–value order writes and reads ERoPE features ``∝ n·X``, the
    per-frequency order key ⊗ value products ``∝ n·D_qk·E``; it is taken when
    ``H ≥ PER_FREQUENCY_MIN_PAIRS_PER_VALUE · E``. The pairwise order is used for structures of
    at most ``PAIRWISE_MAX_SLOTS`` atoms, where it takes a fraction of the operations of the
    others.
    """
    if contraction not in CONTRACTIONS:
        raise ValueError(f"contraction={contraction!r}: expected one of {CONTRACTIONS}")
    if contraction != "auto":
        return contraction
    if slots <= PAIRWISE_MAX_SLOTS:
        return "pairwise"
    key_value = slots * grid_width * values * (1 + num_harmonics)
    scores = slots * slots * num_harmonics * (grid_width + values)
    if scores <= key_value:
        return "scores"
    if grid_pairs >= PER_FREQUENCY_MIN_PAIRS_PER_VALUE * values:
        return "per_frequency"
    return "key_value"


def _pairwise_kernels(displacements, frequencies, points, weights_even, weights_odd):
    """Grid sums per atom pair for a chunk of ``c`` antipodal grid pairs.

    For channel pair ``k`` the ERoPE product at ``u`` is
    ``⟨R(θ_i) q, R(θ_j) k⟩ = cos Δ ⟨q, k⟩_k + sin Δ ⟨q, Jk⟩_k`` with
    ``Δ = ω_k u·(r_j − r_i)``. Over ``(u, −u)`` the sine cancels against even harmonics and the
    cosine against odd ones, leaving the kernels

        C_{ijka} = Σ_m w'_{ma} cos(ω_k u_m·d_ij),   S_{ijka} = Σ_m w'_{ma} sin(ω_k u_m·d_ij)

    with ``w'_{ma}`` the pair weight times ``Y_a(u_m)`` (even ``a`` for ``C``, odd for ``S``).
    ``C`` is symmetric and ``S`` antisymmetric in ``(i, j)``, so only pairs ``i < j`` are needed.

    Args:
      displacements: ``(G, T, 3)``: ``d_ij = r_j − r_i`` of ``T`` atom pairs.
      frequencies: ``(K,)``.
      points: ``(c, 3)`` grid directions.
      weights_even, weights_odd: ``(c, A_even)``, ``(c, A_odd)`` harmonic-weighted pair weights.

    Returns:
      ``(C, S)`` of shapes ``(G, T, K, A_even)`` and ``(G, T, K, A_odd)``.
    """
    phase = frequencies[:, None] * jnp.einsum("gtx,mx->gtm", displacements, points)[:, :, None]
    sine, cosine = sincos(phase)
    even = jnp.einsum("gtkm,ma->gtka", cosine, weights_even)
    if weights_odd.shape[1] == 0:
        return even, jnp.zeros(even.shape[:-1] + (0,), even.dtype)
    return even, jnp.einsum("gtkm,ma->gtka", sine, weights_odd)


def _integrate_pairwise(
    q, k, v, positions, frequencies, points, key_weights, harmonics, odd, grid_chunk_size
):
    """The quadrature sum with the grid summed per atom pair (``contraction="pairwise"``).

    ``A_{aij} = Σ_k ⟨q_i, k_j⟩_k C_{ijka}`` (even ``a``) or ``Σ_k ⟨q_i, Jk_j⟩_k S_{ijka}`` (odd
    ``a``), then ``z_{ia} = Σ_j A_{aij} v_j``; see :func:`_pairwise_kernels`. The kernels are
    computed for the ``n(n−1)/2`` pairs ``i < j`` and mirrored; on the diagonal (``d = 0``)
    ``C_{iika} = Σ_m w'_{ma}`` and ``S_{iika} = 0``. Work is ``∝ n²·K·M`` per structure, with no
    feature array over the grid.

    Args:
      q, k: ``(G, n, P, S, F)``; v: ``(G, n, E)``; positions: ``(G, n, 3)``.
      points, key_weights, harmonics: the half grid ``(H, 3)``, its weights ``2 w_m / sqrt(D_qk)``
        ``(H,)`` and harmonics ``(H, A)``; odd: ``(A,)`` numpy bools, True for odd degrees.

    Returns:
      ``(G, n, A, E)``.
    """
    groups, slots, parities, components, features = q.shape
    num_pairs = features // 2
    even_index, odd_index = np.flatnonzero(~odd), np.flatnonzero(odd)
    weighted = key_weights[:, None] * harmonics
    num_points = points.shape[0]
    width = num_pairs * len(odd)  # kernel entries per atom pair and grid point
    first, second = np.triu_indices(slots, 1)
    chunk = _chunk_size(
        groups * len(first), width, num_points, grid_chunk_size, PAIRWISE_CHUNK_ELEMENTS
    )

    displacements = positions[:, second] - positions[:, first]  # (G, T, 3)
    shape, dtype = (groups, len(first), num_pairs), displacements.dtype
    cosine, sine = sum_over_chunks(
        lambda p, w_even, w_odd: _pairwise_kernels(displacements, frequencies, p, w_even, w_odd),
        (jnp.zeros(shape + (len(even_index),), dtype), jnp.zeros(shape + (len(odd_index),), dtype)),
        tuple(
            split_into_chunks(x, chunk)
            for x in (points, weighted[:, even_index], weighted[:, odd_index])
        ),
    )
    # (n, n) index into [pairs i < j, diagonal] and the sign of S under i ↔ j.
    index = np.full((slots, slots), len(first))
    index[first, second] = index[second, first] = np.arange(len(first))
    sign = np.sign(np.arange(slots)[None, :] - np.arange(slots)[:, None])[..., None, None]
    diagonal = jnp.broadcast_to(
        weighted[:, even_index].sum(axis=0), (groups, 1, num_pairs, len(even_index))
    )
    cosine = jnp.concatenate([cosine, diagonal.astype(dtype)], axis=1)[:, index]
    sine = jnp.pad(sine, ((0, 0), (0, 1), (0, 0), (0, 0)))[:, index] * sign.astype(dtype)
    q = q.reshape(groups, slots, parities * components, num_pairs, 2)
    k = k.reshape(groups, slots, parities * components, num_pairs, 2)
    scores = [jnp.einsum("gijk,gijka->gaij", jnp.einsum("gickt,gjckt->gijk", q, k), cosine)]
    if len(odd_index):
        rotated = jnp.einsum("gick,gjck->gijk", q[..., 1], k[..., 0]) - jnp.einsum(
            "gick,gjck->gijk", q[..., 0], k[..., 1]
        )  # ⟨q_i, J k_j⟩ per channel pair
        scores.append(jnp.einsum("gijk,gijka->gaij", rotated, sine))
    order = np.argsort(np.concatenate([even_index, odd_index]))
    scores = jnp.concatenate(scores, axis=1)[:, order]
    return jnp.einsum("gaij,gje->giae", scores, v)


def _integrate_per_frequency(q, k, v, positions, frequencies, points, key_weights, harmonics, odd):
    """The quadrature sum without ERoPE features (``contraction="per_frequency"``).

    Over an antipodal pair, ``⟨R(θ_i) q, R(θ_j) k⟩ + ⟨R(−θ_i) q, R(−θ_j) k⟩ =
    2 [cos θ_i cos θ_j + sin θ_i sin θ_j] ⟨q, k⟩_k`` per channel pair ``k`` (``J`` is a rotation,
    ``⟨Jq, Jk⟩ = ⟨q, k⟩``), and the odd-harmonic cross terms give
    ``2 [sin θ_i cos θ_j − cos θ_i sin θ_j] ⟨Jq, k⟩_k``. So with ``c_{jkm} = cos θ_{jkm}``,
    ``s_{jkm} = sin θ_{jkm}``, the key ⊗ value products ``p_{jk} = k_{jk} ⊗ v_j``
    ``(2C, E)`` per channel pair (``C`` = parities × components) and the key weights
    ``w'_m = 2 w_m / sqrt(D_qk)`` (the factor 2 above included):

        KC_{km} = w'_m Σ_j c_{jkm} p_{jk},   KS_{km} = w'_m Σ_j s_{jkm} p_{jk},
        z_{ia} = Σ_{k,m} Y_a(u_m) q̃_{ika} · (c_{ikm} KC_{km} + s_{ikm} KS_{km})   (even a),
        z_{ia} = Σ_{k,m} Y_a(u_m) q̃_{ika} · (s_{ikm} KC_{km} − c_{ikm} KS_{km})   (odd a),

    with ``q̃ = q`` for even and ``Jq`` for odd ``a``. For every channel pair ``k`` these are
    matrix products with the cosine and sine tables as operands, batched over ``(G, k)``:
    ``(H, a) @ (a, 2C·E)`` for the keys and ``(a, H) @ (H, A·2C·E)`` for the queries, so the
    ``(n, H·2·D_qk)`` features of the key–value order are never formed. Two passes over chunks
    of ``a`` atom slots (keys, then queries) bound the tables ``(G, K, a, H)`` and the query
    sums ``(G, K, a, A·2C·E)`` to ``PER_FREQUENCY_CHUNK_ELEMENTS``; the number of operations
    equals the key–value order's. Arguments and result as in :func:`_integrate_pairwise`
    (``w'_m`` above is its ``key_weights``); there are no grid chunks.
    """
    groups, slots, parities, components, features = q.shape
    num_pairs, channels, values = features // 2, parities * components, v.shape[-1]
    num_points, num_harmonics = harmonics.shape

    def by_pair(x):  # (G, n, P, S, F) -> (G, K, n, C, 2)
        return jnp.transpose(x.reshape(groups, slots, channels, num_pairs, 2), (0, 3, 1, 2, 4))

    q, k = by_pair(q), by_pair(k)
    rotated = jnp.stack([-q[..., 1], q[..., 0]], axis=-1)  # Jq
    queries = jnp.stack([rotated if odd[a] else q for a in range(num_harmonics)], axis=3)
    columns = 2 * channels * values  # of one channel pair's key ⊗ value products
    dtype = jnp.result_type(q, k, v, positions, frequencies)

    per_atom = groups * num_pairs * max(num_points, num_harmonics * columns)
    size = equal_chunk_size(slots, max(1, PER_FREQUENCY_CHUNK_ELEMENTS // per_atom))
    chunk_positions = split_into_chunks(positions, size, axis=1)

    def trig(chunk_positions):  # (G, a, 3) -> sine, cosine (G, K, a, H)
        projection = jnp.einsum("gnx,mx->gnm", chunk_positions, points)
        return sincos(frequencies[:, None, None] * projection[:, None])

    def key_term(
        chunk_positions, chunk_keys, chunk_values
    ):  # keys (G, K, a, C, 2), values (G, a, E)
        sine, cosine = trig(chunk_positions)
        products = (
            chunk_keys.reshape(chunk_keys.shape[:3] + (-1, 1)) * chunk_values[:, None, :, None]
        )
        products = products.reshape(products.shape[:3] + (columns,))
        return jnp.stack([jnp.einsum("gknm,gknz->gkmz", t, products) for t in (cosine, sine)])

    key_cos, key_sin = (
        sum_over_chunks(
            key_term,
            jnp.zeros((2, groups, num_pairs, num_points, columns), dtype),
            (
                chunk_positions,
                split_into_chunks(k, size, axis=2),
                split_into_chunks(v, size, axis=1),
            ),
        )
        * key_weights[:, None]
    )
    # (G, K, H, A, 2C·E) weighted by Y_a(u_m); odd a: the cross terms above.
    with_cos = (
        jnp.stack([-key_sin if odd[a] else key_cos for a in range(num_harmonics)], axis=3)
        * harmonics[:, :, None]
    )
    with_sin = (
        jnp.stack([key_cos if odd[a] else key_sin for a in range(num_harmonics)], axis=3)
        * harmonics[:, :, None]
    )
    with_cos = with_cos.reshape(groups, num_pairs, num_points, -1)
    with_sin = with_sin.reshape(groups, num_pairs, num_points, -1)

    def query_term(chunk_positions, chunk_queries):
        sine, cosine = trig(chunk_positions)
        sums = jnp.einsum("gknm,gkmz->gknz", cosine, with_cos) + jnp.einsum(
            "gknm,gkmz->gknz", sine, with_sin
        )
        sums = sums.reshape(sums.shape[:3] + (num_harmonics, channels, 2, values))
        return jnp.einsum("gknact,gknacte->gnae", chunk_queries, sums)

    z = map_over_chunks(query_term, (chunk_positions, split_into_chunks(queries, size, axis=2)))
    return jnp.moveaxis(z, 0, 1).reshape(groups, -1, num_harmonics, values)[:, :slots]


def _key_value_tiles(
    groups: int,
    slots: int,
    query_width: int,
    sum_width: int,
    num_points: int,
    requested: int | None,
) -> tuple[int, int]:
    """``(grid pairs per chunk, atom slots per block)`` of the key–value order.

    The grid is taken whole (or in chunks of ``requested`` pairs) unless its key–value sums,
    ``groups · sum_width`` elements per grid pair, exceed ``KEY_VALUE_SUM_ELEMENTS``. Blocks
    then take as many slots as keep a block's query features, ``groups · query_width``
    elements per slot and grid pair, within ``DEFAULT_CHUNK_ELEMENTS`` (so they stay in cache
    between being formed and multiplied), but at least ``MIN_BLOCK_SLOTS``; where even those
    exceed it (many structures at once), the grid chunk shrinks instead.
    """
    if requested is not None:
        chunk = min(requested, num_points)
    else:
        chunk = min(num_points, max(1, KEY_VALUE_SUM_ELEMENTS // max(1, groups * sum_width)))
    per_slot = groups * query_width
    block = min(slots, max(MIN_BLOCK_SLOTS, DEFAULT_CHUNK_ELEMENTS // max(1, per_slot * chunk)))
    if requested is None and block * per_slot * chunk > DEFAULT_CHUNK_ELEMENTS:
        chunk = max(1, DEFAULT_CHUNK_ELEMENTS // max(1, block * per_slot))
    return equal_chunk_size(num_points, chunk), equal_chunk_size(slots, block)


def _integrate_key_value(
    q, k, v, positions, frequencies, points, key_weights, harmonics, odd, grid_chunk_size
):
    """The quadrature sum through per-structure key–value sums (``contraction="key_value"``).

    For a chunk of ``c`` antipodal grid pairs with ERoPE features ``φ`` (see
    :func:`_pair_features`; the keys' weighted by ``w'_m``, the queries' by ``Y_a(u_m)``),

        KV = Σ_j φ(k_j) v_jᵀ   (G, c·2D_qk, E),      z_{ia} += φ_a(q_i)ᵀ KV,

    summed over the grid chunks. Both passes go through blocks of ``b`` atom slots (sizes from
    :func:`_key_value_tiles`) whose features ``(G, c·2D_qk, b)`` are formed with the atoms as
    their last axis, so that they stay in cache and both products are plain matrix products:
    ``(c·2D_qk, b) @ (b, E)`` for the keys and ``(E, c·2D_qk) @ (c·2D_qk, b)`` for the queries.
    Blocks go through a ``scan`` (keys) and a ``map`` (queries) under ``jax.checkpoint``, so
    memory is that of one block plus the key–value sums. Arguments and result as in
    :func:`_integrate_pairwise`.
    """
    groups, slots, parities, components, features = q.shape
    num_pairs, channels, values = features // 2, parities * components, v.shape[-1]
    num_points, num_harmonics = harmonics.shape
    width = 2 * channels * features  # 2·D_qk feature columns per grid pair
    dtype = jnp.result_type(q, k, v, positions, frequencies)
    chunk, block = _key_value_tiles(
        groups, slots, width * num_harmonics, width * values, num_points, grid_chunk_size
    )

    def atoms_last(x):  # (G, n, P, S, F) -> (blocks, G, 2, 2, C, K, b) holding [x, Jx]
        x = _with_rotated_partner(x.reshape(groups, slots, channels, num_pairs, 2))
        return split_into_chunks(jnp.moveaxis(x, 1, -1), block, axis=-1)

    query_blocks, key_blocks = atoms_last(q), atoms_last(k)
    position_blocks = split_into_chunks(jnp.moveaxis(positions, 1, 2), block, axis=2)
    value_blocks = split_into_chunks(v, block, axis=1)  # (blocks, G, b, E)

    def trig(chunk_points, block_positions):  # -> (G, c, 2, 1, 1, K, b): [cos θ, sin θ]
        projection = jnp.einsum("mx,gxb->gmb", chunk_points, block_positions)
        sine, cosine = sincos(frequencies[:, None] * projection[:, :, None])
        return jnp.stack([cosine, sine], axis=2)[:, :, :, None, None]

    def pair_features(x, t):  # x (G, 2, 2, C, K, b), t as from trig -> (G, c·2D_qk, b)
        return (x[:, None] * t).reshape(groups, -1, x.shape[-1])

    def grid_chunk_term(chunk_points, chunk_key_weights, chunk_harmonics):
        def by_point(w):  # (c,) -> broadcast against trig's (G, c, 2, 1, 1, K, b)
            return w.reshape(1, -1, 1, 1, 1, 1, 1)

        def key_term(block_positions, block_keys, block_values):
            t = trig(chunk_points, block_positions) * by_point(chunk_key_weights)
            return jnp.einsum("gxb,gbe->gxe", pair_features(block_keys, t), block_values)

        key_value = sum_over_chunks(
            key_term,
            jnp.zeros((groups, chunk * width, values), dtype),
            (position_blocks, key_blocks, value_blocks),
        )
        transposed = jnp.swapaxes(key_value, 1, 2)  # (G, E, c·2D_qk)

        def query_term(block_positions, block_queries):  # -> (G, A, E, b)
            t = trig(chunk_points, block_positions)
            # Odd harmonics pair sin ⊗ Jq with the keys' cos ⊗ k and cos ⊗ q with sin ⊗ Jk.
            return jnp.stack(
                [
                    jnp.einsum(
                        "gex,gxb->geb",
                        transposed,
                        pair_features(block_queries[:, ::-1], t[:, :, ::-1] * by_point(y))
                        if odd[a]
                        else pair_features(block_queries, t * by_point(y)),
                    )
                    for a, y in enumerate(chunk_harmonics.T)
                ],
                axis=1,
            )

        return map_over_chunks(query_term, (position_blocks, query_blocks))

    grid_chunks = tuple(split_into_chunks(x, chunk) for x in (points, key_weights, harmonics))
    num_blocks = position_blocks.shape[0]
    z = sum_over_chunks(
        grid_chunk_term,
        jnp.zeros((num_blocks, groups, num_harmonics, values, block), dtype),
        grid_chunks,
    )  # padded grid pairs (direction 0, weights 0) contribute nothing
    z = jnp.moveaxis(z, 0, 1).transpose(0, 1, 4, 2, 3)  # (G, blocks, b, A, E)
    return z.reshape(groups, num_blocks * block, num_harmonics, values)[:, :slots]


def _integrate_over_grid(
    q,
    k,
    v,
    positions,
    frequencies,
    lebedev_num,
    harmonics_degree,
    grid_chunk_size,
    contraction="auto",
):
    """Sum ERoPE linear attention over the Lebedev grid in the padded layout.

    The grid is used as ``M/2`` antipodal pairs (see :func:`_pair_features`). With tensor
    integration, ``Y_l(−u) = (−1)^l Y_l(u)``: even degrees see the pair sum
    ``cos·cos + sin·sin`` and odd degrees the cross terms ``cos·sin + sin·cos``, which is the
    query features with their cosine and sine halves swapped.

    Args:
      q, k: ``(G, n, P, S, F)``; v: ``(G, n, E)`` flattened values; positions: ``(G, n, 3)``.
      harmonics_degree: None for plain EFA, else ``L_Y`` for tensor integration.
      contraction: see :func:`erope_attention`.

    Returns:
      ``(G, n, A, E)`` with ``A = 1`` (plain) or ``(L_Y + 1)²`` (tensor integration).
    """
    _, slots, parities, components, features = q.shape
    width = parities * components * features  # D_qk
    dtype = jnp.result_type(q, k, v, positions, frequencies)
    points, weights = antipodal_half_grid(lebedev_num, dtype)
    num_points = points.shape[0]
    key_weights = weights / math.sqrt(width)
    if harmonics_degree is None:
        harmonics = jnp.ones((num_points, 1), dtype)
        odd = np.zeros(1, bool)
    else:
        harmonics = e3x.so3.spherical_harmonics(
            points, max_degree=harmonics_degree, r_is_normalized=True
        ).astype(dtype)
        odd = np.floor(np.sqrt(np.arange(harmonics.shape[1]))).astype(int) % 2 == 1
    frequencies = frequencies.astype(dtype)
    if grid_chunk_size is not None and grid_chunk_size < 1:
        raise ValueError(f"grid_chunk_size must be >= 1, got {grid_chunk_size}")
    order = contraction_order(
        contraction, slots, num_points, num_points * 2 * width, harmonics.shape[1], v.shape[-1]
    )
    if order == "pairwise":
        return _integrate_pairwise(
            q, k, v, positions, frequencies, points, key_weights, harmonics, odd, grid_chunk_size
        )
    if order == "per_frequency":
        return _integrate_per_frequency(
            q, k, v, positions, frequencies, points, key_weights, harmonics, odd
        )
    if order == "key_value":
        return _integrate_key_value(
            q, k, v, positions, frequencies, points, key_weights, harmonics, odd, grid_chunk_size
        )
    return _integrate_scores(
        q, k, v, positions, frequencies, points, key_weights, harmonics, odd, grid_chunk_size
    )


def _integrate_scores(
    q, k, v, positions, frequencies, points, key_weights, harmonics, odd, grid_chunk_size
):
    """The quadrature sum through per-structure scores (``contraction="scores"``).

    ``A_{aij} = Σ_m φ_a(q_i)·φ(k_j)`` ``(G, A, n, n)`` with the ERoPE features ``φ`` of
    :func:`_pair_features` (the keys' weighted by ``w'_m``, the queries' by ``Y_a(u_m)``),
    summed over chunks of grid pairs before the values are multiplied once:
    ``z_{ia} = Σ_j A_{aij} v_j``. Arguments and result as in :func:`_integrate_pairwise`.
    """
    groups, slots, parities, components, features = q.shape
    num_pairs = features // 2
    num_points, num_harmonics = harmonics.shape
    dtype = jnp.result_type(q, k, v, positions, frequencies)
    width = 2 * parities * components * features  # 2·D_qk feature columns per grid pair
    chunk = _chunk_size(groups * slots, width * num_harmonics, num_points, grid_chunk_size)

    q = _with_rotated_partner(q.reshape(groups, slots, parities * components, num_pairs, 2))
    k = _with_rotated_partner(k.reshape(groups, slots, parities * components, num_pairs, 2))
    # Odd harmonics pair sin ⊗ Jq with the keys' cos ⊗ k and cos ⊗ q with sin ⊗ Jk.
    q_swapped = q[:, :, ::-1]

    def chunk_term(chunk_points, chunk_key_weights, chunk_harmonics):
        projection = jnp.einsum("gnx,mx->gnm", positions, chunk_points)
        phase = frequencies[:, None] * projection[:, :, None, :]  # (G, n, K, c)
        trig = jnp.stack(sincos(phase)[::-1], axis=2)  # (G, n, 2, K, c): [cos, sin]
        keys = _pair_features(k, trig * chunk_key_weights)
        queries = jnp.stack(
            [
                _pair_features(q_swapped, trig[:, :, ::-1] * chunk_harmonics[:, a])
                if odd[a]
                else _pair_features(q, trig * chunk_harmonics[:, a])
                for a in range(num_harmonics)
            ],
            axis=2,
        )
        return jnp.einsum("gnax,gjx->ganj", queries, keys)

    # padded grid pairs (direction 0, weights 0) contribute nothing
    chunks = tuple(split_into_chunks(x, chunk) for x in (points, key_weights, harmonics))
    scores = sum_over_chunks(
        chunk_term, jnp.zeros((groups, num_harmonics, slots, slots), dtype), chunks
    )
    return jnp.einsum("ganj,gje->gnae", scores, v)


@functools.cache
def _harmonic_coupling(max_degree_sph, parities_v, max_degree_v, max_degree_out, parities_out):
    """Clebsch–Gordan coupling ``Y_{≤L_Y} ⊗ v_{≤L_v} → out_{≤L_out}`` respecting e3x parities.

    e3x stores, with two parity channels, even-parity components in channel 0 and odd ones in
    channel 1; with one channel, a degree-``l`` component has parity ``(−1)^l``. ``Y_l`` has parity
    ``(−1)^l``, so the product of ``Y_l`` with a value component of parity ``(−1)^e`` has parity
    ``(−1)^(l+e)`` and goes to the matching output channel (or is dropped if the output has one
    channel and ``l + e`` differs in parity from ``l_out``).

    Returns:
      numpy array ``((L_Y+1)², P_v, (L_v+1)², P_o, (L_out+1)²)``.
    """
    cg = clebsch_gordan(max_degree_sph, max_degree_v, max_degree_out)
    degree_sph, degree_v, degree_out = (
        np.floor(np.sqrt(np.arange((degree + 1) ** 2))).astype(int)[:, None, None]
        for degree in (max_degree_sph, max_degree_v, max_degree_out)
    )
    degree_v, degree_out = degree_v.reshape(1, -1, 1), degree_out.reshape(1, 1, -1)
    coupling = np.zeros(
        (cg.shape[0], parities_v, cg.shape[1], parities_out, cg.shape[2]), dtype=np.float64
    )
    for parity_v in range(parities_v):
        exponent_v = parity_v if parities_v == 2 else degree_v
        exponent = (degree_sph + exponent_v) % 2
        for parity_out in range(parities_out):
            target = parity_out if parities_out == 2 else degree_out % 2
            coupling[:, parity_v, :, parity_out, :] = np.where(exponent == target, cg, 0.0)
    return coupling
