"""Per-element reference energies: the part of the total energy that counting atoms explains.

Total energies of molecules are dominated by atomic contributions of tens of eV per atom, while
the physics a model has to learn (bond stretching, torsion, charge transfer) is a fraction of an
eV. Before training, the energies of the training split are regressed on the element counts,

    μ = argmin_μ Σ_s (E_s − Σ_Z n_{s,Z} μ_Z)²        (least squares, minimum-norm solution),

and the model learns only the residual ``E_s − Σ_Z n_{s,Z} μ_Z``. For data sets of one
composition this is the mean energy spread over the atoms; for data sets mixing compositions
(cumulenes C₇H₄, C₉H₄, C₁₁H₄: a spread of ±27 eV around a single per-atom mean, 0.76 eV
after the regression) it removes what the network would otherwise have to learn first.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Bool, Float, Int

from efa.data.schema import MAX_ATOMIC_NUMBER
from efa.data.structures import Structures
from efa.errors import EfaError


def zero_element_energies() -> Float[np.ndarray, " Z"]:
    """``μ_Z = 0`` for every element ``Z = 0 … 118`` (no references: the model predicts totals)."""
    return np.zeros(MAX_ATOMIC_NUMBER + 1)


def element_counts(
    atomic_numbers: Int[np.ndarray, "S A"], atom_mask: Bool[np.ndarray, "S A"]
) -> Int[np.ndarray, "S Z"]:
    """``n_{s,Z}``: how many real atoms of element ``Z`` (0 … 118) structure ``s`` has."""
    counts = np.zeros((atomic_numbers.shape[0], MAX_ATOMIC_NUMBER + 1), dtype=np.int64)
    rows = np.broadcast_to(np.arange(atomic_numbers.shape[0])[:, None], atomic_numbers.shape)
    np.add.at(counts, (rows[atom_mask], atomic_numbers[atom_mask]), 1)
    return counts


def fit_element_energies(structures: Structures) -> Float[np.ndarray, " Z"]:
    """Least-squares reference energies ``μ_Z`` (eV) of the elements of ``structures``.

    Returns an array of shape ``(119,)`` indexed by atomic number; elements that do not occur
    get 0. Compositions that do not determine every ``μ_Z`` (e.g. a single composition) get the
    minimum-norm solution, which still reproduces the mean energy of every composition seen.
    """
    counts = element_counts(structures.atomic_numbers, structures.atom_mask)
    present = np.flatnonzero(counts.sum(axis=0))
    solution, *_ = np.linalg.lstsq(
        counts[:, present].astype(np.float64), structures.energy.astype(np.float64), rcond=None
    )
    energies = zero_element_energies()
    energies[present] = solution
    return energies


def element_energies_to_json(energies: Float[np.ndarray, " Z"]) -> dict[str, float]:
    """``{"Z": μ_Z}`` for the elements with a nonzero reference energy (for ``model.json``)."""
    return {str(z): float(energies[z]) for z in np.flatnonzero(energies)}


def element_energies_from_json(mapping: Mapping[str, float], source: str) -> np.ndarray:
    """Inverse of :func:`element_energies_to_json`; ``source`` names the file for errors."""
    energies = zero_element_energies()
    for key, value in mapping.items():
        if not key.isdigit() or not 1 <= int(key) <= MAX_ATOMIC_NUMBER:
            raise EfaError(
                f"{source}: element_energies key {key!r} is not an atomic number 1…"
                f"{MAX_ATOMIC_NUMBER}"
            )
        if not np.isfinite(value):
            raise EfaError(f"{source}: element_energies[{key!r}] = {value!r} is not finite")
        energies[int(key)] = float(value)
    return energies
