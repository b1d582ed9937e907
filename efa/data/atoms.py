"""Conversions between :class:`~efa.data.structures.Structures` and :class:`ase.Atoms`.

One module for every crossing to and from ASE: calculators, ``efa predict``, the extxyz export,
molecular dynamics and the ASE calculator of a predictor use these.

- :func:`to_atoms`: one structure's real atoms, with the total charge ``q`` in
  ``info["charge"]`` and the lowest spin multiplicity ``2S + 1`` in ``info["spin"]`` (also as
  the first atom's initial charge and magnetic moment, where calculators such as tblite read
  them), and the cell and periodicity of a periodic cell;
- :func:`labelled_atoms`: the same with the structure's labels (energy, forces, stress) as a
  single-point calculator and as ``REF_*`` keys;
- :func:`structures_from_atoms`: ASE frames as unlabelled structures (zero energies and forces,
  padded to the largest frame).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import full_3x3_to_voigt_6_stress

from efa.data.geometry_bounds import check_geometry
from efa.data.schema import pad_atoms
from efa.data.structures import Structures
from efa.errors import DataError

#: ``atoms.info`` keys of the total charge (e) and the spin multiplicity.
CHARGE_KEY = "charge"
SPIN_KEY = "spin"


def spin_multiplicity(numbers: np.ndarray, charge: int) -> int:
    """Lowest spin multiplicity ``2S + 1`` of ``sum(numbers) - charge`` electrons."""
    return 1 + int(np.sum(numbers) - charge) % 2


def to_atoms(structures: Structures, index: int, molecule_box: float | None = None) -> Atoms:
    """Structure ``index`` (its real atoms) as :class:`ase.Atoms` with charge and spin in info,
    and its cell and periodicity if it is a periodic cell. With ``molecule_box`` (Å) a molecule
    gets a rectangular cell that wide beyond its extent on every side, the atoms shifted into
    it, and stays non-periodic (for calculators that need a cell)."""
    mask = structures.atom_mask[index]
    numbers = structures.atomic_numbers[index][mask]
    positions = structures.positions[index][mask]
    charge = int(structures.total_charge[index])
    spin = spin_multiplicity(numbers, charge)
    first = np.eye(1, len(numbers))[0]
    periodic = structures.pbc is not None and bool(structures.pbc[index].any())
    cell = None if structures.cell is None else structures.cell[index]
    if molecule_box is not None and not periodic:
        low = positions.min(axis=0)
        cell = np.diag(np.ptp(positions, axis=0) + 2 * molecule_box)
        positions = positions - low + molecule_box
    atoms = Atoms(
        numbers=numbers,
        positions=positions,
        cell=cell,
        pbc=False if structures.pbc is None else structures.pbc[index],
        charges=charge * first,
        magmoms=(spin - 1) * first,
    )
    atoms.info[CHARGE_KEY] = charge
    atoms.info[SPIN_KEY] = spin
    return atoms


def labelled_atoms(structures: Structures, index: int) -> Atoms:
    """Structure ``index`` with its labels: ``info`` ``REF_energy`` (eV), ``total_charge``,
    ``total_spin`` and (cells) ``REF_stress`` (Voigt, eV/Å³), ``arrays["REF_forces"]`` (eV/Å),
    and a single-point calculator holding the same energy, forces and stress."""
    atoms = to_atoms(structures, index)
    mask = structures.atom_mask[index]
    energy = float(structures.energy[index])
    forces = np.asarray(structures.forces[index][mask], dtype=np.float64)
    atoms.set_initial_charges(None)
    atoms.set_initial_magnetic_moments(None)
    atoms.info.update(
        REF_energy=energy,
        total_charge=atoms.info[CHARGE_KEY],
        total_spin=atoms.info[SPIN_KEY],
    )
    atoms.arrays["REF_forces"] = forces
    results = {"energy": energy, "forces": forces}
    if structures.stress is not None:
        results["stress"] = full_3x3_to_voigt_6_stress(structures.stress[index])
        atoms.info["REF_stress"] = results["stress"]
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def _integer_charge(charge, frame: int, source: str) -> int:
    """A frame's total charge as an integer (``2``, ``2.0``, ``"2"``); anything else refused."""
    try:
        value = float(charge)
    except (TypeError, ValueError):
        value = None
    if value is None or not np.isfinite(value) or value != round(value):
        raise DataError(
            f"{source}: structure {frame}: total charge {charge!r} (info[{CHARGE_KEY!r}]); "
            "expected an integer charge in e"
        )
    return int(round(value))


def structures_from_atoms(
    frames: Sequence[Atoms], charges: Sequence[int] | None = None, source: str = "structures"
) -> Structures:
    """``S`` frames as unlabelled :class:`~efa.data.structures.Structures` padded to the largest
    (``A`` atom slots): positions, atomic numbers, the total charges (``charges``, or each
    frame's ``info["charge"]``, default 0), atomic dipoles from ``arrays["dipoles"]`` (default
    0), and cells and pbc when any frame has a periodic direction.

    Raises:
      DataError: naming ``source`` and the frame, for a charge that is not an integer or a
        geometry outside :mod:`efa.data.geometry_bounds`.
    """
    count, size = len(frames), max(len(atoms) for atoms in frames)
    mask = np.zeros((count, size), bool)
    for index, atoms in enumerate(frames):
        mask[index, : len(atoms)] = True
    if charges is None:
        charges = [atoms.info.get(CHARGE_KEY, 0) for atoms in frames]
    charges = [_integer_charge(charge, index, source) for index, charge in enumerate(charges)]
    periodic = any(atoms.pbc.any() for atoms in frames)
    positions = pad_atoms([np.asarray(atoms.get_positions(), np.float64) for atoms in frames])
    cells = np.stack([atoms.cell.array for atoms in frames]) if periodic else None
    pbc = np.stack([atoms.pbc for atoms in frames]) if periodic else None
    check_geometry(positions, mask, cells, pbc, source)
    return Structures(
        positions=positions,
        atomic_numbers=pad_atoms([atoms.numbers for atoms in frames]).astype(np.int32),
        atom_mask=mask,
        energy=np.zeros(count),
        forces=np.zeros((count, size, 3)),
        total_charge=np.array([int(charge) for charge in charges], np.int32),
        atomic_dipoles=pad_atoms(
            [atoms.arrays.get("dipoles", np.zeros((len(atoms), 3))) for atoms in frames]
        ),
        cell=cells,
        pbc=pbc,
    )
