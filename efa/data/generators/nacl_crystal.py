"""Periodic rock-salt NaCl cells labelled exactly: Ewald Coulomb sum plus Born–Mayer repulsion.

Each structure is ``L³`` conventional cubic cells (8 ions each; ``L`` is ``repeats``, or drawn
for each structure from a list of ``repeats``) of lattice constant
``lattice_constant``, strained by a random symmetric strain (each component uniform in
``±strain``), with every ion displaced by a Gaussian of standard deviation ``rattle`` (Å).
``defects`` chooses the variants: ``"none"``; ``"neutral"``, one Na⁺–Cl⁻ pair removed
(a Schottky defect); ``"charged"``, one Cl⁻ removed (total charge +1, neutralised by a uniform
background in the Ewald sum); ``"mixed"``, each structure one of the three at random. Labels:
:func:`efa.data.generators.ewald.ewald` with the NaCl toy potential's repulsion (``C = 30`` eV,
``β = 0.25``), energies in eV, forces in eV/Å, the stress ``(S, 3, 3)`` in eV/Å³; or, with
``labels="gfn2-xtb"``, GFN2-xTB for the periodic cells (tblite, :mod:`efa.data.generators.xtb`:
energy, forces, stress and partial charges of the same structures).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from tqdm import tqdm

from efa.data.generators.ewald import ewald
from efa.data.generators.provenance import generator_attrs
from efa.data.schema import make_dataset, pad_atoms
from efa.errors import DataError

DEFECTS = ("none", "neutral", "charged", "mixed")
LABELS = ("ewald", "gfn2-xtb")
_FCC = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def rock_salt(repeats: int, lattice_constant: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions ``(8 r³, 3)`` (Å), atomic numbers and the cubic cell ``(3, 3)`` of ``repeats³``
    conventional cells: Na⁺ on the fcc sites, Cl⁻ shifted by ``a/2`` along x."""
    fractional = np.concatenate([_FCC, (_FCC + [0.5, 0.0, 0.0]) % 1.0])
    numbers = np.array([11] * 4 + [17] * 4)
    shifts = np.stack(np.meshgrid(*[np.arange(repeats)] * 3, indexing="ij"), -1).reshape(-1, 3)
    positions = np.concatenate([fractional + shift for shift in shifts]) * lattice_constant
    cell = np.eye(3) * lattice_constant * repeats
    return positions, np.tile(numbers, len(shifts)), cell


def nacl_crystal(
    num_structures: int,
    seed: int,
    repeats: int | list[int] = 1,
    lattice_constant: float = 5.64,
    rattle: float = 0.1,
    strain: float = 0.02,
    defects: str = "none",
    labels: str = "ewald",
) -> xr.Dataset:
    """Rattled, strained rock-salt cells with optional vacancies (module docstring)."""
    if defects not in DEFECTS:
        raise DataError(f"nacl_crystal: defects={defects!r}; expected one of {list(DEFECTS)}")
    if labels not in LABELS:
        raise DataError(f"nacl_crystal: labels={labels!r}; expected one of {list(LABELS)}")
    rng = np.random.default_rng(seed)
    sizes = [repeats] if isinstance(repeats, int) else list(repeats)
    if not sizes or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in sizes):
        raise DataError(f"nacl_crystal: repeats={repeats!r}; expected a positive integer or a list")
    lattices = {size: rock_salt(size, lattice_constant) for size in sizes}
    edges = rng.choice(sizes, size=num_structures) if len(sizes) > 1 else sizes * num_structures
    rows = {"positions": [], "numbers": [], "cell": [], "energy": [], "forces": [], "stress": []}
    kinds = (
        rng.choice(DEFECTS[:3], size=num_structures)
        if defects == "mixed"
        else [defects] * num_structures
    )
    for kind, edge in tqdm(list(zip(kinds, edges)), desc="nacl_crystal", unit="cell", disable=None):
        perfect, numbers, cubic = lattices[int(edge)]
        random = rng.uniform(-strain, strain, size=(3, 3))
        deform = np.eye(3) + (random + random.T) / 2
        cell = cubic @ deform
        positions = perfect @ deform + rng.normal(scale=rattle, size=perfect.shape)
        keep = np.ones(len(numbers), dtype=bool)
        if kind in ("neutral", "charged"):
            keep[rng.choice(np.flatnonzero(numbers == 17))] = False
        if kind == "neutral":
            keep[rng.choice(np.flatnonzero(numbers == 11))] = False
        rows["positions"].append(positions[keep])
        rows["numbers"].append(numbers[keep])
        rows["cell"].append(cell)
        if labels == "ewald":  # GFN2-xTB labels all cells at once, in parallel, below
            energy, forces, stress = ewald(positions[keep], numbers[keep], cell)
            rows["energy"].append(energy)
            rows["forces"].append(forces)
            rows["stress"].append(stress)
    total_charge = np.array([int(np.sum(np.where(z == 11, 1, -1))) for z in rows["numbers"]])
    parameters = dict(
        num_structures=num_structures,
        seed=seed,
        repeats=repeats,
        lattice_constant=lattice_constant,
        rattle=rattle,
        strain=strain,
        defects=defects,
    )
    description = (
        f"Periodic rock-salt NaCl, L³ conventional cells (L: {repeats}), rattled and strained "
        f"(defects: {defects})."
    )
    if labels == "gfn2-xtb":
        from efa.data.generators.xtb import CITATION_XTB, LEVEL_OF_THEORY, xtb_dataset

        attrs = generator_attrs(
            "nacl_crystal",
            {**parameters, "labels": labels},
            LEVEL_OF_THEORY,
            description,
            citation=CITATION_XTB,
        )
        return xtb_dataset(
            rows["numbers"],
            rows["positions"],
            total_charge,
            attrs,
            source="nacl_crystal",
            cells=rows["cell"],
        )
    attrs = generator_attrs(
        "nacl_crystal",
        parameters,
        "analytic: Ewald sum of ±1 e point charges + 30 exp(-r/(0.25 (R_i+R_j))) eV, "
        "R_Na=0.95, R_Cl=1.81 Å",
        description,
    )
    return make_dataset(
        pad_atoms(rows["positions"]),
        pad_atoms(rows["numbers"]),
        np.array(rows["energy"]),
        pad_atoms(rows["forces"]),
        total_charge=total_charge,
        cell=np.stack(rows["cell"]),
        pbc=np.ones((num_structures, 3), dtype=bool),
        stress=np.stack(rows["stress"]),
        attrs=attrs,
        source="nacl_crystal",
    )
