"""Predictors: one interface between results and models of any kind.

Evaluation, probes and the report speak only to :class:`Predictor` (energies and forces of
structures, plus a label, a family, a declared receptive field and a model card). Trained runs
(:mod:`efa.predictors.trained`) and ASE calculators (:mod:`efa.predictors.calculator`) are the
two kinds; :func:`load_predictor` loads either from its run directory
(:mod:`efa.predictors.loading`).
"""

from efa.predictors.base import Predictor, check_unique
from efa.predictors.loading import load_predictor, prepare_calculator_run

__all__ = [
    "Predictor",
    "check_unique",
    "load_predictor",
    "prepare_calculator_run",
]
