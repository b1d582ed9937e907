"""ASE calculator for trained runs: ``EFACalculator(run_dir)`` gives energy and forces.

The calculator packs one ``ase.Atoms`` into a batch with a fresh neighbour list (within the
model's cutoff) at every call and evaluates the best checkpoint of the run. The total charge is
read from ``atoms.info["charge"]`` (default 0) and matters only for models trained with
``use_total_charge``; atomic dipoles (for ``use_atomic_dipoles``) from ``atoms.arrays["dipoles"]``
(default 0). Periodic cells (``atoms.pbc``) are evaluated with their images and periodic EFA;
for cells periodic in all three directions the calculator also gives the stress
(``(1/V) ∂E/∂ε``, eV/Å³, Voigt order as ASE expects).
"""

from __future__ import annotations

import os

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from efa.data.batching import Structures
from efa.errors import ConfigError


class EFACalculator(Calculator):
    """Energy (eV) and forces (eV/Å) of a trained model.

    Args:
      run_dir: run directory written by ``efa train`` (its best checkpoint is used).
      charge_key: key of ``atoms.info`` holding the integer total charge.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, run_dir: str | os.PathLike, charge_key: str = "charge", **kwargs):
        super().__init__(**kwargs)
        from efa.xla import configure_xla

        configure_xla()  # before JAX starts, if it has not yet
        from efa.train.trained_model import (
            load_trained,  # JAX is imported only when a model is loaded
        )

        self.trained = load_trained(run_dir)
        self.charge_key = charge_key

    def calculate(
        self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes
    ):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        periodic = bool(atoms.pbc.any())
        spanned = np.linalg.matrix_rank(atoms.cell.array[atoms.pbc], tol=1e-6) if periodic else 0
        if periodic and spanned < atoms.pbc.sum():
            raise ConfigError(
                f"EFACalculator: pbc={atoms.pbc.tolist()} but the cell "
                f"{atoms.cell.array.tolist()} has no independent lattice vector for every "
                "periodic direction; set a cell (atoms.cell) or pbc=False"
            )
        if "stress" in properties and not atoms.pbc.all():
            raise ConfigError(
                f"EFACalculator: stress needs a cell periodic in all directions; got "
                f"pbc={atoms.pbc.tolist()}"
            )
        charge = atoms.info.get(self.charge_key, 0)
        if int(charge) != charge:
            raise ConfigError(
                f"EFACalculator: atoms.info[{self.charge_key!r}]={charge!r}; "
                "expected an integer charge"
            )
        structures = Structures.from_atoms(atoms, int(charge))
        prediction = self.trained.predict_structures(structures)
        energy = float(prediction.energy[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": np.asarray(prediction.forces[0], dtype=np.float64),
        }
        if "stress" in properties:
            stress = self.trained.stress_structures(structures)[0].astype(np.float64)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
