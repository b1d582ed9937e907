"""Predictions, loss and error sums of an energy model on padded batches.

With the per-element reference energies ``μ_Z`` of the training split
(:mod:`efa.train.reference`), the model ``f_θ`` predicts
``E_s = f_θ(batch)_s + Σ_{i∈s} μ_{Z_i}`` and forces ``F_i = −∂E/∂r_i``. The loss of a batch of
``B'`` real structures is

    L = w_E (1/B') Σ_s (E_s − E_s^ref)² + w_F (1/B') Σ_s (1/(3n_s)) Σ_{i∈s} |F_i − F_i^ref|²
        + w_S (1/B') Σ_s (1/9) Σ_{αβ} (σ_s,αβ − σ_s,αβ^ref)²

(force errors averaged per atom, then per structure, as in the paper). With ``energy_loss:
per_atom`` the energy term is ``w_E (1/B') Σ_s ((E_s − E_s^ref)/n_s)²`` instead: for large
structures whose total energies fluctuate by far more than a model can fit (hundreds of eV over
hundreds of ions), the squared total-energy error would otherwise outweigh the forces at any
useful ``w_E``. The stress term (periodic cells with stress labels, ``w_S > 0``) uses
``σ_s = (1/V_s) ∂E_s/∂ε_s``, the derivative of the energy of cell and atoms strained together
(:func:`strained`), in eV/Å³.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from efa.data.packing import Batch
from efa.models.blocks import structure_energy


class Prediction(NamedTuple):
    """Energies ``(B,)`` (eV), forces ``(N, 3)`` (eV/Å) and, when asked for, stress
    ``(B, 3, 3)`` (eV/Å³) of a batch."""

    energy: Float[Array, " B"]
    forces: Float[Array, "N 3"]
    stress: Float[Array, "B 3 3"] | None = None


class ErrorSums(NamedTuple):
    """Sums over the real structures/atoms of a batch, to be added up over a split.

    ``*_sq`` are squared errors, ``*_abs`` absolute errors; ``energy_*_per_atom`` are those of
    ``ΔE_s / n_s``; ``forces_*`` run over the ``3 n`` Cartesian components;
    ``forces_sq_per_structure`` is Σ_s (1/(3 n_s)) Σ_i |ΔF_i|²;
    ``stress_sq_per_structure`` is Σ_s (1/9) Σ_αβ Δσ_s,αβ² and ``stress_abs`` Σ_s Σ_αβ |Δσ_s,αβ|
    over the ``num_stress`` structures whose stress was predicted (0 otherwise).
    """

    num_structures: Array
    num_components: Array
    energy_sq: Array
    energy_abs: Array
    energy_sq_per_atom: Array
    energy_abs_per_atom: Array
    forces_sq: Array
    forces_abs: Array
    forces_sq_per_structure: Array
    num_stress: Array
    stress_sq_per_structure: Array
    stress_abs: Array


def atoms_per_structure(batch: Batch) -> Float[Array, " B"]:
    """``n_s`` of every structure slot (0 for empty slots)."""
    return jax.ops.segment_sum(
        batch.atom_mask.astype(batch.positions.dtype),
        batch.segment_ids,
        num_segments=batch.num_structures + 1,
    )[:-1]


def predict(
    model: nn.Module,
    params,
    batch: Batch,
    element_energies: Float[Array, " Z"],
    stress: bool = False,
) -> Prediction:
    """Energies ``f_θ + Σ_i μ_{Z_i}``, forces ``−∂E/∂r`` (zero on padding atoms) and, with
    ``stress`` (periodic cells), the stress of :func:`predict_stress` from the same gradient.

    ``element_energies`` has shape ``(119,)``, indexed by atomic number.
    """

    def total_energy(positions, strain):
        inputs = batch._replace(positions=positions)
        energy = model.apply(params, strained(inputs, strain) if stress else inputs)
        energy = jnp.where(batch.structure_mask, energy, 0.0)
        return energy.sum(), energy

    zero = jnp.zeros((batch.num_structures, 3, 3), batch.positions.dtype)
    (gradient, strain_gradient), energy = jax.grad(total_energy, argnums=(0, 1), has_aux=True)(
        batch.positions, zero
    )
    reference = structure_energy(
        jnp.asarray(element_energies, energy.dtype)[batch.atomic_numbers],
        batch.segment_ids,
        batch.atom_mask,
        batch.num_structures,
    )
    energy = energy + reference
    forces = jnp.where(batch.atom_mask[:, None], -gradient, 0.0)
    if not stress:
        return Prediction(energy, forces)
    return Prediction(energy, forces, strain_gradient / cell_volume(batch)[:, None, None])


def cell_volume(batch: Batch) -> Float[Array, " B"]:
    """``|det cell|`` of every structure slot (Å³; empty slots have the unit cube)."""
    return jnp.abs(jnp.linalg.det(batch.cell))


def strained(batch: Batch, strain: Float[Array, "B 3 3"]) -> Batch:
    """``batch`` with every periodic cell and its atoms deformed by ``I + strain[b]`` (row
    vectors: ``r → r (I + ε)``): positions, pair shifts and cells."""
    deform = jnp.eye(3) + strain
    # padding atoms (segment B) stay undeformed; padding pairs have zero shift, so stay zero
    per_atom = jnp.concatenate([deform, jnp.eye(3)[None]])[batch.segment_ids]
    positions = jnp.einsum("nx,nxy->ny", batch.positions, per_atom)
    pair_shift = jnp.einsum("px,pxy->py", batch.pair_shift, per_atom[batch.pair_dst])
    cell = jnp.einsum("bxz,bzy->bxy", batch.cell, deform)
    return batch._replace(positions=positions, pair_shift=pair_shift, cell=cell)


def predict_stress(model: nn.Module, params, batch: Batch) -> Float[Array, "B 3 3"]:
    """Stress ``σ_b = (1/V_b) ∂E_b/∂ε_b`` (eV/Å³, the ASE convention) of the periodic cells of
    a batch (:func:`predict` with ``stress=True``; the reference energies do not depend on the
    strain)."""
    return predict(model, params, batch, jnp.zeros(119), stress=True).stress


def error_sums(prediction: Prediction, batch: Batch) -> ErrorSums:
    """Error sums of one batch against its labels, over real structures and atoms only."""
    num_atoms = atoms_per_structure(batch)
    real = batch.structure_mask
    energy_error = jnp.where(real, prediction.energy - batch.energy, 0.0)
    per_atom = energy_error / jnp.maximum(num_atoms, 1.0)
    force_error = jnp.where(batch.atom_mask[:, None], prediction.forces - batch.forces, 0.0)
    force_sq_atom = jnp.sum(force_error**2, axis=-1)
    force_sq_structure = jax.ops.segment_sum(
        force_sq_atom, batch.segment_ids, num_segments=batch.num_structures + 1
    )[:-1]
    zero = jnp.zeros((), energy_error.dtype)
    stress_counts = (zero, zero, zero)
    if prediction.stress is not None:
        stress_error = jnp.where(real[:, None, None], prediction.stress - batch.stress, 0.0)
        stress_counts = (
            jnp.sum(real),
            jnp.sum(stress_error**2) / 9.0,
            jnp.sum(jnp.abs(stress_error)),
        )
    return ErrorSums(
        num_structures=jnp.sum(real),
        num_components=3 * jnp.sum(batch.atom_mask),
        energy_sq=jnp.sum(energy_error**2),
        energy_abs=jnp.sum(jnp.abs(energy_error)),
        energy_sq_per_atom=jnp.sum(per_atom**2),
        energy_abs_per_atom=jnp.sum(jnp.abs(per_atom)),
        forces_sq=jnp.sum(force_sq_atom),
        forces_abs=jnp.sum(jnp.abs(force_error)),
        forces_sq_per_structure=jnp.sum(
            jnp.where(real, force_sq_structure / jnp.maximum(3.0 * num_atoms, 1.0), 0.0)
        ),
        num_stress=stress_counts[0],
        stress_sq_per_structure=stress_counts[1],
        stress_abs=stress_counts[2],
    )


class LossWeights(NamedTuple):
    """Weights ``w_E``, ``w_F``, ``w_S`` of the loss terms, and whether the energy term uses
    per-atom errors (module docstring)."""

    energy: float
    forces: float
    stress: float = 0.0
    energy_per_atom: bool = False

    @classmethod
    def of(cls, config) -> LossWeights:
        """The weights of a :class:`~efa.runs.config.RunConfig` (``energy_weight``,
        ``forces_weight``, ``stress_weight``, ``energy_loss``)."""
        return cls(
            config.energy_weight,
            config.forces_weight,
            config.stress_weight,
            energy_per_atom=config.energy_loss == "per_atom",
        )


def loss_from_sums(sums: ErrorSums, weights: LossWeights) -> Array:
    """``w_E·MSE(E) + w_F·MSE(F) + w_S·MSE(σ)`` with forces averaged per atom, then per
    structure, and the energy error total or per atom (module docstring)."""
    count = jnp.maximum(sums.num_structures, 1)
    energy_sq = sums.energy_sq_per_atom if weights.energy_per_atom else sums.energy_sq
    total = weights.energy * energy_sq + weights.forces * sums.forces_sq_per_structure
    return (total + weights.stress * sums.stress_sq_per_structure) / count


def add_sums(total: ErrorSums | None, sums: ErrorSums) -> ErrorSums:
    """Accumulate error sums over batches (as Python floats)."""
    sums = ErrorSums(*(float(value) for value in sums))
    if total is None:
        return sums
    return ErrorSums(*(a + b for a, b in zip(total, sums, strict=True)))
