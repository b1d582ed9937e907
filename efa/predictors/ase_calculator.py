"""Any :class:`~efa.predictors.Predictor` as an ASE calculator.

``PredictorCalculator(predictor)`` gives the energy (eV) and forces (eV/Å) of one ``ase.Atoms``
per call (:func:`efa.data.atoms.structures_from_atoms`: the total charge from
``atoms.info["charge"]``, default 0, or a fixed ``charge``; atomic dipoles from
``atoms.arrays["dipoles"]``, default 0). Periodic cells are evaluated as cells; for cells
periodic in all three directions a model that gives stress gives it too
(``(1/V) ∂E/∂ε``, eV/Å³, Voigt order as ASE expects). Molecular dynamics
(:mod:`efa.probes.dynamics`) and :class:`efa.calculator.EFACalculator` use it.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from efa.data.atoms import CHARGE_KEY, structures_from_atoms
from efa.errors import ConfigError
from efa.predictors.base import Predictor


class PredictorCalculator(Calculator):
    """Energy (eV), forces (eV/Å) and (cells periodic in all directions) stress (eV/Å³) of a
    predictor.

    Args:
      predictor: the model.
      charge: a fixed total charge (e) of every structure; None: ``atoms.info[charge_key]``.
      charge_key: key of ``atoms.info`` holding the integer total charge.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        predictor: Predictor,
        charge: int | None = None,
        charge_key: str = CHARGE_KEY,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.predictor = predictor
        self.charge = None if charge is None else int(charge)
        self.charge_key = charge_key

    def _total_charge(self, atoms: Atoms) -> int:
        if self.charge is not None:
            return self.charge
        charge = atoms.info.get(self.charge_key, 0)
        if int(charge) != charge:
            raise ConfigError(
                f"{type(self).__name__}: atoms.info[{self.charge_key!r}]={charge!r}; "
                "expected an integer charge"
            )
        return int(charge)

    def calculate(
        self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes
    ):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        name = type(self).__name__
        periodic = bool(atoms.pbc.any())
        spanned = np.linalg.matrix_rank(atoms.cell.array[atoms.pbc], tol=1e-6) if periodic else 0
        if periodic and spanned < atoms.pbc.sum():
            raise ConfigError(
                f"{name}: pbc={atoms.pbc.tolist()} but the cell {atoms.cell.array.tolist()} has "
                "no independent lattice vector for every periodic direction; set a cell "
                "(atoms.cell) or pbc=False"
            )
        if "stress" in properties and not atoms.pbc.all():
            raise ConfigError(
                f"{name}: stress needs a cell periodic in all directions; got "
                f"pbc={atoms.pbc.tolist()}"
            )
        structures = structures_from_atoms([atoms], [self._total_charge(atoms)])
        energy, forces = self.predictor.predict(structures, chunk=1)
        self.results = {
            "energy": float(energy[0]),
            "free_energy": float(energy[0]),
            "forces": np.asarray(forces[0], np.float64),
        }
        if "stress" in properties:
            stress = self.predictor.predict_stress(structures, chunk=1)[0]
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
