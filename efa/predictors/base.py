"""The predictor: what evaluation, probes and the report need of any model.

A predictor is a label, a seed, a family, the neighbour cutoff, the declared receptive field, a
model card and a function mapping :class:`~efa.data.structures.Structures` (``S`` structures,
``A`` atom slots) to energies ``(S,)`` eV and forces ``(S, A, 3)`` eV/Å. Trained runs
(:mod:`efa.predictors.trained`), ASE calculators (:mod:`efa.predictors.calculator`) and, in the
tests, analytic potentials all take this one shape.

Receptive field: a local message-passing model with ``T`` layers and cutoff ``r_c`` sees at most
``T·r_c`` around an atom, so beyond that its predicted interaction between fragments is exactly
constant. EFA layers remove that limit (``inf``); a model that declares nothing has ``nan``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from efa.data.structures import Structures
from efa.errors import ConfigError, EfaError
from efa.runs.capabilities import Capabilities

#: Structures predicted per call, and the bound on ``structures · atoms²`` per call (the padded
#: neighbour search holds that many distances).
PREDICT_CHUNK = 64
PREDICT_PAIR_BUDGET = 2**20

EnergyForces = Callable[[Structures], tuple[np.ndarray, np.ndarray]]
Stress = Callable[[Structures], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A model as seen by evaluation, the probes and the report.

    Attributes:
      label: model name in the result stores (the run's ``model_label``).
      seed: training seed.
      family: ``"local"``, ``"efa"`` or ``"external"`` (used to pair models in the report).
      cutoff: neighbour cutoff ``r_c`` in Å.
      receptive_field: ``T·r_c`` in Å for local models, ``inf`` with EFA, ``nan`` if unknown.
      energy_forces: ``Structures → (energy (S,), forces (S, A, 3))``.
      source: where the model came from (run directory), for error messages and attrs.
      card: the model card (``name``, ``source``, ``version``, ``license``, ``training_data``,
        ``level_of_theory``; :func:`model_card`).
      truncated: whether its training stopped on the ``max_time_s`` safety net before its step
        budget (the report then counts no target on it as met).
      datasets: ``{name: content sha256}`` of the data it was trained on (provenance).
      compiled: a model compiled for the shapes it sees (JAX): :meth:`predict` repeats the
        last structure of the last chunk up to the chunk size so that it sees one shape, and
        its first call includes compilation. False for calculators.
      stress: ``Structures → stress (S, 3, 3)`` eV/Å³ (ASE convention) of cells periodic in
        all directions, or None if the model gives none.
      capabilities: what the model takes and gives (:mod:`efa.runs.capabilities`).
    """

    label: str
    seed: int
    family: str
    cutoff: float
    receptive_field: float
    energy_forces: EnergyForces
    source: str = "<analytic>"
    card: Mapping[str, str] = dataclasses.field(default_factory=dict)
    truncated: bool = False
    datasets: Mapping[str, str] = dataclasses.field(default_factory=dict)
    compiled: bool = True
    stress: Stress | None = None
    capabilities: Capabilities = Capabilities()

    def predict(
        self, structures: Structures, chunk: int = PREDICT_CHUNK
    ) -> tuple[np.ndarray, np.ndarray]:
        """Energies ``(S,)`` and forces ``(S, A, 3)``, predicted ``chunk`` structures at a time
        (fewer for large structures, see :data:`PREDICT_PAIR_BUDGET`). Periodic cells and
        molecules among ``structures`` are predicted apart (a batch holds one or the other)."""
        periodic = structures.periodic
        if periodic.any() and not periodic.all():
            energy, forces = np.zeros(len(periodic)), np.zeros(structures.forces.shape)
            for part in (np.flatnonzero(periodic), np.flatnonzero(~periodic)):
                energy[part], forces[part] = self.predict(structures.select(part), chunk)
            return energy, forces
        energy, forces = self._chunked(self.energy_forces, structures, chunk)
        if energy.shape != structures.energy.shape or forces.shape != structures.forces.shape:
            raise EfaError(
                f"model {self.label!r} ({self.source}) returned energies of shape "
                f"{energy.shape} and forces of shape {forces.shape} for "
                f"{len(structures.energy)} structures of {structures.forces.shape[1]} atom "
                f"slots; expected {structures.energy.shape} and {structures.forces.shape}"
            )
        return energy, np.where(structures.atom_mask[..., None], forces, 0.0)

    def predict_stress(self, structures: Structures, chunk: int = PREDICT_CHUNK) -> np.ndarray:
        """Stress ``(S, 3, 3)`` (eV/Å³) of cells periodic in all directions, in chunks.

        Raises:
          ConfigError: the model gives no stress.
        """
        if self.stress is None:
            raise ConfigError(f"model {self.label!r} ({self.source}) gives no stress")
        (stress,) = self._chunked(lambda part: (self.stress(part),), structures, chunk)
        return stress

    def _chunked(self, function, structures: Structures, chunk: int) -> list[np.ndarray]:
        """``function`` (``Structures →`` a tuple of arrays with leading dim S) evaluated
        ``chunk`` structures at a time; a compiled model sees full chunks only."""
        count, atoms = structures.atom_mask.shape
        chunk = max(1, min(chunk, count, PREDICT_PAIR_BUDGET // atoms**2))
        outputs = None
        for start in range(0, count, chunk):
            stop = start + chunk if self.compiled else min(count, start + chunk)
            indices = np.minimum(np.arange(start, stop), count - 1)
            parts = function(structures.select(indices))
            if outputs is None:
                outputs = [np.zeros((count, *np.shape(part)[1:])) for part in parts]
            stop = min(count, start + chunk)
            for output, part in zip(outputs, parts, strict=True):
                output[start:stop] = np.asarray(part, np.float64)[: stop - start]
        return outputs


def check_unique(models: Sequence[Predictor]) -> None:
    """Raise :class:`ConfigError` if two models share a ``(label, seed)`` pair."""
    seen: dict[tuple[str, int], str] = {}
    for model in models:
        key = (model.label, model.seed)
        if key in seen:
            raise ConfigError(
                f"--run {model.source}: model {model.label!r} seed {model.seed} was already given "
                f"by --run {seen[key]}; expected one run per (model, seed)"
            )
        seen[key] = model.source
    if not models:
        raise ConfigError("no models given; expected at least one --run RUN_DIR")
