"""Predictors from ASE calculators: any code that ships an ``ase.calculators`` interface.

A configuration names a calculator by a factory, ``package.module:callable``, and its keyword
options; ``callable(**options)`` must return an :class:`ase.calculators.calculator.Calculator`.
Structures are evaluated one at a time as :class:`ase.Atoms`: periodic cells with their cell and
``pbc``, molecules without a cell (``pbc=False``; with the run's ``molecule_box`` in a
non-periodic box, for calculators that need a cell, as those built on pymatgen do), with the
total charge in ``atoms.info["charge"]`` (integer, e) and the spin multiplicity in
``atoms.info["spin"]`` (``2S + 1``; 1 for an even number of electrons, 2 for an odd one, as
computed from the atomic numbers and the charge). The built-in models read the same keys
(:class:`efa.calculator.EFACalculator`). For calculators that follow ASE's older convention
(tblite's ``TBLite`` among them) the same values are also given as initial charges and initial
magnetic moments: the total charge and the ``2S`` unpaired electrons sit on the first atom.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator

from efa.data.atoms import to_atoms
from efa.data.structures import Structures
from efa.errors import ConfigError, EfaError
from efa.predictors.base import Predictor
from efa.runs.capabilities import capabilities_from_mapping
from efa.runs.card import model_card


def resolve_factory(path: str) -> Callable[..., Any]:
    """The callable named by ``package.module:name`` (``name`` may be dotted, ``Class.method``).

    Raises:
      ConfigError: the path is malformed, the module cannot be imported (or raises on import),
        or the name is missing or not callable.
    """
    module_name, colon, attribute = str(path).partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigError(f"calculator {path!r}: expected an import path 'package.module:factory'")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as error:  # a module that raises on import is the user's bad input
        raise ConfigError(
            f"calculator {path!r}: cannot import module {module_name!r} "
            f"({type(error).__name__}: {error})"
        ) from None
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"calculator {path!r}: {module_name} has no attribute {attribute!r}")
    if not callable(target):
        raise ConfigError(f"calculator {path!r}: {module_name}.{attribute} is not callable")
    return target


def make_calculator(path: str, options: Mapping[str, Any] | None = None) -> Calculator:
    """``factory(**options)`` for the factory named by ``path``, checked to be a Calculator.

    Raises:
      ConfigError: the factory cannot be found, raises, or returns something else.
    """
    factory = resolve_factory(path)
    try:
        calculator = factory(**dict(options or {}))
    except Exception as error:
        raise ConfigError(
            f"calculator {path!r}: the factory raised {type(error).__name__}: {error}"
        ) from None
    if not isinstance(calculator, Calculator):
        raise ConfigError(
            f"calculator {path!r}: the factory returned a {type(calculator).__name__}; expected "
            "an ase.calculators.calculator.Calculator"
        )
    return calculator


def _calculated(
    calculator: Calculator,
    name: str,
    structures: Structures,
    index: int,
    compute,
    what: str,
    molecule_box: float | None = None,
) -> tuple:
    """``compute(atoms)`` (a tuple of values) for structure ``index`` with ``calculator``
    attached (:func:`to_atoms` with ``molecule_box``); an exception or a non-finite value
    becomes an :class:`EfaError` naming the structure and ``what`` was asked for."""
    atoms = to_atoms(structures, index, molecule_box)
    atoms.calc = calculator
    formula = atoms.get_chemical_formula()
    try:
        values = compute(atoms)
    except Exception as error:
        raise EfaError(
            f"calculator {name!r} failed on structure {index} ({formula}): "
            f"{type(error).__name__}: {error}"
        ) from None
    if not all(np.all(np.isfinite(value)) for value in values):
        raise EfaError(
            f"calculator {name!r} returned a non-finite {what} for structure {index} "
            f"({formula}): {what.split()[0]} {values[0]}"
        )
    return values


def calculator_energy_forces(
    calculator: Calculator, name: str, molecule_box: float | None = None
) -> Callable[[Structures], tuple[np.ndarray, np.ndarray]]:
    """``Structures → (energy (S,), forces (S, A, 3))`` evaluated by ``calculator`` (molecules
    in a non-periodic box of ``molecule_box`` Å vacuum if given, :func:`to_atoms`).

    Raises (when called):
      EfaError: the calculator raised, or returned a non-finite energy or force (the message
        names the structure).
    """

    def compute(atoms):
        return (
            float(atoms.get_potential_energy()),
            np.asarray(atoms.get_forces(), dtype=np.float64),
        )

    def energy_forces(structures: Structures) -> tuple[np.ndarray, np.ndarray]:
        count, atoms_per_slot = structures.atom_mask.shape
        energy = np.zeros(count)
        forces = np.zeros((count, atoms_per_slot, 3))
        for index in range(count):
            energy[index], forces[index, structures.atom_mask[index]] = _calculated(
                calculator, name, structures, index, compute, "energy or force", molecule_box
            )
        return energy, forces

    return energy_forces


def calculator_stress(calculator: Calculator, name: str) -> Callable[[Structures], np.ndarray]:
    """``Structures → stress (S, 3, 3)`` (eV/Å³) of periodic cells evaluated by ``calculator``.

    Raises (when called):
      EfaError: the calculator raised or returned a non-finite stress (naming the structure).
    """

    def compute(atoms):
        return (np.asarray(atoms.get_stress(voigt=False), dtype=np.float64),)

    def stress(structures: Structures) -> np.ndarray:
        return np.stack(
            [
                _calculated(calculator, name, structures, index, compute, "stress")[0]
                for index in range(len(structures.energy))
            ]
        )

    return stress


def receptive_field_value(value: float | str | None) -> float:
    """A configuration's ``receptive_field``: Å, ``"global"`` (``inf``) or None (``nan``)."""
    if value is None:
        return math.nan
    if value == "global":
        return math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"receptive_field={value!r}: expected a length in Å, 'global' or null")
    return float(value)


def calculator_predictor(
    label: str,
    factory: str,
    options: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    cutoff: float | None = None,
    receptive_field: float | str | None = None,
    card: Mapping[str, Any] | None = None,
    datasets: Mapping[str, str] | None = None,
    source: str = "",
    capabilities: Mapping[str, Any] | None = None,
    molecule_box: float | None = None,
) -> Predictor:
    """A :class:`Predictor` evaluating ``factory(**options)`` (family ``external``), with the
    declared ``capabilities`` (stress by default where the calculator implements it)."""
    calculator = make_calculator(factory, options)
    gives_stress = "stress" in calculator.implemented_properties
    return Predictor(
        label=label,
        seed=seed,
        family="external",
        cutoff=math.nan if cutoff is None else float(cutoff),
        receptive_field=receptive_field_value(receptive_field),
        energy_forces=calculator_energy_forces(calculator, factory, molecule_box),
        source=source or factory,
        card=model_card(card, name=label, source=factory),
        datasets=dict(datasets or {}),
        compiled=False,
        stress=calculator_stress(calculator, factory) if gives_stress else None,
        capabilities=capabilities_from_mapping(capabilities, stress=gives_stress),
    )
