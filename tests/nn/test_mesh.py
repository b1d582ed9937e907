"""Periodic EFA on an FFT mesh against the direct reciprocal sum, in float64."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efa.nn.chunks import equal_chunk_size
from efa.nn.mesh import (
    bspline_weights,
    interpolation_correction,
    mesh_periodic_attention,
    mesh_shape,
)

from .oracle import relative_error
from .test_periodic import CELL, SIGMA, _features, _frequencies, _periodic


def _mesh(
    q, k, v, positions, cell, spacing, order=6, segment_ids=None, cells=None, frequency_block=None
):
    cells = np.asarray(cell)[None] if cells is None else cells
    segment_ids = np.zeros(len(positions), np.int32) if segment_ids is None else segment_ids
    attention = jax.jit(
        mesh_periodic_attention,
        static_argnums=(6, 8, 9),
        static_argnames=("order", "max_segment_size", "frequency_block"),
    )
    return np.asarray(
        attention(
            jnp.asarray(q),
            jnp.asarray(k),
            jnp.asarray(v),
            jnp.asarray(positions),
            jnp.asarray(_frequencies(q.shape[-1] // 2)),
            jnp.asarray(segment_ids),
            len(cells),
            jnp.asarray(cells),
            mesh_shape(cells, spacing),
            SIGMA,
            order=order,
            max_segment_size=len(positions),
            frequency_block=frequency_block,
        )
    )


def test_bspline_weights_are_a_partition_of_unity_and_the_correction_is_even():
    offsets = jnp.linspace(0.0, 0.999, 17)
    for order in (2, 4, 6, 8):
        weights = np.asarray(bspline_weights(offsets, order))
        assert weights.shape == (17, order) and np.all(weights >= 0)
        np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    correction = interpolation_correction(12)
    np.testing.assert_allclose(correction[1:], correction[1:][::-1], rtol=1e-12)  # |b(m)|=|b(−m)|
    assert correction[0] == pytest.approx(1.0)


def test_mesh_shapes_are_fft_friendly_and_cover_the_spacing():
    assert mesh_shape(CELL, 0.5) == (12, 12, 15)  # ⌈6/0.5⌉, ⌈5.63/0.5⌉, ⌈6.43/0.5⌉ = 13 → 15
    assert mesh_shape(np.stack([CELL, 2 * CELL]), 1.0) == (12, 12, 15)  # the largest cell


def test_the_mesh_converges_to_the_direct_reciprocal_sum(x64):
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 1, (5, 3)) @ CELL
    q, k, v = _features(rng, 5)
    direct = _periodic(q, k, v, positions, CELL)
    errors = [
        relative_error(_mesh(q, k, v, positions, CELL, spacing), direct) for spacing in (1.0, 0.5)
    ]
    assert errors[1] < 2e-6  # measured: 3.7e-5 and 4.5e-7
    assert errors[0] / errors[1] > 30  # the error falls like h^p (p = 6)
    fourth_order = relative_error(_mesh(q, k, v, positions, CELL, 0.5, order=4), direct)
    eighth_order = relative_error(_mesh(q, k, v, positions, CELL, 0.5, order=8), direct)
    assert fourth_order < 1e-4 and eighth_order < errors[1] / 20  # measured: 5.6e-5, 6.0e-9


def test_blocks_of_frequencies_give_the_same_sum(x64):
    """One pass over the mesh per block of channel pairs (bounded mesh memory) changes nothing."""
    from efa.nn.mesh import _frequency_block

    rng = np.random.default_rng(2)
    positions = rng.uniform(0, 1, (6, 3)) @ CELL
    q, k, v = _features(rng, 6, pairs=4)
    together = _mesh(q, k, v, positions, CELL, 0.6)
    for block in (1, 2):
        blocked = _mesh(q, k, v, positions, CELL, 0.6, frequency_block=block)
        np.testing.assert_allclose(blocked, together, rtol=1e-12, atol=1e-14)
    assert _frequency_block(8, 2**22, None) == 8  # 2^25 values hold all eight pairs
    assert _frequency_block(8, 2**23, None) == 4
    assert _frequency_block(6, 2**30, None) == 1
    with pytest.raises(ValueError, match="divisor of F_qk / 2 = 6"):
        _frequency_block(6, 1, 4)


def test_atoms_are_taken_in_mesh_order_and_the_outputs_return_to_theirs(x64, monkeypatch):
    """The mesh goes through atoms sorted by cell and mesh point; permuting the input atoms
    permutes the outputs alike (to the order of floating-point sums), also when the sorted atoms
    are cut into several chunks with padding."""
    from efa.nn.mesh import _mesh_order

    rng = np.random.default_rng(3)
    positions = rng.uniform(-1, 2, (9, 3)) @ CELL  # outside the cell too
    q, k, v = _features(rng, 9)
    channels = np.prod(q.shape[1:]) * np.prod(v.shape[1:])  # one pass holds every channel
    monkeypatch.setattr("efa.nn.mesh._CHUNK_VALUES", 2 * 6**3 * int(channels))  # chunks of 2
    chunk_sizes = []

    def recorded_chunk_size(total, largest):
        chunk_sizes.append(equal_chunk_size(total, largest))
        return chunk_sizes[-1]

    monkeypatch.setattr("efa.nn.mesh.equal_chunk_size", recorded_chunk_size)
    shape = mesh_shape(CELL, 0.6)
    fractional = positions @ np.linalg.inv(CELL)
    owner = np.array([1, 0, 1, 0, 0, 1, 1, 0, 0])
    order = np.asarray(_mesh_order(jnp.asarray(fractional), jnp.asarray(owner), shape))
    point = np.floor(fractional * shape).astype(int) % shape
    keys = [(owner[i], *point[i]) for i in order]
    assert keys == sorted(keys)
    permutation = rng.permutation(9)
    outputs = _mesh(q, k, v, positions, CELL, 0.6)
    permuted = _mesh(
        q[permutation], k[permutation], v[permutation], positions[permutation], CELL, 0.6
    )
    np.testing.assert_allclose(permuted, outputs[permutation], rtol=1e-12, atol=1e-14)
    # traced under the patch: five chunks of the nine atoms, the last one padded
    assert chunk_sizes and set(chunk_sizes) == {2}


def test_cells_of_a_batch_share_one_mesh_and_stay_apart(x64):
    """Two different cells in one batch, padded to the larger mesh: each gives its own direct
    sum (no cross-talk between cells)."""
    rng = np.random.default_rng(1)
    other = np.diag([7.0, 6.5, 5.9])
    first = rng.uniform(0, 1, (4, 3)) @ CELL
    second = rng.uniform(0, 1, (3, 3)) @ other
    q, k, v = _features(rng, 7)
    batched = _mesh(
        q,
        k,
        v,
        np.concatenate([first, second]),
        None,
        0.4,
        segment_ids=np.array([0, 0, 0, 0, 1, 1, 1], np.int32),
        cells=np.stack([CELL, other]),
    )
    alone = [
        _periodic(q[:4], k[:4], v[:4], first, CELL),
        _periodic(q[4:], k[4:], v[4:], second, other),
    ]
    assert relative_error(batched[:4], alone[0]) < 1e-6
    assert relative_error(batched[4:], alone[1]) < 1e-6


def test_mesh_forces_and_stress_agree_with_the_direct_sum(x64):
    """Forces and stress of ``E = Σ tanh(y)`` by autodiff through the mesh: equal to central
    differences of the mesh energy (a smooth function) and close to the direct sum's."""
    from efa.nn.periodic import (
        periodic_attention,
        reciprocal_cutoff,
        reciprocal_from_cell,
        reciprocal_indices,
    )

    rng = np.random.default_rng(5)
    positions = jnp.asarray(rng.uniform(0, 1, (4, 3)) @ CELL)
    q, k, v = (jnp.asarray(x) for x in _features(rng, 4))
    frequencies = jnp.asarray(_frequencies())
    shape = mesh_shape(CELL, 0.35)
    indices, multiplicity = reciprocal_indices(CELL, reciprocal_cutoff(1.2, SIGMA))
    segments = jnp.zeros(4, jnp.int32)

    @functools.partial(jax.jit, static_argnums=2)
    def energy(strain, r, on_mesh):
        deform = jnp.eye(3) + strain
        cell = jnp.asarray(CELL) @ deform
        if on_mesh:
            y = mesh_periodic_attention(
                q, k, v, r @ deform, frequencies, segments, 1, cell[None], shape, SIGMA, order=6
            )
        else:
            g = reciprocal_from_cell(cell, jnp.asarray(indices))
            volume = jnp.abs(jnp.linalg.det(cell))[None]
            y = periodic_attention(
                q, k, v, r @ deform, frequencies, segments, 1, g[None],
                jnp.asarray(multiplicity)[None], volume, SIGMA,
            )  # fmt: skip
        return jnp.sum(jnp.tanh(y))

    zero = jnp.zeros((3, 3))
    gradients = {
        on_mesh: jax.grad(energy, (0, 1))(zero, positions, on_mesh) for on_mesh in (True, False)
    }
    strain_gradient, position_gradient = (np.asarray(x) for x in gradients[True])
    for on_mesh_quantity, direct_quantity in zip(gradients[True], gradients[False], strict=True):
        # measured: 7.9e-6 (stress), the derivative of the interpolation error of the values
        assert relative_error(np.asarray(on_mesh_quantity), np.asarray(direct_quantity)) < 3e-5
    h = 1e-5
    for atom, axis in [(0, 0), (3, 2)]:
        step = np.zeros((4, 3))
        step[atom, axis] = h
        numeric = (energy(zero, positions + step, True) - energy(zero, positions - step, True)) / (
            2 * h
        )
        assert position_gradient[atom, axis] == pytest.approx(float(numeric), rel=1e-6, abs=1e-9)
    for a, b in [(0, 0), (1, 2)]:
        step = np.zeros((3, 3))
        step[a, b] = h
        numeric = (energy(jnp.asarray(step), positions, True) - energy(-step, positions, True)) / (
            2 * h
        )
        assert strain_gradient[a, b] == pytest.approx(float(numeric), rel=1e-6, abs=1e-9)
