"""``efa.nn.chunks.equal_chunk_size``."""

import pytest

from efa.nn.chunks import equal_chunk_size


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
