"""Unit conversion of raw data into the canonical units (Å, eV, eV/Å).

A unit string is a length (``Å``, ``Angstrom``, ``nm``, ``Bohr``), an energy (``eV``, ``meV``,
``Hartree``, ``kcal/mol``, ``kJ/mol``) or a force written as energy/length (``eV/Å``,
``Hartree/Bohr``, ``kcal/mol/Å``). :func:`to_canonical` returns the factor that converts a value
in that unit into the canonical unit of its quantity.
"""

from __future__ import annotations

from ase.units import create_units

from efa.errors import DataError

#: ASE's units from the CODATA 2018 constants (eV and Å are 1).
_CODATA_2018 = create_units("2018")
LENGTH_IN_ANGSTROM = {
    "Å": 1.0,
    "Ang": 1.0,
    "Angstrom": 1.0,
    "angstrom": 1.0,
    "nm": 10.0 * _CODATA_2018["Angstrom"],
    "Bohr": _CODATA_2018["Bohr"],
    "bohr": _CODATA_2018["Bohr"],
}
ENERGY_IN_EV = {
    "eV": 1.0,
    "meV": 1e-3 * _CODATA_2018["eV"],
    "Hartree": _CODATA_2018["Hartree"],
    "hartree": _CODATA_2018["Hartree"],
    "Ha": _CODATA_2018["Hartree"],
    "kcal/mol": _CODATA_2018["kcal"] / _CODATA_2018["mol"],
    "kJ/mol": _CODATA_2018["kJ"] / _CODATA_2018["mol"],
}


def to_canonical(unit: str, quantity: str) -> float:
    """Factor converting ``quantity`` ('positions', 'energy' or 'forces') from ``unit`` to Å, eV
    or eV/Å."""
    if quantity == "positions" and unit in LENGTH_IN_ANGSTROM:
        return LENGTH_IN_ANGSTROM[unit]
    if quantity == "energy" and unit in ENERGY_IN_EV:
        return ENERGY_IN_EV[unit]
    if quantity == "forces" and "/" in unit:
        energy, length = unit.rsplit("/", 1)
        if energy in ENERGY_IN_EV and length in LENGTH_IN_ANGSTROM:
            return ENERGY_IN_EV[energy] / LENGTH_IN_ANGSTROM[length]
    known = {
        "positions": sorted(LENGTH_IN_ANGSTROM),
        "energy": sorted(ENERGY_IN_EV),
        "forces": ["<energy>/<length>"],
    }.get(quantity, [])
    raise DataError(
        f"field '{quantity}': unknown unit {unit!r} for {quantity}; expected one of {known}"
    )
