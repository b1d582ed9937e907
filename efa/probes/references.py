"""Reference structures of the probes: built here and labelled (:mod:`efa.probes.labels`), or
opened from a canonical data set store (validated by :func:`efa.data.store.open_dataset`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from efa.data.store import open_dataset
from efa.errors import ConfigError
from efa.probes.geometry import (
    fragment_mask,
    pull_apart,
)
from efa.probes.labels import TWO_ATOM_LEVEL, TWO_ATOM_NUMBERS, label_structures


def probe_attrs(source: str, coordinate_units: str) -> dict:
    return {
        "name": source,
        "description": f"probe structures ({source})",
        "source": source,
        "units": {"coordinate": coordinate_units},
    }


def two_atom_pairs(distances: np.ndarray, coordinate_name: str, source: str) -> xr.Dataset:
    """Pairs Z = (1, 2) on the z axis at ``distances`` (Å), labelled with the analytic E(r)."""
    positions = np.zeros((distances.size, 2, 3))
    positions[:, 1, 2] = distances
    return label_structures(
        [TWO_ATOM_NUMBERS] * distances.size,
        list(positions),
        np.zeros(distances.size, int),
        TWO_ATOM_LEVEL,
        probe_attrs(source, "Å"),
        coordinate=distances,
        source=source,
    )


def pulled_apart_structures(
    reference: xr.Dataset, structure: int, fragment: Sequence[int], gaps: np.ndarray, source: str
) -> tuple[xr.Dataset, np.ndarray]:
    """Structure ``structure`` of ``reference`` with ``fragment`` pulled to the gaps (Å), labelled
    at the reference's level of theory; returns the data set and the fragment mask."""
    count = reference.sizes["structure"]
    if not 0 <= structure < count:
        raise ConfigError(
            f"--structure {structure}: expected an index in 0..{count - 1} of {source}"
        )
    mask = np.asarray(reference["atom_mask"].values[structure])
    numbers = np.asarray(reference["atomic_numbers"].values[structure])[mask]
    positions = np.asarray(reference["positions"].values[structure])[mask]
    moving = fragment_mask(numbers.size, fragment, "--fragment")
    scan = pull_apart(positions, moving, gaps)
    charge = int(reference["total_charge"].values[structure]) if "total_charge" in reference else 0
    parameters = reference.attrs.get("parameters", {})
    dataset = label_structures(
        [numbers] * gaps.size,
        list(scan),
        [charge] * gaps.size,
        str(reference.attrs.get("level_of_theory", "")),
        probe_attrs(source, "Å"),
        coordinate=gaps,
        electronic_temperature=float(parameters.get("electronic_temperature", 300.0)),
        source=source,
    )
    return dataset, moving


def open_reference(options: Mapping[str, Any]) -> xr.Dataset:
    return open_dataset(options["reference"], options["datasets_root"])


def charge_transfer_pairs(reference: xr.Dataset, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(K,)`` of the neutral and ``(K,)`` of the protonated member of every pair.

    Pairs come from the variable ``pair`` (pair index per structure); within a pair the member
    with the lower ``total_charge`` is the neutral one.
    """
    for name in ("pair", "total_charge"):
        if name not in reference:
            raise ConfigError(
                f"--reference {source}: the data set has no {name!r}; expected pairs like "
                "carbon_chain_probe (variables 'pair' and 'total_charge')"
            )
    pair = reference["pair"].values
    charge = reference["total_charge"].values
    neutral, cation = [], []
    for k in np.unique(pair):
        members = np.flatnonzero(pair == k)
        if members.size != 2 or charge[members[0]] == charge[members[1]]:
            raise ConfigError(
                f"--reference {source}: pair {k} has {members.size} structures with charges "
                f"{charge[members].tolist()}; expected two structures of different charge"
            )
        low, high = members[np.argsort(charge[members])]
        neutral.append(low)
        cation.append(high)
    return np.array(neutral), np.array(cation)


def pair_changes(
    energy: np.ndarray,
    forces: np.ndarray,
    neutral: np.ndarray,
    cation: np.ndarray,
    far_atoms: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """``ΔE (K,) = E[cation] − E[neutral]`` and far-end ``ΔF (K, F, 3)``."""
    far = np.asarray(list(far_atoms))
    return energy[cation] - energy[neutral], forces[cation][:, far] - forces[neutral][:, far]


def far_fragment_scans(
    num_molecules: int, distances: np.ndarray, seed: int, source: str
) -> xr.Dataset:
    """Na⁺Cl⁻Na⁺ molecules with a far Na⁺, Cl⁻ or Ar moved along a ray, labelled exactly
    (:func:`efa.data.generators.analytic.far_fragment_labels`).

    Each of ``num_molecules`` molecules
    (:func:`~efa.data.generators.analytic.far_fragment_molecules`, ray direction random) is
    repeated for each far species of :data:`~efa.data.generators.analytic.FAR_SPECIES` and
    each distance ``d_k`` (Å) from its centre. Structure ``(m · 3 + s) · P + k`` is molecule
    ``m``, species ``s``, point ``k`` (``P = len(distances)``); ``coordinate`` is ``d_k``,
    ``group`` is ``charged`` or ``neutral``.
    """
    from efa.data.generators.analytic import (
        FAR_SPECIES,
        far_fragment_geometry,
        far_fragment_labels,
        far_fragment_molecules,
        ion_tables,
    )
    from efa.data.generators.geometry import random_unit_vectors

    rng = np.random.default_rng(seed)
    molecules = far_fragment_molecules(rng, num_molecules)
    ray = random_unit_vectors(rng, num_molecules)
    shape = (num_molecules, len(FAR_SPECIES), distances.size)
    m, s, k = (index.ravel() for index in np.indices(shape))
    species = np.asarray(FAR_SPECIES)[s]
    positions, numbers = far_fragment_geometry(molecules[m], species, distances[k, None] * ray[m])
    charge, _ = ion_tables()
    groups = np.where(charge[species] != 0, "charged", "neutral")
    return far_fragment_labels(
        positions,
        numbers,
        probe_attrs(source, "Å"),
        source,
        coordinate=distances[k],
        labels={"group": list(groups)},
    )
