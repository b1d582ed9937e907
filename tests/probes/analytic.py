"""Analytic stand-ins for trained models and reference sets with closed-form probe answers."""

from __future__ import annotations

import math

import numpy as np

from efa.data.generators.carbon_chain import carbon_chain_geometry
from efa.data.generators.cumulene import cumulene_geometry
from efa.data.schema import make_dataset
from efa.probes import Predictor
from efa.probes.geometry import terminal_torsion_deg
from efa.probes.labels import two_atom_energy, two_atom_labels
from efa.runs.capabilities import Capabilities

#: Cutoff (Å) of the truncated "local" two-atom model.
CUTOFF = 4.0
#: Torsion barrier (eV) of the synthetic profile E(φ) = B cos²φ.
BARRIER = 0.8
#: Energy change (eV) and far-end force change (eV/Å) of the synthetic protonation.
ENERGY_CHANGE = -7.0
FAR_FORCE_CHANGE = np.array([[0.0, 0.0, 0.2], [0.0, 0.1, -0.05]])
FAR_ATOMS = (9, 10)


def exact_pair(structures):
    """The two-atom potential itself."""
    return two_atom_labels(structures.positions)


def truncated_pair(structures):
    """E(min(r, r_c)) and zero force beyond r_c: a local model that saw the data perfectly."""
    r = np.linalg.norm(structures.positions[:, 1] - structures.positions[:, 0], axis=-1)
    energy, forces = two_atom_labels(structures.positions)
    beyond = r > CUTOFF
    return np.where(beyond, two_atom_energy(CUTOFF), energy), np.where(
        beyond[:, None, None], 0.0, forces
    )


def pair_models() -> list[Predictor]:
    return [
        Predictor("efa", 0, "efa", CUTOFF, math.inf, exact_pair),
        Predictor("local", 0, "local", CUTOFF, 2 * CUTOFF, truncated_pair),
    ]


def torsion_energy(structures) -> np.ndarray:
    """E = B cos²φ of the terminal torsion φ read off the geometry."""
    phi = np.radians(terminal_torsion_deg(structures.positions, structures.atomic_numbers))
    return BARRIER * np.cos(phi) ** 2


def torsion_model(label: str, family: str, scale: float) -> Predictor:
    def energy_forces(structures):
        return scale * torsion_energy(structures) - 3.0, np.zeros(structures.positions.shape)

    return Predictor(label, 0, family, 4.0, math.inf if family == "efa" else 12.0, energy_forces)


def torsion_reference(angles: np.ndarray, level_of_theory: str = "GFN2-xTB (tblite)"):
    """C9H4 torsion scan labelled with E = B cos²φ (no coordinate: the probe reads the angle)."""
    numbers, positions = zip(*(cumulene_geometry(9, phi) for phi in angles))
    energy = BARRIER * np.cos(np.radians(angles)) ** 2
    return make_dataset(
        np.stack(positions),
        np.stack(numbers),
        energy,
        np.zeros((angles.size, 13, 3)),
        attrs=_attrs("torsion test scan", level_of_theory),
    )


def chain_labels(structures):
    """Neutral: E = 0, F = 0; cation: E = ΔE and far-end forces ΔF (a pure charge effect)."""
    charge = structures.total_charge.astype(float)
    forces = np.zeros(structures.positions.shape)
    forces[:, list(FAR_ATOMS)] = charge[:, None, None] * FAR_FORCE_CHANGE
    return charge * ENERGY_CHANGE, forces


def chain_model(label: str, family: str, captured: float) -> Predictor:
    """Gets the energy change right and a fraction ``captured`` of the far-end force change."""

    def energy_forces(structures):
        energy, forces = chain_labels(structures)
        return energy, captured * forces

    return Predictor(label, 0, family, 4.0, math.inf if family == "efa" else 12.0, energy_forces)


def chain_reference(num_pairs: int = 3):
    """Pairs (C10H2, C10H3+) labelled by :func:`chain_labels`."""
    from efa.data.schema import pad_atoms
    from efa.data.structures import Structures

    members = [carbon_chain_geometry(flag) for _ in range(num_pairs) for flag in (False, True)]
    numbers = pad_atoms([z for z, _ in members])
    positions = pad_atoms([r for _, r in members])
    charge = np.tile([0, 1], num_pairs)
    mask = numbers > 0
    energy, forces = chain_labels(
        Structures(positions, numbers, mask, np.zeros(2 * num_pairs), positions * 0, charge)
    )
    return make_dataset(
        positions,
        numbers,
        energy,
        np.where(mask[..., None], forces, 0.0),
        total_charge=charge,
        extra={"pair": np.repeat(np.arange(num_pairs), 2)},
        attrs=_attrs("chain test pairs", "GFN2-xTB (tblite)", {"pair": "1"}),
    )


def _attrs(name: str, level: str, units: dict | None = None) -> dict:
    return {
        "name": name,
        "description": name,
        "source": "tests",
        "sha256": "",
        "license": "CC0-1.0",
        "citation": "test data",
        "level_of_theory": level,
        "units": units or {},
    }


def pair_predictor(label, energy_of_r, capabilities=Capabilities(), extra=None, scale=1.0):
    """Molecules under ``E = Σ_i<j φ(r_ij)`` with exact forces; ``extra(numbers, positions,
    charge) → (ΔE, ΔF)`` adds a term, ``scale`` multiplies the forces (1: conservative)."""

    def energy_forces(structures):
        count = len(structures.energy)
        energies, forces = np.zeros(count), np.zeros(structures.positions.shape)
        for s in range(count):
            mask = structures.atom_mask[s]
            r = structures.positions[s][mask]
            numbers, charge = structures.atomic_numbers[s][mask], int(structures.total_charge[s])
            difference = r[:, None] - r[None]
            distance = np.linalg.norm(difference, axis=-1)
            upper = np.triu(np.ones_like(distance, bool), 1)
            energy, slope = energy_of_r(np.where(upper, distance, 1.0), numbers, charge)
            energies[s] = float(np.sum(np.where(upper, energy, 0.0)))
            pair = np.where(upper, slope / distance.clip(1e-12), 0.0)
            pair = pair + pair.T
            force = -np.einsum("ij,ijx->ix", pair, difference)
            if extra is not None:
                de, df = extra(numbers, r, charge)
                energies[s] += de
                force = force + df
            forces[s][mask] = scale * force
        return energies, forces

    return Predictor(label, 0, "external", 6.0, math.nan, energy_forces, capabilities=capabilities)
