"""Export a data set, or exactly the splits of a run, as extended XYZ for other codes' trainers.

Each structure is one frame of ``<name>.xyz`` (a whole data set) or of ``train.xyz``,
``valid.xyz``, ``test.xyz`` (a run's splits, in the run's index order). Labels are written under
the keys that MACE and NequIP read by default, so their own training commands take the files
unchanged:

================================  ============================================================
key                               content
================================  ============================================================
``energy`` (info), ``forces``     energy (eV) and forces (eV/Å) as ASE calculator results (what
(arrays)                          ``ase.io.read`` returns as ``atoms.get_potential_energy()``;
                                  NequIP's ASE reader)
``REF_energy``, ``REF_forces``    the same values under MACE's default ``--energy_key`` and
                                  ``--forces_key``
``stress`` (info), ``REF_stress``  stress (eV/Å³, ASE's sign) of periodic cells with stress
                                  labels: calculator result and MACE's ``--stress_key`` (Voigt)
``charge``, ``total_charge``      total charge (e): efa-bench's and MACE's key
``spin``, ``total_spin``          spin multiplicity ``2S + 1`` (:mod:`efa.predictors.calculator`)
``config_type``                   the structure's group label, if the data set has one (MACE
                                  reports its errors per ``config_type``)
``efa_split``                     the published split, if the data set has them
``efa_index``                     the structure's index in the data set
================================  ============================================================

Periodic cells keep their cell and periodicity (extxyz ``Lattice`` and ``pbc``). ASE writes
per-atom columns (positions, forces) with 8 decimals, i.e. to 1e-8 Å and 1e-8 eV/Å.
The output folder must not exist or be empty; it is written to a temporary sibling and renamed
into place, so an interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr
from ase import Atoms
from ase.io import write

from efa.data.atoms import labelled_atoms
from efa.data.structures import Structures
from efa.errors import ConfigError
from efa.storage import atomic_path

#: Info keys of the data set's string labels (:data:`efa.data.schema.LABELS`).
LABEL_KEYS = {"group": "config_type", "split": "efa_split"}


def _frames(dataset: xr.Dataset, indices: np.ndarray) -> list[Atoms]:
    structures = Structures.from_dataset(dataset)
    labels = {
        key: np.asarray(dataset[name].values) for name, key in LABEL_KEYS.items() if name in dataset
    }
    frames = []
    for index in indices:
        atoms = labelled_atoms(structures, int(index))
        atoms.info.update({key: str(values[index]) for key, values in labels.items()})
        atoms.info["efa_index"] = int(index)
        frames.append(atoms)
    return frames


def export_extxyz(
    dataset: xr.Dataset,
    output: str | os.PathLike,
    splits: Mapping[str, np.ndarray] | None = None,
    name: str = "dataset",
) -> list[Path]:
    """Write ``dataset`` (or its ``splits``, ``{name: indices}``) as extxyz files in ``output``.

    Returns:
      The written files.

    Raises:
      ConfigError: ``output`` exists and is not an empty folder.
    """
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigError(
            f"-o {output}: exists and is not an empty folder; choose a new folder (nothing was "
            "written)"
        )
    parts = splits if splits is not None else {name: np.arange(dataset.sizes["structure"])}
    with atomic_path(output) as temporary:
        temporary.mkdir()
        for part, indices in parts.items():
            write(temporary / f"{part}.xyz", _frames(dataset, np.asarray(indices)), format="extxyz")
    return [output / f"{part}.xyz" for part in parts]
