"""Reference structures of the periodic probes: rock-salt NaCl cells, slabs and cut-outs,
labelled exactly (:func:`efa.data.generators.ewald.ewald` for cells, the direct pair sum
:func:`~efa.data.generators.ewald.coulomb_born_cluster` for clusters) at the level of theory of
the ``nacl_crystal`` data set.

Each builder returns a canonical data set with ``cell`` and ``pbc`` (clusters: pbc False and a
zero cell), a ``coordinate`` and the ``group`` label of every structure, so that a probe can
pair structures (a supercell with and without its vacancy, a cell with its cut-out).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from efa.data.generators.analytic import NACL_CHARGE
from efa.data.generators.ewald import coulomb_born_cluster, ewald
from efa.data.generators.nacl_crystal import rock_salt
from efa.data.schema import make_dataset, pad_atoms
from efa.probes.references import probe_attrs

#: Level of theory of every structure built here (that of the ``nacl_crystal`` data set).
CRYSTAL_LEVEL = (
    "analytic: Ewald sum of ±1 e point charges (uniform background for charged cells) + "
    "30 exp(-r/(0.25 (R_i+R_j))) eV, R_Na=0.95, R_Cl=1.81 Å"
)


def _labelled(items, coordinate, groups, coordinate_units: str, source: str) -> xr.Dataset:
    """``items``: ``(positions, numbers, cell or None)`` per structure → a labelled data set."""
    energy, forces, cells, pbc = [], [], [], []
    for positions, numbers, cell in items:
        if cell is None:
            value, force = coulomb_born_cluster(positions, numbers)
            cells.append(np.zeros((3, 3)))
            pbc.append([False] * 3)
        else:
            value, force, _ = ewald(positions, numbers, cell)
            cells.append(cell)
            pbc.append([True] * 3)
        energy.append(value)
        forces.append(force)
    charge = [int(sum(NACL_CHARGE[int(z)] for z in numbers)) for _, numbers, _ in items]
    attrs = {**probe_attrs(source, coordinate_units), "level_of_theory": CRYSTAL_LEVEL}
    return make_dataset(
        pad_atoms([positions for positions, _, _ in items]),
        pad_atoms([numbers for _, numbers, _ in items]),
        np.array(energy),
        pad_atoms(forces),
        total_charge=charge,
        coordinate=np.asarray(coordinate, np.float64),
        cell=np.stack(cells),
        pbc=np.array(pbc),
        attrs=attrs,
        source=source,
        labels={"group": list(groups)},
    )


def vacancy_supercells(repeats: Sequence[int], lattice_constant: float) -> xr.Dataset:
    """Perfect ``L×L×L`` rock-salt supercells and the same with one Cl⁻ removed (a charged
    vacancy, +1 e, neutralised by the uniform background), for every ``L`` in ``repeats``;
    groups ``perfect`` and ``vacancy``, coordinate ``L``."""
    items, coordinate, groups = [], [], []
    for size in repeats:
        positions, numbers, cell = rock_salt(int(size), lattice_constant)
        chlorine = int(np.flatnonzero(numbers == 17)[0])
        keep = np.arange(len(numbers)) != chlorine
        items += [(positions, numbers, cell), (positions[keep], numbers[keep], cell)]
        coordinate += [size, size]
        groups += ["perfect", "vacancy"]
    return _labelled(items, coordinate, groups, "cells per edge", "nacl_supercell probe")


def charged_slabs(
    layers: int, vacuum: np.ndarray, lattice_constant: float
) -> tuple[xr.Dataset, float]:
    """A (001) rock-salt slab of ``layers`` conventional cells (``2·layers`` atomic planes,
    one conventional cell wide) with a Cl⁻ removed from its middle (+1 e), in cells periodic in
    all directions whose height leaves ``vacuum`` Å (``(P,)``, 0 = the bulk stacking) between
    the slab's images; groups ``slab``, coordinate the vacuum width. Also returns the slab's
    thickness (Å, outermost planes)."""
    positions, numbers, cell = rock_salt(1, lattice_constant)
    planes = np.concatenate([positions + [0, 0, k * lattice_constant] for k in range(layers)])
    species = np.tile(numbers, layers)
    middle = planes[:, 2].mean()
    chlorine = np.flatnonzero(species == 17)
    remove = chlorine[np.argmin(np.abs(planes[chlorine, 2] - middle))]
    keep = np.arange(len(species)) != remove
    items = []
    for width in vacuum:
        slab_cell = cell.copy()
        slab_cell[2, 2] = layers * lattice_constant + float(width)
        items.append((planes[keep], species[keep], slab_cell))
    thickness = float(np.ptp(planes[:, 2]))
    source = "nacl_slab probe"
    return _labelled(items, vacuum, ["slab"] * len(items), "Å", source), thickness


def cluster_cutouts(edges: Sequence[int], lattice_constant: float) -> xr.Dataset:
    """Neutral cubes of ``n×n×n`` ions (``n`` even) of the rock-salt lattice, once as a
    cluster (no images) and once as the periodic cell they tile; groups ``cluster`` and
    ``cell``, coordinate the number of ions."""
    items, coordinate, groups = [], [], []
    spacing = lattice_constant / 2
    for edge in edges:
        grid = np.stack(np.meshgrid(*[np.arange(edge)] * 3, indexing="ij"), -1).reshape(-1, 3)
        numbers = np.where(grid.sum(axis=1) % 2 == 0, 11, 17)
        positions = grid * spacing
        items += [(positions, numbers, None), (positions, numbers, np.eye(3) * edge * spacing)]
        coordinate += [edge**3, edge**3]
        groups += ["cluster", "cell"]
    return _labelled(items, coordinate, groups, "ions", "nacl_cutout probe")
