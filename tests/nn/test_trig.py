"""sincos: float32 polynomial sine/cosine against float64 numpy, and its derivatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efa.nn.trig import sincos


@pytest.mark.parametrize("limit", [1.0, 100.0, 3e4])
def test_float32_matches_float64_reference(limit):
    rng = np.random.default_rng(0)
    # Random arguments plus every octant boundary n·π/4 in range (rounded to float32), where
    # the rounding n = round(2x/π) switches quadrant or the reduced argument is largest.
    largest = int(limit // (np.pi / 4))
    octants = np.arange(-largest, largest + 1) * (np.pi / 4)
    x = np.concatenate([rng.uniform(-limit, limit, 200_000), octants, [0.0, -0.0]])
    x = x.astype(np.float32)
    sine, cosine = jax.jit(sincos)(jnp.asarray(x))
    assert sine.dtype == cosine.dtype == jnp.float32
    exact = x.astype(np.float64)
    # Within 2 float32 ulps of 1 of the exact value at the float32 argument.
    np.testing.assert_allclose(np.asarray(sine), np.sin(exact), rtol=0, atol=2.4e-7)
    np.testing.assert_allclose(np.asarray(cosine), np.cos(exact), rtol=0, atol=2.4e-7)


def test_float64_uses_exact_functions(x64):
    x = jnp.asarray(np.linspace(-50.0, 50.0, 1001))
    sine, cosine = sincos(x)
    assert sine.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(sine), np.asarray(jnp.sin(x)))
    np.testing.assert_array_equal(np.asarray(cosine), np.asarray(jnp.cos(x)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_derivatives_of_first_and_second_order(x64, dtype):
    x = jnp.asarray(np.linspace(-7.0, 7.0, 57), dtype)
    assert x.dtype == dtype

    def weighted(x):
        sine, cosine = sincos(x)
        return jnp.sum(2.0 * sine - 3.0 * cosine)

    first = jax.grad(weighted)(x)
    second = jax.vmap(jax.grad(jax.grad(lambda y: weighted(y[None]))))(x)
    xs = np.asarray(x, np.float64)
    tolerance = 1e-6 if dtype == jnp.float32 else 1e-12
    np.testing.assert_allclose(first, 2 * np.cos(xs) + 3 * np.sin(xs), atol=tolerance)
    np.testing.assert_allclose(second, -2 * np.sin(xs) + 3 * np.cos(xs), atol=tolerance)
