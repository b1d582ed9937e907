"""The model contract as reusable checks, for the built-in models and for your own.

A model named in a configuration (``package.module:Class``, see :mod:`efa.models.registry`) is
trained and evaluated like the built-in ones only if it keeps the contract. Call
:func:`check_model_contract` from your own test to check it in float64 on random molecules::

    from efa.testing import check_model_contract

    def test_my_model_keeps_the_contract():
        check_model_contract("mypackage.models:MyModel", {"cutoff": 5.0, "hidden": 16})

Checks (each raises ``AssertionError`` with what failed):

- **symmetry**: the energy is invariant and the forces equivariant under a random rotation
  (with reflection) and translation; permuting the atoms permutes the forces;
- **gradient**: forces equal ``−∂E/∂r`` by central finite differences;
- **padding and batching**: another structure in the same batch and padding atoms change
  nothing, and padding atoms get no force;
- **receptive field**: for a model that declares a finite ``receptive_field`` R (Å), the force
  on the first atom of a chain (neighbours closer than the cutoff) does not change when an atom
  farther than 2R from it moves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Padded shape of every evaluation: up to 3 structures of up to 8 atoms, 64 pair slots.
SLOTS, MAX_ATOMS, MAX_PAIRS = 3, 8, 64


class ContractModel:
    """A model built from the registry with float64 parameters, evaluated on padded batches.

    Args:
      name: built-in name or import path ``package.module:Class``.
      options: the model's keyword options.
      seed: PRNG seed of the parameters.
    """

    def __init__(self, name: str, options: Mapping[str, Any] | None = None, seed: int = 0):
        import jax
        import jax.numpy as jnp

        from efa.data.packing import BucketShape
        from efa.models.registry import build_model
        from efa.train.objective import predict
        from efa.train.reference import zero_element_energies

        self.model = build_model(name, options)
        self.cutoff = float(self.model.cutoff)
        self.shape = BucketShape(MAX_ATOMS, MAX_PAIRS)
        positions, numbers = random_molecule(np.random.default_rng(seed), 5)
        with jax.enable_x64(True):
            batch = self._batch([positions], [numbers])
            params = jax.jit(self.model.init)(jax.random.PRNGKey(seed), batch)
            self.params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
        model, references = self.model, zero_element_energies()
        self._predict = jax.jit(lambda p, b: predict(model, p, b, references))

    def _batch(
        self,
        positions: Sequence[np.ndarray],
        numbers: Sequence[np.ndarray],
        charges: Sequence[int] | None = None,
        max_atoms: int = MAX_ATOMS,
    ):
        from efa.data.packing import BucketShape, pack
        from efa.data.schema import pad_atoms
        from efa.data.structures import Structures

        count = len(positions)
        mask = np.zeros((count, max(len(p) for p in positions)), bool)
        for index, p in enumerate(positions):
            mask[index, : len(p)] = True
        structures = Structures(
            positions=pad_atoms([np.asarray(p, np.float64) for p in positions]),
            atomic_numbers=pad_atoms([np.asarray(z) for z in numbers]).astype(np.int32),
            atom_mask=mask,
            energy=np.zeros(count),
            forces=np.zeros((count, mask.shape[1], 3)),
            total_charge=np.asarray(charges if charges is not None else [0] * count, np.int32),
        )
        shape = (
            self.shape
            if max_atoms == MAX_ATOMS
            else BucketShape(max_atoms, max_atoms * (max_atoms - 1))
        )
        return pack(structures, shape, SLOTS, self.cutoff, dtype=np.float64)

    def energy_forces(
        self,
        positions: Sequence[np.ndarray],
        numbers: Sequence[np.ndarray],
        max_atoms: int = MAX_ATOMS,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Energies ``(S,)`` and forces ``(S, max_atoms, 3)`` of up to :data:`SLOTS` structures
        of up to ``max_atoms`` atoms each."""
        import jax

        with jax.enable_x64(True):
            batch = self._batch(positions, numbers, max_atoms=max_atoms)
            prediction = self._predict(self.params, batch)
            forces = np.asarray(prediction.forces).reshape(SLOTS, max_atoms, 3)
            return np.asarray(prediction.energy)[: len(positions)], forces[: len(positions)]


def random_molecule(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` atoms in a 3 Å box (some pairs beyond a 3 Å cutoff), elements H, C, O."""
    return rng.uniform(0, 3.0, (count, 3)), rng.choice([1, 6, 8], count)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal 3×3 matrix (a rotation, possibly with a reflection)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def check_symmetry(model: ContractModel, rng: np.random.Generator) -> None:
    """Energy invariant, forces equivariant under rotation, reflection, translation, permutation."""
    positions, numbers = random_molecule(rng, 6)
    energy, forces = model.energy_forces([positions], [numbers])
    assert np.all(np.isfinite(energy)), f"energy is not finite: {energy}"
    rotation, shift = random_rotation(rng), rng.normal(size=3) * 5.0
    moved_energy, moved_forces = model.energy_forces([positions @ rotation.T + shift], [numbers])
    np.testing.assert_allclose(
        moved_energy,
        energy,
        rtol=1e-7,
        atol=1e-9,
        err_msg="energy changes under rotation and translation",
    )
    np.testing.assert_allclose(
        moved_forces[0, :6],
        forces[0, :6] @ rotation.T,
        rtol=1e-6,
        atol=1e-8,
        err_msg="forces do not rotate with the molecule",
    )
    order = rng.permutation(6)
    permuted_energy, permuted_forces = model.energy_forces([positions[order]], [numbers[order]])
    np.testing.assert_allclose(
        permuted_energy,
        energy,
        rtol=1e-10,
        atol=1e-12,
        err_msg="energy changes when the atoms are permuted",
    )
    np.testing.assert_allclose(
        permuted_forces[0, :6],
        forces[0, :6][order],
        rtol=1e-9,
        atol=1e-12,
        err_msg="forces are not permuted with the atoms",
    )


def check_gradient(model: ContractModel, rng: np.random.Generator, step: float = 1e-5) -> None:
    """Forces equal ``−∂E/∂r`` by central finite differences (three components)."""
    positions, numbers = random_molecule(rng, 5)
    _, forces = model.energy_forces([positions], [numbers])
    for atom, axis in [(0, 0), (2, 1), (4, 2)]:
        plus, minus = positions.copy(), positions.copy()
        plus[atom, axis] += step
        minus[atom, axis] -= step
        energies, _ = model.energy_forces([plus, minus], [numbers, numbers])
        numeric = -(energies[0] - energies[1]) / (2 * step)
        np.testing.assert_allclose(
            forces[0, atom, axis],
            numeric,
            rtol=1e-6,
            atol=1e-8,
            err_msg=f"force on atom {atom}, axis {axis} is not -dE/dr",
        )


def check_padding(model: ContractModel, rng: np.random.Generator) -> None:
    """Batch neighbours and padding change nothing; padding atoms get no force."""
    first, second = random_molecule(rng, 4), random_molecule(rng, 6)
    alone, forces_alone = model.energy_forces([first[0]], [first[1]])
    together, forces_together = model.energy_forces([first[0], second[0]], [first[1], second[1]])
    np.testing.assert_allclose(
        together[0],
        alone[0],
        rtol=1e-10,
        err_msg="another structure in the batch changes the energy",
    )
    np.testing.assert_allclose(
        forces_together[0, :4],
        forces_alone[0, :4],
        rtol=1e-9,
        atol=1e-12,
        err_msg="another structure in the batch changes the forces",
    )
    assert np.all(forces_together[0, 4:] == 0.0), "padding atoms get a force"


def check_receptive_field(model: ContractModel, rng: np.random.Generator) -> None:
    """With a finite declared receptive field R: moving an atom farther than 2R from the first
    atom of a chain leaves the force on that first atom exactly unchanged.

    Neighbours along the chain are closer than the cutoff, so messages travel along it: an
    atom's energy ``E_j`` depends on the atoms within R of atom j, and the force
    ``F_0 = −Σ_j ∂E_j/∂r_0`` on the atoms within 2R of atom 0. A model that declares less than
    it sees (a local model with T interactions of cutoff r_c declaring r_c instead of T·r_c)
    fails, because the moved atom is then within its true 2R.
    """
    reach = getattr(model.model, "receptive_field", None)
    if reach is None or not math.isfinite(float(reach)):
        return  # global or undeclared: nothing to honour
    spacing = 0.8 * min(model.cutoff, float(reach))
    count = int(2 * float(reach) / spacing) + 3  # the last atom lies beyond 2R + spacing/2
    chain = np.array([[i * spacing, 0.25 * (i % 2), 0.1 * (i % 3)] for i in range(count)])
    numbers = rng.choice([1, 6, 8], size=count)
    moved = chain.copy()
    moved[-1] += [0.2, 0.15, -0.1]
    _, forces = model.energy_forces([chain, moved], [numbers, numbers], max_atoms=count)
    change = float(np.abs(forces[1, 0] - forces[0, 0]).max())
    assert change == 0.0, (
        f"declared receptive_field={reach} Å, but moving an atom {np.linalg.norm(chain[-1]):.1f} "
        f"Å along a chain changes the force on its first atom by {change:.3g} eV/Å; the model "
        f"sees farther than it declares (nothing beyond 2R = {2 * float(reach):.1f} Å may act)"
    )


def check_model_contract(
    name: str, options: Mapping[str, Any] | None = None, seed: int = 0
) -> ContractModel:
    """Run every check of the module docstring on model ``name`` with ``options``; return the
    :class:`ContractModel` it built (for further checks of your own)."""
    model = ContractModel(name, options, seed)
    rng = np.random.default_rng(seed + 1)
    for check in (check_symmetry, check_gradient, check_padding, check_receptive_field):
        check(model, rng)
    return model
