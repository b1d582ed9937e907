"""The physics checks against analytic potentials that keep every law exactly, and against
potentials that break one law each: each check must stay near zero for the first and catch its
own broken law."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from ase.build import bulk

from efa.data.generators.analytic import COULOMB_EV_ANGSTROM
from efa.predictors.calculator import calculator_predictor
from efa.probes.physics import PHYSICS_METRICS, CheckSettings, Frame, physics_checks
from efa.runs.capabilities import Capabilities
from tests.probes.analytic import pair_predictor

SETTINGS = CheckSettings()


def argon_cluster(seed: int = 0, count: int = 6) -> Frame:
    """``count`` argon atoms on a jittered line-and-ring, nearest neighbours about 3.8 Å."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    positions = np.stack([3.8 * np.cos(angles), 3.8 * np.sin(angles), 0 * angles], axis=1)
    return Frame(np.full(count, 18), positions + rng.normal(0, 0.2, (count, 3)), 0)


def lennard_jones(r, numbers, charge, cutoff=8.0, epsilon=0.01, sigma=3.4):
    """LJ with energy and force shifted to zero at the cutoff (smooth to first order)."""

    def phi(x):
        return 4 * epsilon * ((sigma / x) ** 12 - (sigma / x) ** 6)

    def dphi(x):
        return 4 * epsilon * (-12 * sigma**12 / x**13 + 6 * sigma**6 / x**7)

    inside = r < cutoff
    energy = phi(r) - phi(cutoff) - (r - cutoff) * dphi(cutoff)
    return np.where(inside, energy, 0.0), np.where(inside, dphi(r) - dphi(cutoff), 0.0)


def hard_cut(r, numbers, charge, cutoff=5.0):
    """LJ cut at 5 Å without a shift: the energy jumps where a pair crosses the cutoff."""
    energy, slope = lennard_jones(r, numbers, charge, cutoff=50.0)
    return np.where(r < cutoff, energy, 0.0), np.where(r < cutoff, slope, 0.0)


def spread_charge(screening: float):
    """LJ plus the Coulomb energy of the total charge spread evenly over the atoms, screened as
    ``exp(−r/screening)`` (``inf``: bare Coulomb)."""

    def energy_of_r(r, numbers, charge):
        energy, slope = lennard_jones(r, numbers, charge)
        qq = COULOMB_EV_ANGSTROM * (charge / len(numbers)) ** 2
        decay = np.exp(-r / screening)
        coulomb = qq * decay / r
        return energy + coulomb, slope - coulomb / r - coulomb / screening

    return energy_of_r


def test_an_exact_potential_keeps_every_law():
    values, reasons = physics_checks(
        pair_predictor("lj", lennard_jones), [argon_cluster(0), argon_cluster(1)], SETTINGS
    )
    assert values["invariance_energy_error"] < 1e-12
    assert values["equivariance_force_error"] < 1e-10
    assert values["force_consistency_error"] < 1e-4  # the central difference's O(h²) error
    assert values["path_work_error"] < 1e-3
    assert values["ghost_atom_energy"] < 1e-15  # the ghost is beyond the 8 Å cutoff
    assert values["ghost_atom_force"] == 0.0
    assert values["extensivity_error"] == pytest.approx(0.0, abs=1e-14)
    assert reasons == {
        "stress_consistency_error": "the structures are not periodic in 3 directions",
        "coulomb_far_field_error": "the structures are neutral",
        "supercell_error": "the structures are not periodic in 3 directions",
    }
    assert set(values) | set(reasons) == set(PHYSICS_METRICS)


@pytest.mark.parametrize(
    "model, broken",
    [
        # an energy that depends on where the structure is (its forces kept consistent)
        (
            pair_predictor(
                "field",
                lennard_jones,
                extra=lambda z, r, q: (
                    0.05 * r[:, 0].sum(),
                    np.tile([-0.05, 0.0, 0.0], (len(z), 1)),
                ),
            ),
            "invariance_energy_error",
        ),
        # forces that are not the gradient of the energy
        (pair_predictor("scaled", lennard_jones, scale=1.2), "force_consistency_error"),
        # an energy that jumps where a pair crosses the cutoff
        (pair_predictor("hard", hard_cut), "path_work_error"),
        # an energy that grows as the square root of the atom count: responds to a far atom
        (
            pair_predictor(
                "sqrt",
                lennard_jones,
                extra=lambda z, r, q: (0.1 * math.sqrt(len(z)), np.zeros((len(z), 3))),
            ),
            "ghost_atom_energy",
        ),
    ],
)
def test_each_broken_law_is_caught(model, broken):
    exact, _ = physics_checks(pair_predictor("lj", lennard_jones), [argon_cluster()], SETTINGS)
    values, _ = physics_checks(model, [argon_cluster()], SETTINGS)
    assert values[broken] > 50 * max(exact[broken], 1e-9)
    assert values[broken] > 1e-3


def test_extensivity_catches_a_non_additive_energy():
    model = pair_predictor(
        "sqrt",
        lennard_jones,
        extra=lambda z, r, q: (0.1 * math.sqrt(len(z)), np.zeros((len(z), 3))),
    )
    values, _ = physics_checks(model, [argon_cluster()], SETTINGS)
    # (0.1·√12 − 2·0.1·√6) / 12 atoms
    assert values["extensivity_error"] == pytest.approx(abs(0.1 * (12**0.5 - 2 * 6**0.5)) / 12)


def test_the_coulomb_far_field_of_a_charged_molecule():
    charged = Frame(argon_cluster().numbers, argon_cluster().positions, 2)
    bare = pair_predictor(
        "coulomb", spread_charge(math.inf), capabilities=Capabilities(total_charge=True)
    )
    screened = pair_predictor(
        "screened", spread_charge(3.0), capabilities=Capabilities(total_charge=True)
    )
    blind = pair_predictor("blind", spread_charge(math.inf))
    bare_values, _ = physics_checks(bare, [charged], SETTINGS)
    screened_values, _ = physics_checks(screened, [charged], SETTINGS)
    _, blind_reasons = physics_checks(blind, [charged], SETTINGS)
    # point charges spread over a ring of radius R: k q²/d plus terms in 1/d³, a relative
    # error of order (R/d)² that falls as the copies move apart
    assert bare_values["coulomb_far_field_error"] < 0.05
    farther = dataclasses.replace(SETTINGS, copy_distance=45.0)
    far_values, _ = physics_checks(bare, [charged], farther)
    near, far = (np.ptp(charged.positions[:, 0]) + d for d in (15.0, 45.0))
    assert far_values["coulomb_far_field_error"] / bare_values[
        "coulomb_far_field_error"
    ] == pytest.approx((near / far) ** 2, rel=0.1)
    assert bare_values["extensivity_error"] < 1e-3  # the same terms in 1/d³ at the far copy
    assert screened_values["coulomb_far_field_error"] > 0.99
    assert blind_reasons["coulomb_far_field_error"] == "takes no total charge"
    assert blind_reasons["extensivity_error"] == "takes no total charge"


def test_periodic_cells_through_an_ase_calculator_with_stress():
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True)
    atoms.rattle(0.05, seed=1)
    cell = Frame(atoms.numbers, atoms.positions, 0, atoms.cell.array, np.ones(3, bool))
    model = calculator_predictor(
        "lj",
        "ase.calculators.lj:LennardJones",
        {"sigma": 3.4, "epsilon": 0.0104, "rc": 7.0, "ro": 6.0, "smooth": True},
        capabilities={"elements": ["Ar"]},
    )
    values, reasons = physics_checks(model, [cell], SETTINGS)
    assert values["stress_consistency_error"] < 1e-6
    assert values["force_consistency_error"] < 1e-4
    assert values["supercell_error"] < 1e-10
    assert values["invariance_energy_error"] < 1e-10
    assert reasons["ghost_atom_energy"] == "the structures are periodic cells"
    hydrogen = Frame(np.array([1, 1]), np.array([[0, 0, 0], [0, 0, 0.74]]), 0)
    _, reasons = physics_checks(model, [hydrogen], SETTINGS)
    assert set(reasons) == set(PHYSICS_METRICS)
    assert reasons["invariance_energy_error"] == "covers no H"
    molecules_only = pair_predictor("mol", lennard_jones, Capabilities(periodic=False))
    _, reasons = physics_checks(molecules_only, [cell], SETTINGS)
    assert reasons["force_consistency_error"] == "takes no periodic cells"
