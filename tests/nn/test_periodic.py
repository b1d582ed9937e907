"""Periodic EFA against an independent real-space image sum, and its invariances, in float64."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from efa.nn.periodic import periodic_attention, reciprocal_cutoff, reciprocal_vectors

from .oracle import relative_error

SIGMA = 0.35  # envelope width (1/Å): the image sum converges within ~8/σ ≈ 23 Å
CELL = np.array([[6.0, 0.0, 0.0], [1.2, 5.5, 0.0], [0.7, -0.9, 6.3]])  # triclinic


def _features(rng, count, pairs=3, values=4, degree_components=1):
    q = rng.normal(size=(count, 1, degree_components, 2 * pairs))
    k = rng.normal(size=(count, 1, degree_components, 2 * pairs))
    v = rng.normal(size=(count, 1, 1, values))
    return q, k, v


def _frequencies(pairs=3):
    return np.linspace(0.0, 1.2, pairs)


def _periodic(q, k, v, positions, cell, frequencies=None, sigma=SIGMA):
    frequencies = _frequencies(q.shape[-1] // 2) if frequencies is None else frequencies
    g, multiplicity = reciprocal_vectors(cell, reciprocal_cutoff(frequencies.max(), sigma))
    return np.asarray(
        periodic_attention(
            jnp.asarray(q),
            jnp.asarray(k),
            jnp.asarray(v),
            jnp.asarray(positions),
            jnp.asarray(frequencies),
            jnp.zeros(len(positions), jnp.int32),
            1,
            jnp.asarray(g)[None],
            jnp.asarray(multiplicity)[None],
            jnp.asarray([abs(np.linalg.det(cell))]),
            sigma,
        )
    )


def real_space_oracle(q, k, v, positions, cell, frequencies, sigma, images=6):
    """``y_i = Σ_j Σ_k ⟨q_i, k_j⟩_k Σ_R j0(ω_k |r_ij + R|) exp(−σ²|r_ij + R|²/2) v_j / √D``
    by direct summation over lattice vectors ``R`` (no reciprocal space)."""
    count, pairs = q.shape[0], q.shape[-1] // 2
    dots = np.einsum(
        "icka,jcka->ijk", q.reshape(count, -1, pairs, 2), k.reshape(count, -1, pairs, 2)
    )
    n = np.arange(-images, images + 1)
    lattice = np.stack(np.meshgrid(n, n, n, indexing="ij"), -1).reshape(-1, 3) @ cell
    kernel = np.zeros((count, count, pairs))
    for i in range(count):
        for j in range(count):
            r = np.linalg.norm(positions[i] - positions[j] + lattice, axis=1)
            envelope = np.exp(-(sigma**2) * r**2 / 2)
            for p, omega in enumerate(frequencies):
                x = omega * r
                j0 = np.where(x > 0, np.sin(x) / np.where(x > 0, x, 1.0), 1.0)
                kernel[i, j, p] = np.sum(j0 * envelope)
    attention = np.sum(dots * kernel, axis=-1)
    width = np.prod(q.shape[1:])
    return (attention @ v.reshape(count, -1)).reshape(v.shape) / math.sqrt(width)


def test_reciprocal_sum_equals_the_real_space_image_sum(x64):
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 1, (5, 3)) @ CELL
    q, k, v = _features(rng, 5)
    frequencies = _frequencies()
    expected = real_space_oracle(q, k, v, positions, CELL, frequencies, SIGMA)
    assert relative_error(_periodic(q, k, v, positions, CELL), expected) < 1e-10


def test_reciprocal_vectors_cover_the_sphere_once():
    g, multiplicity = reciprocal_vectors(CELL, 2.5)
    assert np.all(g[0] == 0) and multiplicity[0] == 1 and np.all(multiplicity[1:] == 2)
    full = np.concatenate([g, -g[1:]])
    assert len({tuple(np.round(x, 9)) for x in full}) == len(full)  # ±g never both listed
    brute = 2 * np.pi * np.linalg.inv(CELL).T
    n = np.arange(-8, 9)
    lattice = np.stack(np.meshgrid(n, n, n, indexing="ij"), -1).reshape(-1, 3) @ brute
    assert len(full) == np.sum(np.linalg.norm(lattice, axis=1) <= 2.5)


def test_translation_wrapping_and_choice_of_unit_cell(x64):
    rng = np.random.default_rng(1)
    positions = rng.uniform(0, 1, (6, 3)) @ CELL
    q, k, v = _features(rng, 6)
    reference = _periodic(q, k, v, positions, CELL)
    shifted = positions + rng.normal(size=3) * 3.0
    assert relative_error(_periodic(q, k, v, shifted, CELL), reference) < 1e-11
    wrapped = positions.copy()
    wrapped[2] += CELL[0] - 2 * CELL[2]  # an atom moved by a lattice vector: the same crystal
    assert relative_error(_periodic(q, k, v, wrapped, CELL), reference) < 1e-11
    other_cell = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]]) @ CELL  # det 1: the same lattice
    assert relative_error(_periodic(q, k, v, positions, other_cell), reference) < 1e-11


def test_rotating_cell_and_atoms_together(x64):
    rng = np.random.default_rng(2)
    positions = rng.uniform(0, 1, (5, 3)) @ CELL
    q, k, v = _features(rng, 5)  # scalar features: invariant under rotation
    rotation = Rotation.random(random_state=3).as_matrix()
    rotated = _periodic(q, k, v, positions @ rotation.T, CELL @ rotation.T)
    assert relative_error(rotated, _periodic(q, k, v, positions, CELL)) < 1e-11


def test_a_supercell_gives_the_same_output_per_atom_and_eight_times_the_sum(x64):
    rng = np.random.default_rng(4)
    positions = rng.uniform(0, 1, (4, 3)) @ CELL
    q, k, v = _features(rng, 4)
    primitive = _periodic(q, k, v, positions, CELL)
    shifts = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3) @ CELL
    big = np.concatenate([positions + shift for shift in shifts])
    tile = lambda x: np.concatenate([x] * 8)  # noqa: E731
    supercell = _periodic(tile(q), tile(k), tile(v), big, 2 * CELL)
    assert relative_error(supercell, tile(primitive)) < 1e-10
    energy = lambda y: float(np.sum(np.tanh(y)))  # noqa: E731  any sum of atomic terms
    assert energy(supercell) / energy(primitive) == pytest.approx(8.0, rel=1e-9)


def test_forces_and_stress_equal_finite_differences(x64):
    """Forces ``−∂E/∂r`` and stress ``(1/V) ∂E/∂ε`` (cell and atoms strained together) of
    ``E = Σ tanh(y)`` by autodiff, against central differences."""
    import jax

    from efa.nn.periodic import reciprocal_from_cell, reciprocal_indices

    rng = np.random.default_rng(5)
    positions = jnp.asarray(rng.uniform(0, 1, (4, 3)) @ CELL)
    q, k, v = (jnp.asarray(x) for x in _features(rng, 4))
    frequencies = jnp.asarray(_frequencies())
    indices, multiplicity = reciprocal_indices(CELL, reciprocal_cutoff(1.2, SIGMA))

    def energy(strain, r):
        deform = jnp.eye(3) + strain
        cell = jnp.asarray(CELL) @ deform
        g = reciprocal_from_cell(cell, jnp.asarray(indices))
        y = periodic_attention(
            q,
            k,
            v,
            r @ deform,
            frequencies,
            jnp.zeros(4, jnp.int32),
            1,
            g[None],
            jnp.asarray(multiplicity)[None],
            jnp.abs(jnp.linalg.det(cell))[None],
            SIGMA,
        )
        return jnp.sum(jnp.tanh(y))

    zero = jnp.zeros((3, 3))
    volume = abs(np.linalg.det(CELL))
    stress = np.asarray(jax.jit(jax.grad(energy, 0))(zero, positions)) / volume
    forces = -np.asarray(jax.jit(jax.grad(energy, 1))(zero, positions))
    energy = jax.jit(energy)  # 2 × 21 evaluations below; eager JAX runs op by op
    h = 1e-5
    numeric_stress = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            step = np.zeros((3, 3))
            step[a, b] = h
            numeric_stress[a, b] = (
                energy(jnp.asarray(step), positions) - energy(jnp.asarray(-step), positions)
            ) / (2 * h * volume)
    numeric_forces = np.zeros((4, 3))
    for i in range(4):
        for x in range(3):
            step = np.zeros((4, 3))
            step[i, x] = h
            numeric_forces[i, x] = -(
                energy(zero, positions + step) - energy(zero, positions - step)
            ) / (2 * h)
    assert relative_error(stress, numeric_stress) < 1e-7
    assert relative_error(forces, numeric_forces) < 1e-7
    np.testing.assert_allclose(stress, stress.T, atol=1e-9 * np.abs(stress).max())


def test_isolated_structures_get_the_periodic_kernel_of_a_cell_with_no_images_in_reach(x64):
    """A cluster in a cubic cell wide enough that its images lie beyond the envelope (40 Å of
    vacuum: ``exp(−σ² r²/2)`` < 1e-40) gives the periodic sum; the isolated evaluation must give
    the same outputs, and so must the real-space oracle with only ``R = 0``, for every
    structure of a batch."""
    from efa.nn.periodic import isolated_attention

    rng = np.random.default_rng(3)
    sizes = (6, 4)
    positions = rng.uniform(0, 5.0, (sum(sizes), 3))
    q, k, v = _features(rng, sum(sizes), degree_components=4)
    frequencies = _frequencies()
    segment_ids = np.repeat(np.arange(len(sizes)), sizes)
    isolated = np.asarray(
        isolated_attention(
            *(jnp.asarray(x) for x in (q, k, v, positions, frequencies, segment_ids)),
            len(sizes),
            SIGMA,
            max_segment_size=max(sizes),
        )
    )
    box = np.eye(3) * 45.0
    for structure in range(len(sizes)):
        atoms = segment_ids == structure
        args = (q[atoms], k[atoms], v[atoms], positions[atoms])
        in_box = _periodic(*args, box)
        assert relative_error(isolated[atoms], in_box) < 1e-10
        alone = real_space_oracle(*args, box, frequencies, SIGMA, images=0)
        assert relative_error(isolated[atoms], alone) < 1e-12


def test_enveloped_molecular_kernel_is_a_model_option(x64):
    """``molecular_kernel: enveloped`` changes what a molecule gets; a bad value names itself."""
    import jax

    from efa.errors import ConfigError
    from efa.nn.attention import EuclideanFastAttention

    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(5, 1, 1, 8)))
    positions = jnp.asarray(rng.uniform(0, 4.0, (5, 3)))
    segments = jnp.zeros(5, jnp.int32)
    outputs = {}
    for kernel in ("shell", "enveloped"):
        layer = EuclideanFastAttention(qk_features=4, v_features=3, molecular_kernel=kernel)
        params = layer.init(jax.random.PRNGKey(0), x, positions, segments, 1)
        outputs[kernel] = np.asarray(layer.apply(params, x, positions, segments, 1))
    assert outputs["enveloped"].shape == outputs["shell"].shape
    assert relative_error(outputs["enveloped"], outputs["shell"]) > 1e-3
    with pytest.raises(ConfigError, match="molecular_kernel='gaussian'"):
        EuclideanFastAttention(molecular_kernel="gaussian").check_options()
    with pytest.raises(ConfigError, match="not available with tensor_integration"):
        layer = EuclideanFastAttention(molecular_kernel="enveloped", tensor_integration=True)
        layer.check_options()
