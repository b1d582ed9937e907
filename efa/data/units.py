"""Unit conversion of raw data into the canonical units (Å, eV, eV/Å).

A unit string is a length (``Å``, ``Angstrom``, ``nm``, ``Bohr``), an energy (``eV``, ``meV``,
``Hartree``, ``kcal/mol``, ``kJ/mol``) or a force written as energy/length (``eV/Å``,
``Hartree/Bohr``, ``kcal/mol/Å``). :func:`to_canonical` returns the factor that converts a value
in that unit into the canonical unit of its quantity.
"""

from __future__ import annotations

from efa.errors import DataError

LENGTH_IN_ANGSTROM = {
    "Å": 1.0,
    "Ang": 1.0,
    "Angstrom": 1.0,
    "angstrom": 1.0,
    "nm": 10.0,
    "Bohr": 0.529177210903,
    "bohr": 0.529177210903,
}
ENERGY_IN_EV = {
    "eV": 1.0,
    "meV": 1e-3,
    "Hartree": 27.211386245988,
    "hartree": 27.211386245988,
    "Ha": 27.211386245988,
    "kcal/mol": 0.0433641043,
    "kJ/mol": 0.0103642688,
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
