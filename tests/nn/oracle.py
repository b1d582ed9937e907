"""Independent references for EFA: the exact pairwise form and e3x feature rotations."""

import e3x
import jax.numpy as jnp
import numpy as np


def pairwise_efa(q, k, v, positions, frequencies, segment_ids):
    """Brute-force O(N²) EFA: ``y_i = Σ_j Σ_k ⟨q_i, k_j⟩_k j0(ω_k r_ij) v_j / sqrt(D_qk)``.

    ``⟨q_i, k_j⟩_k`` sums over channel pair ``k`` and all parity/degree components; the sum
    over ``j`` includes ``j = i`` and is restricted to atoms of the same segment.
    """
    num_atoms = q.shape[0]
    num_pairs = q.shape[-1] // 2
    width = np.prod(q.shape[1:])
    dots = jnp.einsum(
        "icka,jcka->ijk",
        q.reshape(num_atoms, -1, num_pairs, 2),
        k.reshape(num_atoms, -1, num_pairs, 2),
    )
    difference = positions[:, None] - positions[None]
    squared = jnp.sum(difference**2, axis=-1)
    safe = jnp.sqrt(jnp.where(squared > 0, squared, 1.0))
    distance = jnp.where(squared > 0, safe, 0.0)
    phase = frequencies[None, None] * distance[..., None]
    safe_phase = jnp.where(phase > 0, phase, 1.0)
    j0 = jnp.where(phase > 0, jnp.sin(safe_phase) / safe_phase, 1.0)
    same = segment_ids[:, None] == segment_ids[None]
    attention = jnp.where(same, jnp.sum(dots * j0, axis=-1), 0.0)
    return (attention @ v.reshape(num_atoms, -1)).reshape(v.shape) / np.sqrt(width)


def rotate_features(x, rotation):
    """Rotate e3x features ``(…, P, (L+1)², F)`` for positions rotated as ``r @ rotation``."""
    degree = int(np.sqrt(x.shape[-2])) - 1
    wigner = e3x.so3.wigner_d(rotation, max_degree=degree)
    return jnp.einsum("...psf,st->...ptf", x, wigner)


def relative_error(actual, expected):
    """``‖actual − expected‖ / ‖expected‖`` over all entries."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))
