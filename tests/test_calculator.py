"""ASE calculator: loads a run, matches the model, conserves energy in NVE dynamics."""

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.fd import FiniteDifferenceCalculator
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

from efa.calculator import EFACalculator
from efa.data.generators.analytic import cluster
from efa.data.pairs import count_pairs
from efa.data.store import write_dataset
from efa.errors import ConfigError, EfaError
from efa.runs.config import config_from_mapping
from efa.train.loop import Trainer
from efa.train.trained_model import load_trained
from tests.builders import padded_structures

#: Bound on the largest deviation of the total energy from its start over the NVE run below:
#: 1e-5 eV, i.e. 5e-5 of the kinetic energy (≈0.2 eV); measured ≈6e-7 eV (0.25 fs Verlet steps,
#: float32 model).
ENERGY_DRIFT_BOUND_EV = 1e-5


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A briefly trained local model on 5-atom clusters (E = Σ r⁻⁶ − r⁻¹)."""
    root = tmp_path_factory.mktemp("calculator")
    dataset = cluster(64, seed=0, num_atoms=5, radius=1.8, min_distance=1.0)
    dataset.attrs.update(name="clusters", license="CC0-1.0", citation="test data")
    write_dataset(dataset, root / "clusters.zarr")
    config = config_from_mapping(
        {
            "dataset": str(root / "clusters.zarr"),
            "model": "local",
            "model_options": {"features": 8, "num_iterations": 1, "max_degree": 1, "num_basis": 8},
            "splits": {"train": 48, "valid": 8, "test": 8},
            "batch_size": 8,
            "max_steps": 20,
            "valid_every": 10,
            "output_root": str(root / "runs"),
        }
    )
    Trainer(config).run()
    return config.run_dir()


def test_calculator_matches_model_and_is_translation_invariant(run_dir):
    atoms = Atoms("H5", positions=np.random.default_rng(0).uniform(0, 2.5, (5, 3)))
    atoms.calc = EFACalculator(run_dir)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    assert forces.shape == (5, 3) and np.isfinite(energy)
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-4)  # no net force
    atoms.translate([3.0, -1.0, 2.0])
    np.testing.assert_allclose(atoms.get_potential_energy(), energy, rtol=1e-5, atol=1e-5)
    atoms.pbc = True  # periodic without a cell
    with pytest.raises(ConfigError, match="has no independent lattice vector for every periodic"):
        atoms.get_potential_energy()


def test_structures_predicted_together_share_their_pair_slots(run_dir):
    """Evaluation packs the pairs of all structures into one group: a compact cluster, a spread
    one and a smaller one (padding atoms) give together what each gives alone."""
    rng = np.random.default_rng(4)
    positions = [
        rng.uniform(0, 1.5, (5, 3)),
        rng.uniform(0, 12.0, (5, 3)),
        rng.uniform(0, 2, (3, 3)),
    ]
    structures = padded_structures(positions, [[1] * len(p) for p in positions])
    trained = load_trained(run_dir)
    together = trained.predict_structures(structures)
    for index in range(3):
        alone = trained.predict_structures(structures.select([index]))
        np.testing.assert_allclose(together.energy[index], alone.energy[0], rtol=1e-6)
        np.testing.assert_allclose(together.forces[index], alone.forces[0], atol=1e-6)
    assert np.abs(together.forces[0]).max() > 1e-3  # a test of something
    counts = count_pairs(structures, trained.cutoff)
    assert counts[0] == 20 and counts[1] < 20  # the compact cluster has every pair
    batch = trained._pack(structures)
    # one group of 2^⌈log₂ P⌉ slots: fewer than 3 structures × the largest count (32) would take
    total = int(counts.sum())
    assert int(batch.pair_mask.sum()) == total
    assert batch.pair_mask.size == 1 << (total - 1).bit_length() < 3 * 32


def test_nve_dynamics_conserves_total_energy(run_dir):
    positions = [[0, 0, 0], [1.4, 0, 0], [0, 1.4, 0], [0, 0, 1.4], [1.2, 1.2, 1.2]]
    atoms = Atoms("H5", positions=positions)
    atoms.calc = EFACalculator(run_dir)
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    totals = []
    dynamics.attach(lambda: totals.append(atoms.get_total_energy()), interval=1)
    dynamics.run(400)
    drift = np.max(np.abs(np.asarray(totals) - totals[0]))
    kinetic = atoms.get_kinetic_energy()
    assert kinetic > 0
    assert drift < ENERGY_DRIFT_BOUND_EV, f"total energy drifted by {drift:.2e} eV"


@pytest.mark.parametrize(
    "numbers, positions, message",
    [
        (
            [1, 1, 1, 1, 79],
            None,
            r"atom 4: element Z=79 \(Au\) never appeared in the training split",
        ),
        ([1, 1, 1, 1, 119], None, r"element Z=119 \(no element\) never appeared"),
        (
            [1] * 5,
            np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [np.nan, 0, 0]]),
            "structure 0 has non-finite coordinates",
        ),
        (
            [1] * 5,
            np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]),
            "atoms 1 and 4 are 0 Å apart",
        ),
    ],
)
def test_calculator_refuses_what_the_model_cannot_answer(run_dir, numbers, positions, message):
    if positions is None:
        positions = np.random.default_rng(1).uniform(0, 2.5, (5, 3))
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = EFACalculator(run_dir)
    with pytest.raises(EfaError, match=message):
        atoms.get_potential_energy()


@pytest.fixture(scope="module")
def periodic_run(tmp_path_factory):
    """A local model trained for a few steps on rattled rock-salt cells (Ewald labels)."""
    from efa.data.generators import nacl_crystal

    root = tmp_path_factory.mktemp("periodic")
    dataset = nacl_crystal(6, seed=0, rattle=0.15)
    dataset.attrs.update(name="cells", license="MIT", citation="test data")
    write_dataset(dataset, root / "cells.zarr")
    config = config_from_mapping(
        {
            "dataset": str(root / "cells.zarr"),
            "model": "local",
            "model_options": {
                "features": 8,
                "num_iterations": 1,
                "max_degree": 0,
                "num_basis": 8,
                "cutoff": 4.0,
            },
            "splits": {"train": 4, "valid": 1, "test": 1},
            "batch_size": 2,
            "max_steps": 4,
            "valid_every": 2,
            "output_root": str(root / "runs"),
        }
    )
    Trainer(config).run()
    return config.run_dir()


def test_periodic_cell_stress_equals_numerical_stress(periodic_run):
    from efa.data.generators.nacl_crystal import rock_salt

    positions, numbers, cell = rock_salt(1, 5.64)
    positions = positions + np.random.default_rng(3).normal(scale=0.1, size=positions.shape)
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
    atoms.calc = EFACalculator(periodic_run)
    stress = atoms.get_stress()
    # the model runs in float32: strains of 1 % keep the energy differences far above its
    # rounding (central differences are exact to O(d²) for the smooth model)
    numeric = FiniteDifferenceCalculator(atoms.calc, eps_strain=1e-2).get_stress(atoms)
    np.testing.assert_allclose(stress, numeric, rtol=2e-2, atol=2e-3 * np.abs(stress).max())
    atoms.translate([0.7, -1.1, 2.3])  # images make the cell's energy translation invariant
    assert atoms.get_potential_energy() == pytest.approx(
        float(EFACalculator(periodic_run).get_potential_energy(atoms)), rel=1e-6
    )
