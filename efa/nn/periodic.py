"""Euclidean fast attention under periodic boundary conditions: a sum over reciprocal vectors.

Why a new form. For a molecule, EFA couples atoms ``i`` and ``j`` through the kernel
``j0(ω_k r_ij)`` per channel pair ``k`` (the average of the plane wave ``exp(i ω_k u·r_ij)`` over
directions ``u``). In a crystal every atom also interacts with every periodic image of every
other atom, and ``Σ_R j0(ω|r + R|)`` over lattice vectors ``R`` does not converge (``j0`` decays
like ``1/r``, the number of images at distance ``r`` grows like ``r²``).

The periodic kernel. Multiply the molecular kernel by a Gaussian envelope of length ``1/σ``,

    f_k(r) = j0(ω_k r) · exp(−σ² r² / 2),

and sum it over all images: ``K_k(r) = Σ_R f_k(|r + R|)``, now absolutely convergent. By the
Poisson summation formula the same sum is a sum over the reciprocal lattice
``g = 2π (cell⁻¹)ᵀ n``, ``n ∈ ℤ³``:

    K_k(r) = (1/V) Σ_g W_k(|g|) cos(g · r),
    W_k(κ) = (2π/σ²)^{3/2} · [exp(−(κ − ω_k)²/(2σ²)) − exp(−(κ + ω_k)²/(2σ²))] / (2 κ ω_k / σ²),

the 3-D Fourier transform of ``f_k`` (a Gaussian-smeared shell of radius ``ω_k``; its limit at
``κ ω_k → 0`` is ``(2π/σ²)^{3/2} exp(−(κ² + ω_k²)/(2σ²))``). ``W_k`` falls off like a Gaussian
beyond ``ω_k``, so the sum is cut at ``|g| ≤ k_max = ω_max + TAIL_WIDTHS · σ``, with a relative
truncation error below ``exp(−TAIL_WIDTHS²/2)``.

The operator. With ``cos(g·(r_i − r_j)) = cos(g·r_i) cos(g·r_j) + sin(g·r_i) sin(g·r_j)``, each
reciprocal vector factorises per atom, exactly as ERoPE does for a direction ``u``:

    y_i = (1 / sqrt(D_qk)) Σ_j Σ_k ⟨q_i, k_j⟩_k K_k(r_i − r_j) v_j
        = (1 / (V sqrt(D_qk))) Σ_g m_g Σ_k W_k(|g|) [ c_ig ⟨q_i, Σ_j c_jg k_j v_jᵀ⟩_k
                                                      + s_ig ⟨q_i, Σ_j s_jg k_j v_jᵀ⟩_k ],

``c_ig = cos(g·r_i)``, ``s_ig = sin(g·r_i)``, ``j`` over the atoms of the cell, ``g`` over one
of each pair ``±g`` with multiplicity ``m_g = 2`` (``m_0 = 1``). Cost and memory:
``O(N · N_g · D_qk · D_v)`` for ``N_g ≈ V k_max³ / (12 π²)`` reciprocal vectors: linear in the
number of atoms for a given cell and ``k_max``. For supercells of growing volume at fixed
``k_max``, ``N_g`` grows with ``V`` (a larger cell has more long-wavelength modes).

Invariances (tested in float64): translation of all atoms (only differences ``r_i − r_j``
enter); the choice of unit cell of one lattice (the reciprocal lattice is the same); rotating
cell and atoms together (``W_k`` depends on ``|g|`` only); and a ``2×2×2`` supercell gives the
same output per atom (reciprocal vectors that are not in the primitive reciprocal lattice have
a vanishing structure factor over the supercell, and the ``1/V`` keeps the sum intensive), so
a model's energy, a sum of atomic energies, is 8 times that of the primitive cell.

Isolated structures. A molecule or cluster alone in a cell whose images lie beyond the
envelope's reach sees only the ``R = 0`` term, ``f_k(r_ij)`` itself:
:func:`isolated_attention` evaluates it exactly per atom pair, so that a model trained on
periodic cells gives molecules the function it learned. (The molecular EFA of
:func:`efa.nn.erope_attention` has the kernel ``j0(ω_k r)`` without the envelope.)
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from efa.nn.segments import SegmentLayout, from_padded, segment_layout, to_padded

#: ``k_max = ω_max + TAIL_WIDTHS · σ``: the shells' Gaussian tails beyond it are below
#: ``exp(−TAIL_WIDTHS² / 2)`` ≈ 1e-14 of their peak.
TAIL_WIDTHS = 8.0


def reciprocal_cutoff(max_frequency: float, envelope_width: float) -> float:
    """``k_max`` (1/Å) for shells up to ``max_frequency`` smeared by ``envelope_width`` σ."""
    return float(max_frequency) + TAIL_WIDTHS * float(envelope_width)


def reciprocal_indices(cell: np.ndarray, k_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer coordinates ``n`` of the reciprocal vectors ``|g| ≤ k_max`` of ``cell``, one of
    each pair ``±g``.

    Args:
      cell: ``(3, 3)`` lattice vectors as rows (Å).
      k_max: cutoff (1/Å).

    Returns:
      ``(n, multiplicity)``: ``(N_g, 3)`` integers, ``n = 0`` first, then by ``|g|``; and
      ``(N_g,)`` multiplicities (1 for ``g = 0``, 2 otherwise).
    """
    cell = np.asarray(cell, dtype=np.float64)
    # |n_i| ≤ k_max |a_i| / 2π bounds every lattice point inside the sphere
    bounds = [int(np.ceil(k_max * np.linalg.norm(a) / (2.0 * np.pi))) for a in cell]
    axes = [np.arange(-b, b + 1) for b in bounds]
    n = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    # one of each ±n: the first nonzero component positive
    first = np.where(n[:, 0] != 0, n[:, 0], np.where(n[:, 1] != 0, n[:, 1], n[:, 2]))
    n = np.concatenate([np.zeros((1, 3), int), n[first > 0]])
    norms = np.linalg.norm(reciprocal_from_cell(cell, n), axis=1)
    keep = norms <= k_max
    n, norms = n[keep], norms[keep]
    n = n[np.argsort(norms, kind="stable")]
    return n, np.where(np.arange(len(n)) == 0, 1.0, 2.0)


def reciprocal_from_cell(cell, indices):
    """``g = 2π n (cell⁻¹)ᵀ``: reciprocal vectors ``(…, N_g, 3)`` (1/Å) of cells ``(…, 3, 3)``
    (rows are lattice vectors) at integer coordinates ``(…, N_g, 3)``. Works on numpy and JAX
    arrays; with JAX arrays it is differentiable in the cell (stress)."""
    xp = jnp if isinstance(cell, jnp.ndarray) else np
    basis = 2.0 * np.pi * xp.swapaxes(xp.linalg.inv(cell), -1, -2)  # rows b_i, a_i·b_j = 2π δ_ij
    return xp.einsum("...gi,...ix->...gx", xp.asarray(indices, dtype=basis.dtype), basis)


def reciprocal_vectors(cell: np.ndarray, k_max: float) -> tuple[np.ndarray, np.ndarray]:
    """The reciprocal vectors ``(N_g, 3)`` of :func:`reciprocal_indices` and their
    multiplicities."""
    n, multiplicity = reciprocal_indices(cell, k_max)
    return reciprocal_from_cell(np.asarray(cell, dtype=np.float64), n), multiplicity


def reciprocal_norms(g: Float[Array, "*B 3"]) -> Float[Array, " *B"]:
    """``|g|`` with a zero gradient at ``g = 0`` (where ``∂|g|`` is undefined); also used for
    the distances of atom pairs."""
    squared = jnp.sum(g**2, axis=-1)
    return jnp.where(squared > 0, jnp.sqrt(jnp.where(squared > 0, squared, 1.0)), 0.0)


def shell_weights(
    norms: Float[Array, "*B"], frequencies: Float[Array, " K"], envelope_width: float
) -> Float[Array, "*B K"]:
    """``W_k(|g|)`` of the module docstring for every norm and frequency (float dtype of
    ``norms``)."""
    sigma2 = envelope_width**2
    kappa = norms[..., None]
    omega = frequencies
    prefactor = (2.0 * math.pi / sigma2) ** 1.5
    x = kappa * omega / sigma2
    near = jnp.exp(-((kappa - omega) ** 2) / (2.0 * sigma2))
    far = jnp.exp(-((kappa + omega) ** 2) / (2.0 * sigma2))
    safe_x = jnp.where(x > 1e-6, x, 1.0)
    shell = jnp.where(
        x > 1e-6,
        (near - far) / (2.0 * safe_x),
        jnp.exp(-(kappa**2 + omega**2) / (2.0 * sigma2)) * (1.0 + x**2 / 6.0),
    )
    return prefactor * shell


def padded_operands(q, k, v, positions, layout: SegmentLayout) -> tuple[Array, ...]:
    """Queries and keys ``(B, n, K, C)`` (the components of each channel pair ``k`` over
    parities and degrees), values ``(B, n, E)`` and positions ``(B, n, 3)`` in the padded
    per-cell layout."""
    num_atoms, num_pairs = q.shape[0], q.shape[-1] // 2
    qp = to_padded(q.reshape(num_atoms, -1, num_pairs, 2).swapaxes(1, 2), layout)
    kp = to_padded(k.reshape(num_atoms, -1, num_pairs, 2).swapaxes(1, 2), layout)
    return (
        qp.reshape(qp.shape[:3] + (-1,)),
        kp.reshape(kp.shape[:3] + (-1,)),
        to_padded(v.reshape(num_atoms, -1), layout),
        to_padded(positions, layout),
    )


def periodic_attention(
    q: Float[Array, "N P S F"],
    k: Float[Array, "N P S F"],
    v: Float[Array, "N Pv Sv Fv"],
    positions: Float[Array, "N 3"],
    frequencies: Float[Array, " K"],
    segment_ids: Int[Array, " N"],
    num_segments: int,
    reciprocal: Float[Array, "B G 3"],
    multiplicity: Float[Array, "B G"],
    volume: Float[Array, " B"],
    envelope_width: float,
    *,
    max_segment_size: int | None = None,
    layout: SegmentLayout | None = None,
) -> Float[Array, "N Pv Sv Fv"]:
    """Periodic EFA (module docstring) for the periodic structures of a batch.

    Args:
      q: queries ``(N, P, (L+1)², F_qk)``, ``F_qk`` even (channel pairs share a frequency, as
        in :func:`efa.nn.erope_attention`).
      k: keys, shaped like ``q``.
      v: values ``(N, P_v, (L_v+1)², F_v)``.
      positions: ``(N, 3)`` Cartesian positions (Å), anywhere (wrapping into the cell is not
        needed).
      frequencies: ``(F_qk // 2,)`` shell radii ``ω_k`` (1/Å).
      segment_ids: ``(N,)`` structure (cell) of every atom in ``[0, num_segments)``.
      num_segments: number of structures ``B`` (static).
      reciprocal: ``(B, G, 3)`` reciprocal vectors of each cell (:func:`reciprocal_vectors`),
        padded with any vector where ``multiplicity`` is 0.
      multiplicity: ``(B, G)`` multiplicities (0 on padding).
      volume: ``(B,)`` cell volumes (Å³).
      envelope_width: ``σ`` (1/Å) of the Gaussian envelope ``exp(−σ² r²/2)``.
      max_segment_size: largest number of atoms in one structure (static; needed under ``jit``
        when ``num_segments > 1``).
      layout: a precomputed layout of the atoms (e.g.
        :func:`~efa.nn.segments.contiguous_layout` of a padded batch), replacing the one built
        from ``segment_ids``.

    Returns:
      ``(N, P_v, (L_v+1)², F_v)``: the attention output ``y_i``.
    """
    width = math.prod(q.shape[1:])  # D_qk
    if layout is None:
        layout = segment_layout(segment_ids, num_segments, max_segment_size)
    qp, kp, vp, rp = padded_operands(q, k, v, positions, layout)
    phase = jnp.einsum("bgx,bnx->bng", reciprocal, rp)
    cos, sin = jnp.cos(phase), jnp.sin(phase)  # (B, n, G)
    norms = reciprocal_norms(reciprocal)
    weights = shell_weights(norms, frequencies, envelope_width)
    weights = weights * (multiplicity / volume[:, None])[..., None] / math.sqrt(width)  # (B,G,K)
    y = jnp.zeros(vp.shape, vp.dtype)
    for basis in (cos, sin):
        sums = jnp.einsum("bng,bnkc,bne->bgkce", basis, kp, vp)  # Σ_j basis_jg k_j v_jᵀ
        scores = jnp.einsum("bng,bnkc,bgk->bgnkc", basis, qp, weights)
        y = y + jnp.einsum("bgnkc,bgkce->bne", scores, sums)
    return from_padded(y, layout).reshape(v.shape)


def isolated_attention(
    q: Float[Array, "N P S F"],
    k: Float[Array, "N P S F"],
    v: Float[Array, "N Pv Sv Fv"],
    positions: Float[Array, "N 3"],
    frequencies: Float[Array, " K"],
    segment_ids: Int[Array, " N"],
    num_segments: int,
    envelope_width: float,
    *,
    max_segment_size: int | None = None,
    layout: SegmentLayout | None = None,
) -> Float[Array, "N Pv Sv Fv"]:
    """Periodic EFA's kernel for isolated structures (module docstring, "Isolated structures"):

        y_i = (1 / sqrt(D_qk)) Σ_j Σ_k ⟨q_i, k_j⟩_k f_k(r_ij) v_j,
        f_k(r) = j0(ω_k r) exp(−σ² r² / 2),

    ``j`` over the atoms of ``i``'s structure, ``i`` included. Exact, with no quadrature grid;
    work and memory ``∝ n² · F_qk/2`` per structure of ``n`` atoms (molecules and clusters of
    up to a few thousand atoms). Arguments as in :func:`periodic_attention`, without the cells.

    Returns:
      ``(N, P_v, (L_v+1)², F_v)``.
    """
    width = math.prod(q.shape[1:])  # D_qk
    if layout is None:
        layout = segment_layout(segment_ids, num_segments, max_segment_size)
    qp, kp, vp, rp = padded_operands(q, k, v, positions, layout)
    dots = jnp.einsum("bikc,bjkc->bijk", qp, kp)  # ⟨q_i, k_j⟩_k; padding atoms give 0
    distance = reciprocal_norms(rp[:, :, None] - rp[:, None])  # zero gradient at i = j
    phase = distance[..., None] * frequencies
    safe = jnp.where(phase > 0, phase, 1.0)
    j0 = jnp.where(phase > 0, jnp.sin(safe) / safe, 1.0)
    kernel = j0 * jnp.exp(-0.5 * envelope_width**2 * distance**2)[..., None]
    scores = jnp.sum(dots * kernel, axis=-1) / math.sqrt(width)
    y = jnp.einsum("bij,bje->bie", scores, vp)
    return from_padded(y, layout).reshape(v.shape)
