"""The far-fragment probe and its data set: a far ion must move a molecule's forces by the
Coulomb amount, a far neutral atom must not; checked with analytic stand-ins of known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from efa.data.generators.analytic import (
    COULOMB_EV_ANGSTROM,
    FAR_SPECIES,
    far_fragment,
    pair_energy_forces,
)
from efa.data.structures import Structures
from efa.errors import ConfigError, DataError
from efa.predictors import Predictor
from efa.probes import run_probe
from tests.declared_targets import evaluate_declared as evaluate_targets

CUTOFF = 5.0
#: Charges (e) and Born radii (Å) written out independently of the generator's tables.
CHARGE = {11: 1.0, 17: -1.0, 18: 0.0}
RADIUS = {11: 0.95, 17: 1.81, 18: 1.88}


def direct_energy(positions: np.ndarray, numbers: np.ndarray) -> float:
    """The far_fragment potential (the toy NaCl pair term with Ar) by an explicit double loop
    over atom pairs."""
    energy = 0.0
    for i in range(len(numbers)):
        for j in range(i + 1, len(numbers)):
            r = float(np.linalg.norm(positions[i] - positions[j]))
            zi, zj = int(numbers[i]), int(numbers[j])
            energy += COULOMB_EV_ANGSTROM * CHARGE[zi] * CHARGE[zj] * math.erf(0.5 * r) / r
            energy += 30.0 * math.exp(-r / (0.25 * (RADIUS[zi] + RADIUS[zj])))
    return energy


def test_far_fragment_labels_match_a_direct_sum_and_finite_differences():
    data = far_fragment(12, seed=3)
    positions, numbers = data["positions"].values, data["atomic_numbers"].values
    assert sorted(set(numbers[:, 3])) <= sorted(FAR_SPECIES)
    assert np.all(numbers[:, :3] == [11, 17, 11])
    for s in range(12):
        assert data["energy"].values[s] == pytest.approx(
            direct_energy(positions[s], numbers[s]), rel=1e-12
        )
        charge = 1 + CHARGE[int(numbers[s, 3])]
        assert data["total_charge"].values[s] == charge
    step = 1e-5
    for s, atom, axis in ((0, 0, 0), (5, 3, 2), (9, 1, 1)):
        plus, minus = positions[s].copy(), positions[s].copy()
        plus[atom, axis] += step
        minus[atom, axis] -= step
        derivative = (direct_energy(plus, numbers[s]) - direct_energy(minus, numbers[s])) / (
            2 * step
        )
        assert data["forces"].values[s, atom, axis] == pytest.approx(-derivative, abs=1e-7)
    centre = positions[:, :3].mean(axis=1)
    distance = np.linalg.norm(positions[:, 3] - centre, axis=-1)
    assert np.all((distance >= 5.0) & (distance <= 18.0))


def test_far_fragment_refuses_a_far_atom_inside_the_molecule():
    with pytest.raises(DataError, match="min_distance"):
        far_fragment(4, seed=0, min_distance=2.0)


def _potential(charges: dict[int, float] | None = None, cutoff: float = math.inf):
    """Energy and forces of the far_fragment form with some charges replaced and pair terms
    beyond ``cutoff`` dropped (with cutoff 5 Å: a perfectly trained local model)."""
    q, radius = np.zeros(19), np.zeros(19)
    for z in CHARGE:
        q[z], radius[z] = {**CHARGE, **(charges or {})}[z], RADIUS[z]

    def pair(r, zi, zj):
        decay = 0.25 * (radius[zi] + radius[zj])
        born = 30.0 * np.exp(-r / decay)
        qq = COULOMB_EV_ANGSTROM * q[zi] * q[zj]
        screened = erf(0.5 * r) / r
        d_screened = np.exp(-((0.5 * r) ** 2)) / (np.sqrt(np.pi) * r) - screened / r
        inside = r <= cutoff
        return (
            np.where(inside, qq * screened + born, 0.0),
            np.where(inside, qq * d_screened - born / decay, 0.0),
        )

    def energy_forces(structures: Structures):
        numbers = np.where(structures.atom_mask, structures.atomic_numbers, 0)
        return pair_energy_forces(structures.positions, numbers, pair)

    return energy_forces


def _models(efa_charges: dict[int, float] | None = None) -> list[Predictor]:
    return [
        Predictor("efa", 0, "efa", CUTOFF, math.inf, _potential(efa_charges)),
        Predictor("local", 0, "local", CUTOFF, 2 * CUTOFF, _potential(cutoff=CUTOFF)),
    ]


def test_exact_model_follows_the_ion_and_ignores_the_neutral_atom_local_feels_nothing():
    store = run_probe("far_fragment", _models(), num_molecules=3, num_points=6)
    probe = store.isel(probe=0, seed=0)
    efa, local = probe.sel(model="efa"), probe.sel(model="local")
    assert float(efa["charged_response_error"]) == pytest.approx(0.0, abs=1e-12)
    assert float(efa["neutral_response_error"]) == pytest.approx(0.0, abs=1e-12)
    # Every far atom is > 7 Å from every atom of the molecule: the local model sees none.
    assert float(local["charged_response_error"]) == pytest.approx(1.0, abs=1e-12)
    assert float(local["neutral_response"]) == 0.0
    # The physical response: a unit charge moved from 10 to 15 Å changes the force on a
    # molecule of charge +1 by about k_e (1/10² − 1/15²) at the near end.
    near = float(probe["response_reference"].sel(fragment="charged").values[0])
    assert 0.5 * COULOMB_EV_ANGSTROM * (1 / 100 - 1 / 225) < near
    assert float(probe["response_reference"].sel(fragment="neutral").values[0]) < 1e-2 * near
    assert float(local["neutral_response_reference"]) < 1e-2
    targets = [
        t for t in evaluate_targets([store]) if t.spec.description.startswith("far fragment")
    ]
    assert [t.met for t in targets] == [True, True, True]


def test_a_model_that_charges_the_neutral_atom_is_caught():
    store = run_probe("far_fragment", _models({18: 1.0}), num_molecules=3, num_points=6)
    efa = store.isel(probe=0, seed=0).sel(model="efa")
    assert float(efa["charged_response_error"]) == pytest.approx(0.0, abs=1e-12)
    assert float(efa["neutral_response_error"]) > 0.3
    targets = [
        t for t in evaluate_targets([store]) if t.spec.description.startswith("far fragment")
    ]
    assert [t.met for t in targets] == [True, True, False]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_molecules": 0}, "--num-molecules 0"),
        ({"min_distance": 12.0, "max_distance": 11.0}, "--min-distance 12.0"),
        ({"min_distance": 2.0}, "--min-distance 2.0"),
    ],
)
def test_bad_far_fragment_options_name_the_option(options, message):
    with pytest.raises(ConfigError, match=message):
        run_probe("far_fragment", _models(), **options)
