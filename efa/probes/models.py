"""The models a probe evaluates: trained runs, or any callable with the same outputs.

A probe only needs, per model, a label, a seed, a family, the neighbour cutoff, the nominal
receptive field and a function mapping :class:`~efa.data.batching.Structures` (``S`` structures,
``A`` atom slots) to energies ``(S,)`` eV and forces ``(S, A, 3)`` eV/Å. :func:`load_probe_model`
builds one from a run directory of ``efa train``; tests build them from analytic potentials.

Receptive field: a local message-passing model with ``T`` layers and cutoff ``r_c`` sees at most
``T·r_c`` around an atom, so beyond that its predicted interaction between fragments is exactly
constant. EFA layers remove that limit (``inf``); for a model of unknown
architecture the receptive field is ``nan``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from efa.data.batching import Structures
from efa.errors import ConfigError

#: Structures predicted per call, and the bound on ``structures · atoms²`` per call (the padded
#: neighbour search holds that many distances).
PREDICT_CHUNK = 64
PREDICT_PAIR_BUDGET = 2**20

EnergyForces = Callable[[Structures], tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class ProbeModel:
    """A model as seen by the probes.

    Attributes:
      label: model name in the result stores (the run's ``model_label``).
      seed: training seed.
      family: ``"local"``, ``"efa"`` or ``"external"`` (used to pair models in the report).
      cutoff: neighbour cutoff ``r_c`` in Å.
      receptive_field: ``T·r_c`` in Å for local models, ``inf`` with EFA, ``nan`` if unknown.
      energy_forces: ``Structures → (energy (S,), forces (S, A, 3))``.
      source: where the model came from (run directory), for error messages and attrs.
      truncated: whether its training stopped on the ``max_time_s`` safety net before its step
        budget (the report then counts no target on it as met).
      datasets: ``{name: content sha256}`` of the data it was trained on (provenance).
    """

    label: str
    seed: int
    family: str
    cutoff: float
    receptive_field: float
    energy_forces: EnergyForces
    source: str = "<analytic>"
    truncated: bool = False
    datasets: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def predict(self, structures: Structures, chunk: int = PREDICT_CHUNK) -> tuple[np.ndarray, np.ndarray]:
        """Energies ``(S,)`` and forces ``(S, A, 3)``, predicted ``chunk`` structures at a time
        (fewer for large structures, see :data:`PREDICT_PAIR_BUDGET`)."""
        count, atoms = structures.atom_mask.shape
        chunk = max(1, min(chunk, count, PREDICT_PAIR_BUDGET // atoms**2))
        energy = np.zeros(count)
        forces = np.zeros((count, atoms, 3))
        for start in range(0, count, chunk):
            # The last chunk repeats its final structure up to full size: one compiled shape.
            indices = np.minimum(np.arange(start, start + chunk), count - 1)
            part_energy, part_forces = self.energy_forces(structures.select(indices))
            stop = min(count, start + chunk)
            energy[start:stop] = part_energy[: stop - start]
            forces[start:stop] = part_forces[: stop - start]
        return energy, np.where(structures.atom_mask[..., None], forces, 0.0)


def model_family_and_reach(model) -> tuple[str, float]:
    """``(family, receptive field in Å)`` of a Flax model built by the model registry."""
    from efa.models.mpnn import EFAModel, LocalModel

    cutoff = float(model.cutoff)
    if isinstance(model, EFAModel) and (model.efa_layers is None or len(model.efa_layers) > 0):
        return "efa", math.inf
    if isinstance(model, LocalModel):
        return "local", model.num_iterations * cutoff
    return "external", math.nan


def load_probe_model(run_dir: str | os.PathLike) -> ProbeModel:
    """The best checkpoint of the run in ``run_dir`` (see :func:`efa.train.run.load_trained`)."""
    from efa.train.run import RunPaths, load_trained, read_json

    trained = load_trained(run_dir)
    family, reach = model_family_and_reach(trained.model)
    paths = RunPaths(trained.run_dir)
    summary = read_json(paths.summary, "run summary") if paths.summary.exists() else {}
    data = read_json(paths.data, "data record") if paths.data.exists() else {}

    def energy_forces(structures: Structures) -> tuple[np.ndarray, np.ndarray]:
        prediction = trained.predict_structures(structures)
        return np.asarray(prediction.energy, np.float64), np.asarray(prediction.forces, np.float64)

    return ProbeModel(
        label=trained.config.model_label,
        seed=trained.config.seed,
        family=family,
        cutoff=trained.cutoff,
        receptive_field=reach,
        energy_forces=energy_forces,
        source=str(run_dir),
        truncated=bool(summary.get("truncated", False)),
        datasets={data["dataset"]: data["dataset_sha256"]} if data else {},
    )


def check_unique(models: Sequence[ProbeModel]) -> None:
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
