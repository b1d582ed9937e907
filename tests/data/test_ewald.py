"""Ewald sums of periodic NaCl: the Madelung constant, independence of the splitting, supercells,
charged cells, and forces and stress against finite differences."""

import numpy as np
import pytest

from efa.data.generators.analytic import COULOMB_EV_ANGSTROM
from efa.data.generators.ewald import ewald

#: The Madelung constant of rock salt (per ion pair, nearest-neighbour distance r0).
MADELUNG_ROCK_SALT = 1.747564594633182
A = 5.64  # lattice constant (Å)


def rock_salt():
    """The conventional cubic cell: 4 Na⁺ and 4 Cl⁻."""
    fcc = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    positions = np.concatenate([fcc, (fcc + [0.5, 0, 0]) % 1]) * A
    return positions, np.array([11] * 4 + [17] * 4), np.eye(3) * A


def test_madelung_constant_and_zero_forces():
    positions, numbers, cell = rock_salt()
    energy, forces, _ = ewald(positions, numbers, cell, repulsion=0.0)
    madelung = -energy / 4 * (A / 2) / COULOMB_EV_ANGSTROM
    assert madelung == pytest.approx(MADELUNG_ROCK_SALT, rel=1e-11)
    assert np.abs(forces).max() < 1e-10


@pytest.mark.parametrize("vacancy", [False, True], ids=["neutral", "charged"])
def test_the_splitting_width_does_not_change_the_result(vacancy):
    rng = np.random.default_rng(0)
    positions, numbers, cell = rock_salt()
    positions = positions + rng.normal(scale=0.1, size=positions.shape)
    cell = cell @ (np.eye(3) + rng.normal(scale=0.02, size=(3, 3)))
    if vacancy:  # a missing Cl⁻: net charge +1 against the neutralising background
        positions, numbers = positions[:-1], numbers[:-1]
    results = [ewald(positions, numbers, cell, alpha=alpha) for alpha in (0.35, 0.5, 0.8)]
    for energy, forces, stress in results[1:]:
        assert energy == pytest.approx(results[0][0], rel=1e-11, abs=1e-11)
        np.testing.assert_allclose(forces, results[0][1], atol=1e-9)
        np.testing.assert_allclose(stress, results[0][2], atol=1e-10)


def test_a_supercell_has_eight_times_the_energy():
    positions, numbers, cell = rock_salt()
    positions = positions + np.random.default_rng(1).normal(scale=0.1, size=positions.shape)
    shifts = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3) @ cell
    big = np.concatenate([positions + shift for shift in shifts])
    energy, forces, stress = ewald(positions, numbers, cell)
    big_energy, big_forces, big_stress = ewald(big, np.tile(numbers, 8), 2 * cell)
    assert big_energy / energy == pytest.approx(8.0, rel=1e-11)
    np.testing.assert_allclose(big_forces, np.tile(forces, (8, 1)), atol=1e-9)
    np.testing.assert_allclose(big_stress, stress, atol=1e-11)


def test_forces_and_stress_equal_finite_differences():
    rng = np.random.default_rng(2)
    positions, numbers, cell = rock_salt()
    positions = positions + rng.normal(scale=0.15, size=positions.shape)
    energy, forces, stress = ewald(positions, numbers, cell)
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (6, 2)]:
        step = np.zeros_like(positions)
        step[atom, axis] = h
        numeric = -(
            ewald(positions + step, numbers, cell)[0] - ewald(positions - step, numbers, cell)[0]
        ) / (2 * h)
        assert forces[atom, axis] == pytest.approx(numeric, rel=1e-6, abs=1e-8)
    volume = abs(np.linalg.det(cell))
    for a, b in [(0, 0), (1, 2), (2, 1)]:
        strain = np.zeros((3, 3))
        strain[a, b] = h
        plus = ewald(positions @ (np.eye(3) + strain), numbers, cell @ (np.eye(3) + strain))[0]
        minus = ewald(positions @ (np.eye(3) - strain), numbers, cell @ (np.eye(3) - strain))[0]
        assert stress[a, b] == pytest.approx((plus - minus) / (2 * h * volume), rel=1e-6, abs=1e-9)


def test_nacl_crystal_generator_stores_cells_charges_and_stress(tmp_path):
    from efa.data.generators import nacl_crystal
    from efa.data.store import open_dataset, write_dataset

    dataset = nacl_crystal(3, seed=1, defects="charged")
    dataset.attrs.update(name="nacl_crystal", license="MIT", citation="test data")
    stored = open_dataset(write_dataset(dataset, tmp_path / "nacl_crystal.zarr"))
    assert stored["total_charge"].values.tolist() == [1, 1, 1]
    assert stored["atom_mask"].values.sum(axis=1).tolist() == [7, 7, 7]
    assert stored["pbc"].values.all() and stored["cell"].dims == ("structure", "cell_vector", "xyz")
    index = 2
    mask = stored["atom_mask"].values[index]
    energy, forces, stress = ewald(
        stored["positions"].values[index][mask],
        stored["atomic_numbers"].values[index][mask],
        stored["cell"].values[index],
    )
    assert stored["energy"].values[index] == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(stored["stress"].values[index], stress, atol=1e-12)
