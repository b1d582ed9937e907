"""A pretrained foundation model through its real package (the [foundation] extra): CHGNet's
ASE calculator as a calculator predictor, scored by the physics checks on a periodic cell and on
a molecule in a non-periodic box (examples/foundation.yaml runs the same through the workflow)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, molecule

from efa.data.atoms import structures_from_atoms
from efa.errors import EfaError
from efa.predictors.calculator import calculator_predictor
from efa.probes.physics import CheckSettings, Frame, physics_checks

pytest.importorskip("chgnet", reason="needs the [foundation] extra (chgnet)")

FACTORY = "chgnet.model.dynamics:CHGNetCalculator"
CAPABILITIES = {"periodic": True, "stress": True, "elements": "all"}
SETTINGS = CheckSettings(num_rotations=2, num_displacements=3, path_points=11)


def chgnet(molecule_box=None):
    return calculator_predictor(
        "chgnet",
        FACTORY,
        {"use_device": "cpu"},
        cutoff=6.0,
        receptive_field=24.0,
        capabilities=CAPABILITIES,
        molecule_box=molecule_box,
    )


def test_chgnet_keeps_the_laws_on_a_rock_salt_cell():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(0.05, seed=0)
    cell = Frame(atoms.numbers, atoms.positions, 0, atoms.cell.array, np.ones(3, bool))
    values, reasons = physics_checks(chgnet(), [cell], SETTINGS)
    assert values["invariance_energy_error"] < 1e-4
    assert values["force_consistency_error"] < 0.01
    assert values["stress_consistency_error"] < 1e-4  # its stress in eV/Å³, ASE's convention
    assert values["supercell_error"] < 1e-4
    assert reasons["ghost_atom_energy"] == "the structures are periodic cells"


def test_a_molecule_needs_the_box_and_the_box_changes_nothing_else():
    water = molecule("H2O")
    structures = structures_from_atoms([water])
    with pytest.raises(EfaError, match="calculator .*failed on structure 0"):
        chgnet().predict(structures)
    small, large = (chgnet(box).predict(structures) for box in (6.0, 12.0))
    np.testing.assert_allclose(small[0], large[0], atol=1e-5)  # not periodic: no images
    np.testing.assert_allclose(small[1], large[1], atol=1e-4)
    frame = Frame(water.numbers, water.positions, 0)
    values, reasons = physics_checks(chgnet(10.0), [frame], SETTINGS)
    assert values["ghost_atom_force"] < 1e-3  # a local model: nothing 20 Å away
    assert values["extensivity_error"] < 1e-4
    assert reasons["coulomb_far_field_error"] == "the structures are neutral"
