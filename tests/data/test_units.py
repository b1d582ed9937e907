"""Unit factors against the exact SI definitions (2019: e and N_A are exact)."""

import pytest

from efa.data.units import to_canonical

ELEMENTARY_CHARGE_C = 1.602176634e-19
AVOGADRO_PER_MOL = 6.02214076e23


@pytest.mark.parametrize("unit, joules", [("kJ/mol", 1000.0), ("kcal/mol", 4184.0)])
def test_molar_energies_follow_from_the_exact_constants(unit, joules):
    expected = joules / (AVOGADRO_PER_MOL * ELEMENTARY_CHARGE_C)
    assert to_canonical(unit, "energy") == pytest.approx(expected, rel=1e-12)


def test_atomic_units_and_forces():
    assert to_canonical("Hartree", "energy") == pytest.approx(27.211386245988, rel=1e-10)
    assert to_canonical("Bohr", "positions") == pytest.approx(0.529177210903, rel=1e-10)
    assert to_canonical("kcal/mol/Å", "forces") == to_canonical("kcal/mol", "energy")
    assert to_canonical("Hartree/Bohr", "forces") == pytest.approx(51.422067476, rel=1e-9)
