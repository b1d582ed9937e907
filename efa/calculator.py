"""ASE calculator for trained runs: ``EFACalculator(run_dir)`` gives energy and forces.

The calculator packs one ``ase.Atoms`` into a batch with a fresh neighbour list (within the
model's cutoff) at every call and evaluates the best checkpoint of the run. The total charge is
read from ``atoms.info["charge"]`` (default 0) and matters only for models trained with
``use_total_charge``; atomic dipoles (for ``use_atomic_dipoles``) from ``atoms.arrays["dipoles"]``
(default 0). Periodic boundary conditions are not supported.
"""

from __future__ import annotations

import os

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from efa.data.batching import Structures
from efa.errors import ConfigError


class EFACalculator(Calculator):
    """Energy (eV) and forces (eV/Å) of a trained model.

    Args:
      run_dir: run directory written by ``efa train`` (its best checkpoint is used).
      charge_key: key of ``atoms.info`` holding the integer total charge.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, run_dir: str | os.PathLike, charge_key: str = "charge", **kwargs):
        super().__init__(**kwargs)
        from efa.xla import configure_xla

        configure_xla()  # before JAX starts, if it has not yet
        from efa.train.run import load_trained  # JAX is imported only when a model is loaded

        self.trained = load_trained(run_dir)
        self.charge_key = charge_key

    def calculate(
        self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes
    ):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if atoms.pbc.any():
            raise ConfigError(
                "EFACalculator: atoms with periodic boundary conditions "
                f"(pbc={atoms.pbc.tolist()}) are not supported; expected pbc=False"
            )
        charge = atoms.info.get(self.charge_key, 0)
        if int(charge) != charge:
            raise ConfigError(
                f"EFACalculator: atoms.info[{self.charge_key!r}]={charge!r}; "
                "expected an integer charge"
            )
        count = len(atoms)
        structures = Structures(
            positions=atoms.get_positions()[None],
            atomic_numbers=atoms.get_atomic_numbers().astype(np.int32)[None],
            atom_mask=np.ones((1, count), bool),
            energy=np.zeros(1),
            forces=np.zeros((1, count, 3)),
            total_charge=np.array([int(charge)], np.int32),
            atomic_dipoles=atoms.arrays.get("dipoles", np.zeros((count, 3)))[None],
        )
        prediction = self.trained.predict_structures(structures)
        energy = float(prediction.energy[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": np.asarray(prediction.forces[0], dtype=np.float64),
        }
