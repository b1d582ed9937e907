"""The Flax module: projections, frequencies, quadrature bound and tensor integration."""

import math

import e3x
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efa.errors import ConfigError
from efa.nn import EuclideanFastAttention, erope_attention
from tests.nn.oracle import relative_error, rotate_features


def inputs(seed=0, num_atoms=9, dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(num_atoms, 2, 4, 5)), dtype)
    positions = jnp.asarray(rng.uniform(0, 4, size=(num_atoms, 3)), dtype)
    segment_ids = jnp.asarray([0] * 5 + [1] * (num_atoms - 5))
    return x, positions, segment_ids


def apply(module, x, positions, segment_ids, seed=0):
    params = module.init(jax.random.PRNGKey(seed), x, positions, segment_ids, 2)
    return params, module.apply(params, x, positions, segment_ids, 2)


def test_module_without_tensor_integration_is_the_operator(x64):
    module = EuclideanFastAttention(
        qk_features=8,
        v_features=6,
        max_degree_qk=1,
        include_pseudotensors_qk=True,
        max_degree_v=1,
        max_length=12.0,
        param_dtype=jnp.float64,
    )
    x, positions, segment_ids = inputs()
    params, y = apply(module, x, positions, segment_ids)
    assert y.shape == (9, 1, 4, 6)

    # One dense layer "qkv" on x with the larger degree and both parities, then split.
    dense = e3x.nn.Dense(2 * 8 + 6, param_dtype=jnp.float64)
    features_in = e3x.nn.change_max_degree_or_type(x, max_degree=1, include_pseudotensors=True)
    qkv = dense.apply({"params": params["params"]["qkv"]}, features_in)
    q, k, v = qkv[..., :8], qkv[..., 8:16], qkv[..., 16:]
    v = e3x.nn.change_max_degree_or_type(v, max_degree=1, include_pseudotensors=False)
    frequencies = jnp.linspace(0, math.pi, 4) / 12.0
    expected = erope_attention(q, k, v, positions, frequencies, segment_ids, 2)
    np.testing.assert_allclose(y, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("degree_qk", "pseudo_qk", "degree_v"), [(1, False, 1), (0, False, 1), (1, True, 0)]
)
def test_module_is_rotation_equivariant(x64, degree_qk, pseudo_qk, degree_v):
    module = EuclideanFastAttention(
        qk_features=8,
        v_features=3,
        max_degree_qk=degree_qk,
        include_pseudotensors_qk=pseudo_qk,
        max_degree_v=degree_v,
        qk_activation=e3x.nn.gelu,
        max_length=8.0,
        param_dtype=jnp.float64,
    )
    x, positions, segment_ids = inputs(1)
    params, y = apply(module, x, positions, segment_ids)
    assert y.shape == (9, 1, (degree_v + 1) ** 2, 3)
    rotation = e3x.so3.random_rotation(jax.random.PRNGKey(4))
    y_rotated = module.apply(
        params, rotate_features(x, rotation), positions @ rotation, segment_ids, 2
    )
    assert relative_error(y_rotated, rotate_features(y, rotation)) < 1e-5


def test_tensor_integration_module_outputs_vectors(x64):
    module = EuclideanFastAttention(
        qk_features=8,
        v_features=4,
        tensor_integration=True,
        max_degree_sph=1,
        max_degree_out=1,
        rescale_degrees=True,
        max_length=8.0,
        param_dtype=jnp.float64,
    )
    x, positions, segment_ids = inputs(2)
    params, y = apply(module, x, positions, segment_ids)
    assert y.shape == (9, 2, 4, 4)
    assert params["params"]["degree_scale"].shape == (2,)
    rotation = e3x.so3.random_rotation(jax.random.PRNGKey(5))
    y_rotated = module.apply(
        params, rotate_features(x, rotation), positions @ rotation, segment_ids, 2
    )
    assert relative_error(y_rotated[:, 1, 1:], rotate_features(y, rotation)[:, 1, 1:]) < 1e-5


def test_frequencies_fixed_by_default_and_trainable_on_request():
    x, positions, segment_ids = inputs(dtype=jnp.float32)
    fixed, _ = apply(EuclideanFastAttention(qk_features=8), x, positions, segment_ids)
    assert "frequencies" not in fixed["params"]
    trainable, _ = apply(
        EuclideanFastAttention(qk_features=8, trainable_frequencies=True, max_length=5.0),
        x,
        positions,
        segment_ids,
    )
    np.testing.assert_allclose(
        trainable["params"]["frequencies"], np.linspace(0, math.pi, 4) / 5.0, rtol=1e-6
    )


def test_module_refuses_configuration_outside_the_quadrature_bound():
    x, positions, segment_ids = inputs(dtype=jnp.float32)
    module = EuclideanFastAttention(qk_features=8, max_frequency=4 * math.pi, lebedev_num=50)
    with pytest.raises(ConfigError, match="194 points"):
        apply(module, x, positions, segment_ids)
    expert = EuclideanFastAttention(
        qk_features=8,
        max_frequency=4 * math.pi,
        lebedev_num=50,
        unsafe_ignore_quadrature_bound=True,
    )
    _, y = apply(expert, x, positions, segment_ids)
    assert np.isfinite(np.asarray(y)).all()


@pytest.mark.parametrize(
    "options, key",
    [
        (dict(qk_features=7), "qk_features=7"),
        (dict(v_features=0), "v_features=0"),
        (dict(max_length=0.0), "max_length=0.0"),
    ],
)
def test_invalid_options_name_the_key(options, key):
    x, positions, segment_ids = inputs(dtype=jnp.float32)
    with pytest.raises(ConfigError, match=key):
        apply(EuclideanFastAttention(**options), x, positions, segment_ids)
