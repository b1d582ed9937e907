"""Splitting a long axis into equal chunks (grid points of EFA, neighbour pairs of messages)."""


def equal_chunk_size(total: int, largest: int) -> int:
    """Size of ``⌈total / largest⌉`` equal chunks covering ``total`` items, each ``≤ largest``.

    The last chunk is padded by fewer than ``⌈total / largest⌉`` items, where chunks of exactly
    ``largest`` items could leave almost a whole chunk of padding.
    """
    if total < 1 or largest < 1:
        raise ValueError(f"need total >= 1 and largest >= 1, got total={total}, largest={largest}")
    num_chunks = -(-total // largest)
    return -(-total // num_chunks)
