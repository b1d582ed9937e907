"""Periodic EFA on an FFT mesh: the reciprocal sum of :mod:`efa.nn.periodic` in ``O(N + M log M)``.

Why. The direct reciprocal sum costs ``O(N · N_g)``, and for a growing cell at a fixed cutoff
``k_max`` the number of reciprocal vectors ``N_g ∝ V ∝ N``: quadratic in the number of atoms.
The mesh evaluation below (smooth particle-mesh, as in smooth PME for Ewald sums) is linear up
to the FFT's logarithm.

The sum. Over all reciprocal vectors (both ``±g``), with the shell weights ``W_k`` of
:func:`efa.nn.periodic.shell_weights`,

    y_i = (1 / (V √D_qk)) Σ_k Σ_c q_ikc Σ_g W_k(|g|) Re[exp(i g·r_i) conj(S_kc(g))],
    S_kc(g) = Σ_j exp(i g·r_j) k_jkc v_jᵀ.

Mesh. Scaled fractional coordinates ``u_i = K ⊙ (r_i cell⁻¹)`` on a mesh of ``K = (K₁, K₂, K₃)``
points, ``g·r = 2π Σ_α m_α u_α / K_α`` for the integer coordinates ``m`` of ``g``. The plane
waves are interpolated with cardinal B-splines ``M_p`` of order ``p`` (Essmann et al. 1995):

    exp(2πi m u / K) ≈ b(m) Σ_l M_p(u − l) exp(2πi m l / K),
    |b(m)|⁻² = |Σ_{t=0}^{p−2} M_p(t + 1) exp(2πi m t / K)|²   (per axis; p even),

so with the spread values ``Q_kc[l] = Σ_j M_p(u_j − l) k_jkc v_jᵀ`` (``M_p`` a product over the
three axes, indices wrapped modulo ``K``) and the convolution

    φ_kc = M · IFFT[W_k(|g_m|) |b(m)|² FFT[Q_kc]]          (M = K₁K₂K₃ mesh points)

the output is ``y_i = (1 / (V √D_qk)) Σ_kc q_ikc Σ_l M_p(u_i − l) φ_kc[l]``. The error is that of
the interpolated plane waves, about ``2 (θ / (2π − θ))^p`` relative at ``θ = |g| h`` for mesh
spacing ``h``; the weights ``W_k`` fall off like a Gaussian beyond the largest shell, so a mesh
whose spacing resolves that shell a few times over gives the direct sum to that accuracy
(``tests/nn/test_mesh.py`` measures it).

Cost and memory: spreading and interpolation touch ``p³`` mesh points per atom and channel
(``D_qk · D_v / 2`` channels ``(k, c, e)``), the FFTs cost ``O(M log M)`` per channel; at a
fixed spacing ``M ∝ V``. Atoms are spread and interpolated in chunks, so no array of size
``N · p³`` is ever held, and in the order of the mesh points below them, so that a chunk
touches neighbouring mesh rows (in any other order a mesh larger than the cache costs a
memory access per atom and stencil point); the channel pairs ``k`` are taken in blocks, one
pass over the atoms and the mesh each, so that the mesh buffers hold at most
``_MESH_VALUES`` values per block (``y`` is a sum over ``k``): memory per atom stays flat as
the cell grows. The result is a smooth function of positions and cell (forces and stress by
autodiff); it is translation invariant to the interpolation accuracy, not exactly.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from efa.nn.chunks import equal_chunk_size, map_over_chunks, split_into_chunks, sum_over_chunks
from efa.nn.periodic import (
    padded_operands,
    reciprocal_from_cell,
    reciprocal_norms,
    shell_weights,
)
from efa.nn.segments import SegmentLayout, from_padded, segment_layout

#: Default order ``p`` of the cardinal B-splines (even; ``p³`` mesh points per atom): 4, as in
#: the particle-mesh Ewald defaults of molecular dynamics codes; 6 or 8 trade time for accuracy.
SPLINE_ORDER = 4
#: Largest ``θ = |g| h`` (radians) at which a mesh of spacing ``h`` must resolve the largest
#: shell of the kernel (:attr:`efa.models.EFAModel.largest_shell`).
MESH_RESOLUTION = math.pi / 2
#: Largest number of spread or interpolated values ``atoms · p³ · channels`` held at once.
_CHUNK_VALUES = 2**24
#: Largest number of values ``cells · M · channels`` of one mesh buffer (the spread mesh, its
#: spectrum, the potential), which sets how many channel pairs ``k`` one pass takes.
_MESH_VALUES = 2**25


def mesh_shape(cell: np.ndarray, spacing: float) -> tuple[int, int, int]:
    """Mesh points ``K_α = ⌈|a_α| / spacing⌉`` per lattice vector, rounded up to an FFT-friendly
    size (a product of 2, 3 and 5), at least :data:`SPLINE_ORDER`.

    Args:
      cell: ``(3, 3)`` lattice vectors as rows (Å), or ``(B, 3, 3)``: the largest over cells.
      spacing: largest mesh spacing along each lattice vector (Å).
    """
    lengths = np.linalg.norm(np.asarray(cell, dtype=np.float64), axis=-1).reshape(-1, 3).max(0)
    return tuple(_smooth_size(max(math.ceil(x / spacing), SPLINE_ORDER)) for x in lengths)


def _smooth_size(n: int) -> int:
    """The smallest ``m ≥ n`` whose only prime factors are 2, 3 and 5."""
    while True:
        rest = n
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return n
        n += 1


def bspline_weights(offset: Float[Array, "*A"], order: int = SPLINE_ORDER) -> Float[Array, "*A p"]:
    """``M_p(w + t)`` for ``t = 0 … p−1`` at fractional offsets ``w ∈ [0, 1)``.

    Recursion ``M_n(x) = (x M_{n−1}(x) + (n − x) M_{n−1}(x − 1)) / (n − 1)`` from
    ``M_2(w) = w``, ``M_2(w + 1) = 1 − w``. The weights sum to 1.
    """
    values = [offset, 1.0 - offset]  # M_2(w + t), t = 0, 1
    for n in range(3, order + 1):
        previous = [jnp.zeros_like(offset), *values, jnp.zeros_like(offset)]  # t = −1 … n−1
        values = [
            ((offset + t) * previous[t + 1] + (n - offset - t) * previous[t]) / (n - 1)
            for t in range(n)
        ]
    return jnp.stack(values, axis=-1)


def interpolation_correction(size: int, order: int = SPLINE_ORDER) -> np.ndarray:
    """``|b(m)|²`` of the module docstring for ``m = 0 … size−1`` (FFT order) on one axis."""
    with jax.ensure_compile_time_eval():  # a constant, also while tracing
        at_integers = np.asarray(bspline_weights(jnp.zeros(()), order))  # M_p(t), t = 0 … p−1
    t = np.arange(order - 1)
    m = np.arange(size)[:, None]
    sums = np.sum(at_integers[1:] * np.exp(2j * np.pi * m * t / size), axis=1)
    return 1.0 / np.abs(sums) ** 2


def _mesh_frequencies(shape: tuple[int, int, int]) -> np.ndarray:
    """Integer coordinates ``m`` ``(K₁, K₂, K₃//2+1, 3)`` of the real-FFT layout."""
    axes = [np.fft.fftfreq(shape[0], 1 / shape[0]), np.fft.fftfreq(shape[1], 1 / shape[1])]
    axes.append(np.arange(shape[2] // 2 + 1))
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).astype(np.int64)


def _stencils(fractional, shape: tuple[int, int, int], order: int):
    """Flat mesh indices ``(c, p³)`` and weights ``(c, p³)`` of atoms at fractional coordinates
    ``(c, 3)``."""
    sizes = jnp.asarray(shape)
    scaled = fractional * sizes
    base = jnp.floor(scaled)
    weights = bspline_weights(scaled - base, order)  # (c, 3, p)
    points = (base.astype(jnp.int32)[..., None] - jnp.arange(order)) % sizes[:, None]  # (c,3,p)
    index = (
        points[:, 0, :, None, None] * (shape[1] * shape[2])
        + points[:, 1, None, :, None] * shape[2]
        + points[:, 2, None, None, :]
    )
    weight = (
        weights[:, 0, :, None, None] * weights[:, 1, None, :, None] * weights[:, 2, None, None, :]
    )
    return index.reshape(len(scaled), -1), weight.reshape(len(scaled), -1)


def mesh_periodic_attention(
    q: Float[Array, "N P S F"],
    k: Float[Array, "N P S F"],
    v: Float[Array, "N Pv Sv Fv"],
    positions: Float[Array, "N 3"],
    frequencies: Float[Array, " K"],
    segment_ids: Int[Array, " N"],
    num_segments: int,
    cell: Float[Array, "B 3 3"],
    shape: tuple[int, int, int],
    envelope_width: float,
    *,
    order: int = SPLINE_ORDER,
    max_segment_size: int | None = None,
    layout: SegmentLayout | None = None,
    frequency_block: int | None = None,
) -> Float[Array, "N Pv Sv Fv"]:
    """Periodic EFA of :func:`efa.nn.periodic.periodic_attention` evaluated on an FFT mesh.

    Args:
      q: queries ``(N, P, (L+1)², F_qk)``, ``F_qk`` even.
      k: keys, shaped like ``q``.
      v: values ``(N, P_v, (L_v+1)², F_v)``.
      positions: ``(N, 3)`` Cartesian positions (Å), anywhere.
      frequencies: ``(F_qk // 2,)`` shell radii ``ω_k`` (1/Å).
      segment_ids: ``(N,)`` cell of every atom in ``[0, num_segments)``.
      num_segments: number of cells ``B`` (static).
      cell: ``(B, 3, 3)`` lattice vectors as rows (Å).
      shape: mesh points ``(K₁, K₂, K₃)`` along the lattice vectors (static; see
        :func:`mesh_shape`), the same for every cell of the batch.
      envelope_width: ``σ`` (1/Å) of the Gaussian envelope.
      order: B-spline order ``p`` (even).
      max_segment_size: largest number of atoms in one cell (static; needed under ``jit`` when
        ``num_segments > 1``).
      layout: a precomputed layout of the atoms (as in :func:`periodic_attention`).
      frequency_block: channel pairs ``k`` per pass over atoms and mesh (static; a divisor of
        ``F_qk / 2``); by default the most that keep a mesh buffer within ``_MESH_VALUES``.

    Returns:
      ``(N, P_v, (L_v+1)², F_v)``: the attention output ``y_i``.
    """
    if order % 2:
        raise ValueError(f"order={order}: expected an even B-spline order")
    num_pairs = q.shape[-1] // 2
    width = math.prod(q.shape[1:])  # D_qk
    if layout is None:
        layout = segment_layout(segment_ids, num_segments, max_segment_size)
    dtype = positions.dtype
    qp, kp, vp, rp = padded_operands(q, k, v, positions, layout)
    cells, slots = qp.shape[:2]
    channels = (num_pairs, qp.shape[-1], vp.shape[-1])  # (K, C, E)
    num_channels = math.prod(channels)
    points = math.prod(shape)

    # atoms flattened over cells in mesh order, cut into equal chunks; padding atoms carry
    # zero amplitude
    fractional = jnp.einsum("bnx,bxy->bny", rp, jnp.linalg.inv(cell)).reshape(-1, 3)
    owner = jnp.repeat(jnp.arange(cells), slots)
    total = cells * slots
    in_mesh_order = _mesh_order(fractional, owner, shape)
    fractional, owner = fractional[in_mesh_order], owner[in_mesh_order]
    qp, kp = (x.reshape(total, num_pairs, -1)[in_mesh_order] for x in (qp, kp))  # (B·n, K, C)
    vp = vp.reshape(total, -1)[in_mesh_order]  # (B·n, E)
    block = _frequency_block(num_pairs, cells * points * num_channels // num_pairs, frequency_block)
    blocks = num_pairs // block
    block_channels = (block,) + channels[1:]
    size = math.prod(block_channels)  # channels of one pass
    chunk = equal_chunk_size(total, max(1, _CHUNK_VALUES // (order**3 * size)))
    pad = -total % chunk

    # the reciprocal-space factor W_k(|g|) |b(m)|² of the convolution, for every k
    m = _mesh_frequencies(shape)
    correction = (
        interpolation_correction(shape[0], order)[:, None, None]
        * interpolation_correction(shape[1], order)[None, :, None]
        * interpolation_correction(shape[2], order)[None, None, : shape[2] // 2 + 1]
    )
    g = reciprocal_from_cell(cell, m.reshape(-1, 3)[None].repeat(cells, 0))
    weights = shell_weights(reciprocal_norms(g), frequencies, envelope_width)  # (B, M', K)
    volume = jnp.abs(jnp.linalg.det(cell))
    scale = points / (volume * math.sqrt(width))
    weights = weights.reshape((cells, *m.shape[:3], num_pairs))
    weights = weights * jnp.asarray(correction, dtype)[..., None] * scale[:, None, None, None, None]

    # atom rows in chunks (padded rows are sliced off the result), shared by every pass
    places = (split_into_chunks(fractional, chunk), split_into_chunks(owner, chunk))

    def by_frequency_block(x, axis):
        """Split ``axis`` (of size K) into ``(blocks, block)`` and move ``blocks`` first."""
        x = x.reshape(x.shape[:axis] + (blocks, block) + x.shape[axis + 1 :])
        return jnp.moveaxis(x, axis, 0)

    def pass_over_mesh(query, key, weight):
        """``y`` of one block of channel pairs: query, key ``(B·n, k, C)`` in mesh order, weight
        ``(B, K₁, K₂, K₃', k)`` → ``(B·n, E)`` in mesh order (padded to whole atom chunks)."""
        amplitudes = jnp.einsum("akc,ae->akce", key, vp).reshape(total, size)
        atoms = (*places, split_into_chunks(amplitudes, chunk))

        @jax.checkpoint  # the backward pass recomputes a chunk's stencil instead of storing it
        def spread(mesh, atom_chunk):
            frac, cell_index, amplitude = atom_chunk
            index, stencil = _stencils(frac, shape, order)
            index = index + (cell_index * points)[:, None]
            values = stencil[..., None] * amplitude[:, None, :]
            return mesh.at[index.reshape(-1)].add(values.reshape(-1, size)), None

        mesh, _ = jax.lax.scan(spread, jnp.zeros((cells * points, size), dtype), atoms)
        mesh = mesh.reshape((cells, *shape, *block_channels))
        spectrum = jnp.fft.rfftn(mesh, axes=(1, 2, 3)) * weight[..., None, None]
        potential = jnp.fft.irfftn(spectrum, s=shape, axes=(1, 2, 3)).astype(dtype)
        potential = potential.reshape(cells * points, *block_channels)

        def interpolate(frac, cell_index, query_chunk):
            index, stencil = _stencils(frac, shape, order)
            index = index + (cell_index * points)[:, None]
            return jnp.einsum("ap,apkce,akc->ae", stencil, potential[index], query_chunk)

        queries = split_into_chunks(query, chunk)
        return map_over_chunks(interpolate, (*places, queries)).reshape(-1, channels[2])

    y = sum_over_chunks(
        pass_over_mesh,
        jnp.zeros((total + pad, channels[2]), dtype),
        (by_frequency_block(qp, 1), by_frequency_block(kp, 1), by_frequency_block(weights, 4)),
    )
    y = y[:total][jnp.argsort(in_mesh_order)].reshape(cells, slots, channels[2])
    return from_padded(y, layout).reshape(v.shape)


def _mesh_order(
    fractional: Float[Array, "A 3"], owner: Int[Array, " A"], shape: tuple[int, int, int]
) -> Int[Array, " A"]:
    """Permutation that puts atoms ``(A,)`` in the order of their cell, then of the mesh point
    ``⌊u⌋ mod K`` below them (row-major; ``u = K ⊙ fractional``), so that the atoms of a chunk
    spread to and interpolate from neighbouring mesh rows, which stay in cache. The output of
    :func:`mesh_periodic_attention` does not depend on this order (up to the order of
    floating-point sums)."""
    sizes = jnp.asarray(shape)
    point = jnp.floor(fractional * sizes).astype(jnp.int32) % sizes
    flat = (point[:, 0] * shape[1] + point[:, 1]) * shape[2] + point[:, 2]
    return jnp.lexsort((flat, owner))


def _frequency_block(num_pairs: int, values_per_pair: int, requested: int | None) -> int:
    """Channel pairs per pass of :func:`mesh_periodic_attention`: as requested (a divisor of
    ``num_pairs``), else the largest divisor whose mesh buffers (``values_per_pair`` values per
    pair) stay within ``_MESH_VALUES``, at least 1."""
    if requested is not None:
        if requested < 1 or num_pairs % requested:
            raise ValueError(
                f"frequency_block={requested}: expected a divisor of F_qk / 2 = {num_pairs}"
            )
        return requested
    largest = max(1, _MESH_VALUES // max(1, values_per_pair))
    return max(d for d in range(1, num_pairs + 1) if num_pairs % d == 0 and d <= largest)
