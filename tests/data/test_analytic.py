"""Analytic generators: energies equal the formulas of docs/science.md, forces equal −∇E by
finite differences."""

import numpy as np
import pytest
from scipy.special import erf

from efa.data.generators import charge_dipole, cluster, nacl_cluster, two_atoms

K_E = 14.3996


def two_atoms_energy(positions, numbers, extra):
    r = np.linalg.norm(positions[0] - positions[1])
    return 12 / 11 * (r**-12 - r**-1)


def cluster_energy(positions, numbers, extra):
    return sum(
        np.linalg.norm(positions[i] - positions[j]) ** -6
        - np.linalg.norm(positions[i] - positions[j]) ** -1
        for i in range(len(positions))
        for j in range(len(positions))
        if i != j
    )


def nacl_energy(positions, numbers, extra):
    q = {11: 1.0, 17: -1.0}
    radius = {11: 0.95, 17: 1.81}
    energy = 0.0
    for i in range(len(positions)):
        for j in range(len(positions)):
            if i != j:
                r = np.linalg.norm(positions[i] - positions[j])
                zi, zj = int(numbers[i]), int(numbers[j])
                energy += 0.5 * (
                    K_E * q[zi] * q[zj] * erf(0.5 * r) / r
                    + 30.0 * np.exp(-r / (0.25 * (radius[zi] + radius[zj])))
                )
    return energy


def charge_dipole_energy(positions, numbers, extra):
    d = positions[0] - positions[1]
    r = np.linalg.norm(d)
    return K_E * 1.0 * np.dot(extra["dipoles"][1], d) / r**3 + 1.0 / r**12


def finite_difference_forces(energy, positions, numbers, extra, step=1e-5):
    forces = np.zeros_like(positions)
    for index in np.ndindex(positions.shape):
        plus, minus = positions.copy(), positions.copy()
        plus[index] += step
        minus[index] -= step
        forces[index] = -(energy(plus, numbers, extra) - energy(minus, numbers, extra)) / (2 * step)
    return forces


CASES = [
    (two_atoms, {}, two_atoms_energy),
    (cluster, dict(num_atoms=16, radius=2.5), cluster_energy),
    (cluster, dict(num_atoms=32, radius=5.0), cluster_energy),
    (nacl_cluster, dict(diameter=10.0, num_atoms=39), nacl_energy),
    (charge_dipole, {}, charge_dipole_energy),
]


@pytest.mark.parametrize(
    "generator, params, oracle",
    CASES,
    ids=["two_atoms", "cluster16", "cluster32", "nacl10", "charge_dipole"],
)
def test_energies_and_forces(generator, params, oracle):
    ds = generator(num_structures=3, seed=1, **params)
    for s in range(3):
        positions = ds.positions.values[s]
        numbers = ds.atomic_numbers.values[s]
        extra = {name: ds[name].values[s] for name in ds.data_vars if name == "dipoles"}
        expected = oracle(positions, numbers, extra)
        assert ds.energy.values[s] == pytest.approx(expected, rel=1e-10, abs=1e-10)
        if s == 0 or len(positions) <= 16:  # finite differences of the slow oracle: keep it brief
            reference = finite_difference_forces(oracle, positions, numbers, extra)
            np.testing.assert_allclose(ds.forces.values[s], reference, rtol=1e-5, atol=1e-5)


def test_geometry_ranges():
    distances = np.linalg.norm(np.diff(two_atoms(200, seed=0).positions.values, axis=1), axis=-1)
    assert distances.min() >= 1.0 and distances.max() <= 10.0
    positions = cluster(5, seed=0, num_atoms=32, radius=5.0).positions.values
    pair = np.linalg.norm(positions[:, :, None] - positions[:, None], axis=-1)
    off = ~np.eye(32, dtype=bool)
    assert pair[:, off].min() > 1.2 and pair[:, off].max() <= 10.0


def test_nacl_composition_and_charge():
    ds = nacl_cluster(2, seed=0, diameter=10.0, num_atoms=39)
    assert ((ds.atomic_numbers == 11).sum("atom") == 20).all()
    assert ((ds.atomic_numbers == 17).sum("atom") == 19).all()
    assert (ds.total_charge == 1).all()


def test_generators_are_deterministic():
    a, b = cluster(3, seed=4), cluster(3, seed=4)
    np.testing.assert_array_equal(a.positions.values, b.positions.values)
    assert not np.array_equal(a.positions.values, cluster(3, seed=5).positions.values)
