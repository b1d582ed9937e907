"""Structures held in memory: the canonical variables of a data set as numpy arrays.

:class:`Structures` is what every stage hands around before batching: ``S`` structures padded
to ``A`` atom slots (``atom_mask`` marks the real atoms), with their labels, total charges,
optional per-atom dipole inputs and, for periodic cells, cell, periodicity and stress.
Conversions from and to ASE are :mod:`efa.data.atoms`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import xarray as xr
from jaxtyping import Bool, Float, Int

from efa.errors import ConfigError


class Structures(NamedTuple):
    """Structures held in memory as numpy arrays in the canonical layout (``S`` structures).

    ``energy`` and ``forces`` may be zeros when labels are unknown (prediction only);
    ``atomic_dipoles`` is None when the data set has no ``dipoles`` input, ``stress`` (eV/Å³)
    when it has no stress labels.
    """

    positions: Float[np.ndarray, "S A 3"]
    atomic_numbers: Int[np.ndarray, "S A"]
    atom_mask: Bool[np.ndarray, "S A"]
    energy: Float[np.ndarray, " S"]
    forces: Float[np.ndarray, "S A 3"]
    total_charge: Int[np.ndarray, " S"]
    atomic_dipoles: Float[np.ndarray, "S A 3"] | None = None
    cell: Float[np.ndarray, "S 3 3"] | None = None
    pbc: Bool[np.ndarray, "S 3"] | None = None
    stress: Float[np.ndarray, "S 3 3"] | None = None

    @property
    def periodic(self) -> Bool[np.ndarray, " S"]:
        """True for the structures with any periodic direction."""
        if self.pbc is None:
            return np.zeros(len(self.energy), dtype=bool)
        return self.pbc.any(axis=1)

    @classmethod
    def from_dataset(cls, dataset: xr.Dataset) -> Structures:
        """Load the canonical variables of ``dataset`` (``total_charge`` defaults to 0).

        The optional per-atom input ``dipoles`` (structure, atom, xyz) becomes
        ``atomic_dipoles``; ``cell``, ``pbc`` and the ``stress`` label are kept for periodic
        structures.
        """
        missing = [
            name
            for name in ("positions", "atomic_numbers", "atom_mask", "energy", "forces")
            if name not in dataset
        ]
        if missing:
            raise ConfigError(
                f"dataset {dataset.attrs.get('name', '<unnamed>')!r} lacks the variables "
                f"{missing}; expected the canonical layout (docs/architecture.md)"
            )
        num_structures = dataset.sizes["structure"]
        charge = (
            dataset["total_charge"].values
            if "total_charge" in dataset
            else np.zeros(num_structures, np.int64)
        )
        return cls(
            positions=np.asarray(dataset["positions"].values, np.float64),
            atomic_numbers=np.asarray(dataset["atomic_numbers"].values, np.int32),
            atom_mask=np.asarray(dataset["atom_mask"].values, bool),
            energy=np.asarray(dataset["energy"].values, np.float64),
            forces=np.asarray(dataset["forces"].values, np.float64),
            total_charge=np.asarray(charge, np.int32),
            atomic_dipoles=(
                np.asarray(dataset["dipoles"].values, np.float64) if "dipoles" in dataset else None
            ),
            cell=np.asarray(dataset["cell"].values, np.float64) if "cell" in dataset else None,
            pbc=np.asarray(dataset["pbc"].values, bool) if "pbc" in dataset else None,
            stress=(
                np.asarray(dataset["stress"].values, np.float64) if "stress" in dataset else None
            ),
        )

    def select(self, indices: Sequence[int] | np.ndarray) -> Structures:
        """The structures at ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        return Structures(*(None if field is None else field[indices] for field in self))

    @property
    def num_atoms(self) -> Int[np.ndarray, " S"]:
        """Atoms per structure."""
        return self.atom_mask.sum(axis=1)
