"""The factored message pass against e3x's ``MessagePass`` on e3x's pair basis (float64)."""

import functools

import e3x
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efa.models.blocks import pair_radial_angular
from efa.models.message_passing import MessagePass, coupling_paths
from efa.testing import random_rotation

NUM_ATOMS, NUM_BASIS, FEATURES, CUTOFF = 7, 5, 6, 3.0

#: (filter degree, feature degree, feature parity channels, output degree, pseudotensors)
CASES = [
    pytest.param((0, 0, 1, 0, False), marks=pytest.mark.extended),  # in each case below
    (1, 0, 1, 1, False),  # first layer of a degree-1 model
    (1, 1, 1, 0, False),  # last layer of a degree-1 model
    (2, 2, 1, 2, False),  # cumulene
    pytest.param((1, 1, 1, 1, True), marks=pytest.mark.extended),  # the next case has more
    (1, 1, 2, 1, True),  # two channels everywhere
    (2, 1, 2, 0, True),
]


def _inputs(rng, feature_degree, feature_parities):
    positions = jnp.asarray(rng.uniform(-2.0, 2.0, (NUM_ATOMS, 3)))
    dst, src = np.nonzero(~np.eye(NUM_ATOMS, dtype=bool))
    mask = np.ones(len(dst), bool)
    mask[-3:] = False  # padding pairs carry no message
    shape = (NUM_ATOMS, feature_parities, (feature_degree + 1) ** 2, FEATURES)
    return positions, jnp.asarray(dst), jnp.asarray(src), jnp.asarray(mask), rng.normal(size=shape)


def _reference(x, positions, dst, src, mask, degree_y, out_degree, pseudotensors):
    basis = e3x.nn.basis(
        positions[src] - positions[dst],
        max_degree=degree_y,
        num=NUM_BASIS,
        radial_fn=e3x.nn.reciprocal_bernstein,
        cutoff_fn=functools.partial(e3x.nn.smooth_cutoff, cutoff=CUTOFF),
    )
    basis = jnp.where(mask[:, None, None, None], basis, 0.0)
    module = e3x.nn.MessagePass(max_degree=out_degree, include_pseudotensors=pseudotensors)
    return module, (x, basis), dict(dst_idx=dst, src_idx=src, num_segments=NUM_ATOMS)


@pytest.mark.parametrize("case", CASES)
def test_factored_message_pass_equals_e3x(case, x64):
    """Same parameter tree, same initial values, same messages and gradients (1e-12)."""
    degree_y, feature_degree, feature_parities, out_degree, pseudotensors = case
    rng = np.random.default_rng(sum(case))
    positions, dst, src, mask, x = _inputs(rng, feature_degree, feature_parities)
    reference, args, kwargs = _reference(
        x, positions, dst, src, mask, degree_y, out_degree, pseudotensors
    )
    key = jax.random.PRNGKey(3)
    params = jax.jit(functools.partial(reference.init, **kwargs))(key, *args)
    ours = MessagePass(max_degree=out_degree, include_pseudotensors=pseudotensors)

    def factored(params, x, positions):
        radial, harmonics = pair_radial_angular(
            positions, dst, src, mask, max_degree=degree_y, num_basis=NUM_BASIS, cutoff=CUTOFF
        )
        return ours.apply(params, x, radial, harmonics, dst, src, NUM_ATOMS)

    def e3x_messages(params, x, positions):
        _, (x, basis), _ = _reference(
            x, positions, dst, src, mask, degree_y, out_degree, pseudotensors
        )
        return reference.apply(params, x, basis, **kwargs)

    radial, harmonics = pair_radial_angular(
        positions, dst, src, mask, max_degree=degree_y, num_basis=NUM_BASIS, cutoff=CUTOFF
    )
    own_params = jax.jit(ours.init, static_argnums=6)(
        key, x, radial, harmonics, dst, src, NUM_ATOMS
    )
    assert jax.tree.structure(own_params) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(own_params), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
    # Random weights on every path, including those parity forbids (they must stay unused).
    params = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params)
    expected = jax.jit(e3x_messages)(params, x, positions)
    got = jax.jit(factored)(params, x, positions)
    assert got.shape == expected.shape
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())

    def loss(function):
        return lambda p, x, r: jnp.sum(jnp.sin(function(p, x, r)))

    # compiled: op-by-op dispatch of e3x's many small operations costs more than compiling them
    gradients = jax.jit(jax.grad(loss(factored), argnums=(0, 1, 2)))(params, x, positions)
    reference_gradients = jax.jit(jax.grad(loss(e3x_messages), argnums=(0, 1, 2)))(
        params, x, positions
    )
    for a, b in zip(jax.tree.leaves(gradients), jax.tree.leaves(reference_gradients), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-11 * max(1.0, np.abs(b).max()))


def test_messages_are_equivariant(x64):
    """Rotating the atoms rotates degree-1 messages by the rotation (Cartesian order)."""
    rng = np.random.default_rng(5)
    positions, dst, src, mask, x = _inputs(rng, 1, 1)
    x[:, :, 1:] = 0.0  # scalar inputs only, so the rotation acts on the positions alone
    module = MessagePass(max_degree=1)
    rotation = jnp.asarray(random_rotation(rng))

    def messages(params, positions):
        radial, harmonics = pair_radial_angular(
            positions, dst, src, mask, max_degree=1, num_basis=NUM_BASIS, cutoff=CUTOFF
        )
        return module.apply(params, x, radial, harmonics, dst, src, NUM_ATOMS)

    radial, harmonics = pair_radial_angular(
        positions, dst, src, mask, max_degree=1, num_basis=NUM_BASIS, cutoff=CUTOFF
    )
    params = module.init(jax.random.PRNGKey(0), x, radial, harmonics, dst, src, NUM_ATOMS)
    before = messages(params, positions)
    after = messages(params, positions @ rotation.T)
    np.testing.assert_allclose(after[:, :, 0], before[:, :, 0], atol=1e-12)
    rotated = jnp.einsum("ab,nbf->naf", rotation, before[:, 0, 1:])
    np.testing.assert_allclose(after[:, 0, 1:], rotated, atol=1e-12)


def test_coupling_paths_follow_parity_and_the_triangle_rule():
    """Scalars ⊗ vectors give vectors only; with one channel, vector ⊗ vector gives scalars and
    rank-2 tensors but no vector; with two channels their cross product is a pseudovector, an
    even-parity degree-1 component (channel 0), never a vector (channel 1)."""
    first_layer = coupling_paths(1, 0, 1, 1, 1)
    assert {p.kernel_index for p in first_layer} == {(0, 0, 0, 0, 0, 0), (0, 1, 0, 0, 0, 1)}
    one_channel = {p.kernel_index[1:] for p in coupling_paths(1, 1, 1, 2, 1)}
    assert (1, 0, 1, 0, 1) not in one_channel  # vector × vector → vector breaks parity
    assert {(1, 0, 1, 0, 0), (1, 0, 1, 0, 2)} <= one_channel
    two_channels = {p.kernel_index[1:] for p in coupling_paths(1, 1, 2, 1, 2)}
    assert (1, 1, 1, 0, 1) in two_channels  # vector × vector → pseudovector (even channel)
    assert (1, 1, 1, 1, 1) not in two_channels
