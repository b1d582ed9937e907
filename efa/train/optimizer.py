"""Optimiser of a run: Adam with exponential learning-rate decay and optional clipping."""

from __future__ import annotations

import optax

from efa.runs.config import RunConfig


def learning_rate_schedule(config: RunConfig) -> optax.Schedule:
    """``η(t) = η₀ (η₁/η₀)^(t/T)``: ``learning_rate`` decays to ``final_learning_rate`` at ``T``.

    ``T`` is ``max_steps``.
    """
    return optax.exponential_decay(
        init_value=config.learning_rate,
        transition_steps=config.max_steps,
        decay_rate=config.final_learning_rate / config.learning_rate,
    )


def make_optimizer(config: RunConfig) -> optax.GradientTransformation:
    """Adam on the schedule, after global-norm clipping if ``gradient_clip`` is set."""
    adam = optax.adam(learning_rate_schedule(config))
    if config.gradient_clip is not None:
        adam = optax.chain(optax.clip_by_global_norm(config.gradient_clip), adam)
    return optax.flatten(adam)
