"""ASE calculator for trained runs: ``EFACalculator(run_dir)`` gives energy and forces.

The calculator evaluates the best checkpoint of the run (:mod:`efa.predictors.trained`) through
:class:`~efa.predictors.ase_calculator.PredictorCalculator`: one ``ase.Atoms`` per call, packed
with a fresh neighbour list within the model's cutoff. The total charge is read from
``atoms.info["charge"]`` (default 0) and matters only for models trained with
``use_total_charge``; atomic dipoles (for ``use_atomic_dipoles``) from ``atoms.arrays["dipoles"]``
(default 0). Periodic cells (``atoms.pbc``) are evaluated with their images and periodic EFA;
for cells periodic in all three directions the calculator also gives the stress
(``(1/V) ∂E/∂ε``, eV/Å³, Voigt order as ASE expects).
"""

from __future__ import annotations

import os

from efa.data.atoms import CHARGE_KEY
from efa.predictors.ase_calculator import PredictorCalculator


class EFACalculator(PredictorCalculator):
    """Energy (eV), forces (eV/Å) and stress (eV/Å³) of a trained model.

    Args:
      run_dir: run directory written by ``efa train`` (its best checkpoint is used).
      charge_key: key of ``atoms.info`` holding the integer total charge.
    """

    def __init__(self, run_dir: str | os.PathLike, charge_key: str = CHARGE_KEY, **kwargs):
        from efa.xla import ensure_xla

        ensure_xla("efa.calculator.EFACalculator")  # before JAX starts, if it has not yet
        from efa.predictors.trained import load_trained_predictor  # JAX starts here

        super().__init__(load_trained_predictor(run_dir), charge_key=charge_key, **kwargs)
