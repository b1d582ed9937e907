"""A short numerical summary of a canonical data set (for ``efa data show``)."""

from __future__ import annotations

import numpy as np
import xarray as xr

#: Pair distances are computed on at most this many structures (evenly spaced).
MAX_PAIR_STRUCTURES = 2000


def summarize(ds: xr.Dataset) -> dict:
    """Counts, elements, energy / force / pair-distance ranges and provenance of ``ds``.

    Force range is over |F_i| of real atoms; pair distances over all pairs of real atoms of at
    most :data:`MAX_PAIR_STRUCTURES` evenly spaced structures (``pair_structures`` says how many).
    """
    mask = ds.atom_mask.values
    numbers = ds.atomic_numbers.values
    counts = mask.sum(axis=1)
    force_norm = np.linalg.norm(ds.forces.values, axis=-1)[mask]
    chosen = np.unique(np.linspace(0, ds.sizes["structure"] - 1, MAX_PAIR_STRUCTURES).astype(int))
    low, high = np.inf, 0.0
    for index in chosen:
        positions = ds.positions.values[index][mask[index]]
        if len(positions) > 1:
            distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
            upper = distance[np.triu_indices(len(positions), 1)]
            low, high = min(low, upper.min()), max(high, upper.max())
    return {
        "name": ds.attrs.get("name", ""),
        "structures": int(ds.sizes["structure"]),
        "atoms": (int(counts.min()), int(counts.max())),
        "elements": sorted(int(z) for z in np.unique(numbers[mask])),
        "energy": (float(ds.energy.min()), float(ds.energy.max())),
        "force_norm": (float(force_norm.min()), float(force_norm.max())),
        "pair_distance": (float(low), float(high)) if np.isfinite(low) else None,
        "pair_structures": len(chosen),
        "total_charge": sorted(int(q) for q in np.unique(ds.total_charge.values))
        if "total_charge" in ds
        else None,
        **{f"{name}_counts": _label_counts(ds, name) for name in ("split", "group")},
        "repeated_structures": ds.attrs.get("repeated_structures"),
        "variables": list(ds.data_vars),
        "units": dict(ds.attrs.get("units", {})),
        **{
            key: ds.attrs.get(key, "")
            for key in ("description", "source", "sha256", "level_of_theory", "license", "citation")
        },
    }


def _label_counts(ds: xr.Dataset, name: str) -> dict[str, int] | None:
    """``{label: number of structures}`` of a string label (in order of appearance), or None."""
    if name not in ds:
        return None
    labels = [str(value) for value in np.asarray(ds[name].values)]
    return {label: labels.count(label) for label in dict.fromkeys(labels)}


def largest_pair_distance(ds: xr.Dataset, rows: int = 1024) -> float:
    """The largest distance (Å) between two real atoms of one structure, over all structures
    (0 for a data set of single atoms); computed exactly, ``rows`` atoms at a time."""
    positions = np.asarray(ds.positions.values)
    mask = np.asarray(ds.atom_mask.values)
    largest = 0.0
    for index in range(positions.shape[0]):
        atoms = positions[index][mask[index]]
        for start in range(0, len(atoms), rows):
            block = atoms[start : start + rows]
            squared = ((block[:, None, :] - atoms[None, :, :]) ** 2).sum(axis=-1)
            largest = max(largest, float(squared.max()))
    return float(np.sqrt(largest))
