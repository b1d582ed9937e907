"""A model of your own, benchmarked by the workflow: a learned pair potential.

``E = Σ_s Σ_{i<j within the cutoff} φ(Z_i, Z_j, r_ij) · f_cut(r_ij) + Σ_i β_{Z_i}``, with ``φ`` a
small MLP of Gaussian radial features and element embeddings. It follows the model contract of
:mod:`efa.models.registry` (a Flax module with a ``cutoff``, ``apply(variables, batch)`` → energies
of the batch's structure slots, and optionally a ``receptive_field``), so a configuration names
it as ``examples.my_model:PairMLP``. ``examples/test_my_model.py`` checks that it keeps the
contract with :func:`efa.testing.check_model_contract`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class PairMLP(nn.Module):
    """Learned pair potential (strictly local: it sees nothing beyond ``cutoff``)."""

    cutoff: float = 5.0
    hidden: int = 32
    num_radial: int = 16

    @property
    def receptive_field(self) -> float:
        """A pair potential sees its cutoff and no farther (Å)."""
        return self.cutoff

    @nn.compact
    def __call__(self, batch):
        delta = batch.positions[batch.pair_dst] - batch.positions[batch.pair_src]
        # a safe norm: padding pairs may sit at distance 0
        r = jnp.sqrt(jnp.sum(delta**2, axis=-1) + 1e-12)
        centers = jnp.linspace(0.0, self.cutoff, self.num_radial)
        radial = jnp.exp(-((r[:, None] - centers) ** 2) / (self.cutoff / self.num_radial) ** 2)
        embed = nn.Embed(119, 8)
        elements = embed(batch.atomic_numbers[batch.pair_dst]) + embed(
            batch.atomic_numbers[batch.pair_src]
        )
        x = jnp.concatenate([radial, elements.astype(radial.dtype)], axis=-1)
        x = nn.silu(nn.Dense(self.hidden)(x))
        pair_energy = nn.Dense(1)(nn.silu(nn.Dense(self.hidden)(x)))[:, 0]
        smooth = jnp.where(r < self.cutoff, 0.5 * (jnp.cos(jnp.pi * r / self.cutoff) + 1.0), 0.0)
        pair_energy = jnp.where(batch.pair_mask, 0.5 * pair_energy * smooth, 0.0)
        num_atoms = batch.positions.shape[0]
        atomic = jax.ops.segment_sum(pair_energy, batch.pair_dst, num_segments=num_atoms)
        atomic = atomic + nn.Embed(119, 1)(batch.atomic_numbers)[:, 0].astype(atomic.dtype)
        atomic = jnp.where(batch.atom_mask, atomic, 0.0)
        num_structures = batch.structure_mask.shape[0]
        return jax.ops.segment_sum(atomic, batch.segment_ids, num_segments=num_structures + 1)[:-1]
