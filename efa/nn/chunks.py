"""Splitting a long axis into equal chunks (grid points and atoms of EFA, neighbour pairs of
messages, atoms of the mesh), and summing or mapping a function over chunks in bounded memory."""

import jax
import jax.numpy as jnp


def equal_chunk_size(total: int, largest: int) -> int:
    """Size of ``⌈total / largest⌉`` equal chunks covering ``total`` items, each ``≤ largest``.

    The last chunk is padded by fewer than ``⌈total / largest⌉`` items, where chunks of exactly
    ``largest`` items could leave almost a whole chunk of padding.
    """
    if total < 1 or largest < 1:
        raise ValueError(f"need total >= 1 and largest >= 1, got total={total}, largest={largest}")
    num_chunks = -(-total // largest)
    return -(-total // num_chunks)


def split_into_chunks(x, size: int, axis: int = 0):
    """Split ``axis`` of ``x`` into ``⌈length / size⌉`` chunks of ``size``, zero-padded at the
    end, on a new leading axis: ``(…, length, …)`` → ``(⌈length / size⌉, …, size, …)``.

    Callers make the padding harmless (zero weights, masked pairs, rows sliced off after).
    """
    axis = axis % x.ndim
    padding = -x.shape[axis] % size
    x = jnp.pad(x, [(0, padding if i == axis else 0) for i in range(x.ndim)])
    x = x.reshape(x.shape[:axis] + (x.shape[axis] // size, size) + x.shape[axis + 1 :])
    return jnp.moveaxis(x, axis, 0)


def sum_over_chunks(term, zeros, chunked_inputs):
    """``Σ_chunks term(*inputs_of_chunk)`` in a ``lax.scan`` under ``jax.checkpoint``.

    ``chunked_inputs`` have a leading chunk axis; ``zeros`` is a pytree of zero arrays shaped
    like what ``term`` returns. One chunk is computed directly, without a loop. Memory is that
    of one chunk's intermediates, also in the backward pass, which recomputes them.
    """
    if chunked_inputs[0].shape[0] == 1:
        return term(*(x[0] for x in chunked_inputs))
    term = jax.checkpoint(term)

    def accumulate(total, inputs):
        return jax.tree.map(jnp.add, total, term(*inputs)), None

    total, _ = jax.lax.scan(accumulate, zeros, chunked_inputs)
    return total


def map_over_chunks(term, chunked_inputs):
    """``term(*inputs_of_chunk)`` for every chunk, stacked on a new leading axis, in a
    ``lax.map`` under ``jax.checkpoint``.

    One chunk is computed directly, without a loop. Memory is that of one chunk's
    intermediates (plus the stacked results), also in the backward pass, which recomputes them.
    """
    if chunked_inputs[0].shape[0] == 1:
        return jax.tree.map(lambda y: y[None], term(*(x[0] for x in chunked_inputs)))
    term = jax.checkpoint(term)
    return jax.lax.map(lambda inputs: term(*inputs), chunked_inputs)
