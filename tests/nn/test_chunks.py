"""``efa.nn.chunks``: equal chunk sizes and splitting an axis into chunks."""

import numpy as np
import pytest

from efa.nn.chunks import equal_chunk_size, map_over_chunks, split_into_chunks


@pytest.mark.parametrize(
    ("total", "largest", "expected"),
    [(39_300, 16_384, 13_100), (132, 20, 19), (25, 25, 25), (25, 100, 25), (7, 1, 1)],
)
def test_chunks_are_equal_and_at_most_the_largest(total, largest, expected):
    size = equal_chunk_size(total, largest)
    assert size == expected
    num_chunks = -(-total // size)
    assert size <= largest and num_chunks == -(-total // largest)
    assert num_chunks * size - total < num_chunks  # padding: less than one item per chunk


def test_empty_axis_is_refused():
    with pytest.raises(ValueError, match="total=0"):
        equal_chunk_size(0, 5)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_split_into_chunks_pads_with_zeros_and_keeps_the_order(axis):
    x = np.arange(1, 2 * 7 * 3 + 1, dtype=np.float32).reshape(2, 7, 3)
    chunks = np.asarray(split_into_chunks(x, 3, axis=axis))
    length = x.shape[axis]
    num_chunks = -(-length // 3)
    split = axis % x.ndim
    assert chunks.shape == (num_chunks,) + x.shape[:split] + (3,) + x.shape[split + 1 :]
    joined = np.concatenate(list(chunks), axis=axis)  # the chunks in order, then the padding
    np.testing.assert_array_equal(np.take(joined, np.arange(length), axis=axis), x)
    assert not np.take(joined, np.arange(length, 3 * num_chunks), axis=axis).any()


@pytest.mark.parametrize("size", [3, 7])  # three chunks through lax.map, or one computed directly
def test_map_over_chunks_stacks_the_results_of_every_chunk(size):
    import jax
    import jax.numpy as jnp

    x = np.arange(7.0)
    chunks = (split_into_chunks(x, size), split_into_chunks(2 * x, size))
    mapped = map_over_chunks(lambda a, b: jnp.stack([a * b, a + b]), chunks)
    assert mapped.shape == (chunks[0].shape[0], 2, size)
    flat = np.asarray(jnp.moveaxis(mapped, 1, 0).reshape(2, -1))[:, :7]
    np.testing.assert_array_equal(flat, [2 * x * x, 3 * x])
    gradient = jax.grad(lambda a: map_over_chunks(lambda c: jnp.sin(c), (a,)).sum())(chunks[0])
    np.testing.assert_allclose(gradient, np.cos(chunks[0]), rtol=1e-6)
