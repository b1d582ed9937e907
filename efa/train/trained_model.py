"""Loading a model that ``efa train`` trained from its run directory.

A built-in run's ``model.json`` holds the model name, options, cutoff, per-element reference
energies and parameter count; ``best/`` its best checkpoint (orbax,
:mod:`efa.train.checkpoints`). The rest of the run directory is :mod:`efa.runs.layout`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from efa.data.packing import Batch, BucketShape, pack, reciprocal_options
from efa.data.pairs import count_pairs, max_reciprocal
from efa.data.structures import Structures
from efa.errors import ConfigError, EfaError
from efa.models.registry import build_model
from efa.runs.config import RunConfig, config_from_mapping
from efa.runs.directory import read_json
from efa.runs.layout import RunPaths
from efa.train import checkpoints
from efa.train.objective import Prediction, predict, predict_stress
from efa.train.reference import element_energies_from_json


def count_parameters(params) -> int:
    """Number of scalar parameters in a pytree."""
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))


@dataclasses.dataclass
class TrainedModel:
    """A model with the parameters of the best checkpoint of a run.

    Attributes:
      model: the Flax module.
      params: its variables (``{"params": …}``).
      element_energies: reference energies ``μ_Z`` (eV), shape ``(119,)``, added back per atom.
      config: the run configuration.
      run_dir: where it was loaded from.
      elements: atomic numbers of the training split; other elements are refused.
    """

    model: nn.Module
    params: Any
    element_energies: np.ndarray
    config: RunConfig
    run_dir: Path
    elements: tuple[int, ...]

    @property
    def cutoff(self) -> float:
        return float(self.model.cutoff)

    def __post_init__(self):
        self._predict = jax.jit(
            lambda params, batch: predict(self.model, params, batch, self.element_energies)
        )
        self._stress = jax.jit(lambda params, batch: predict_stress(self.model, params, batch))

    def predict(self, batch: Batch) -> Prediction:
        """Energies and forces of a padded batch."""
        return self._predict(self.params, batch)

    def check_inputs(self, structures: Structures) -> None:
        """Refuse what the model cannot answer: elements it never saw in training (or no
        element at all, Z outside 1..118) and non-finite positions; the error names the
        structure."""
        from ase.data import chemical_symbols

        numbers = structures.atomic_numbers
        unknown = structures.atom_mask & ~np.isin(numbers, self.elements)
        if unknown.any():
            structure, atom = (int(i) for i in np.argwhere(unknown)[0])
            z = int(numbers[structure, atom])
            name = chemical_symbols[z] if 1 <= z < len(chemical_symbols) else "no element"
            seen = ", ".join(chemical_symbols[e] for e in self.elements)
            raise ConfigError(
                f"structure {structure}, atom {atom}: element Z={z} ({name}) never appeared in the "
                f"training split of {self.run_dir} (it saw {seen}); the model cannot predict it"
            )
        positions = structures.positions[structures.atom_mask]
        if not np.all(np.isfinite(positions)):
            structure = int(
                np.argwhere(~np.isfinite(structures.positions).all(-1) & structures.atom_mask)[0][0]
            )
            raise ConfigError(
                f"structure {structure}: non-finite positions; expected finite coordinates in Å"
            )

    def predict_structures(self, structures: Structures) -> Prediction:
        """Energies ``(S,)`` and forces ``(S, A, 3)`` of structures packed as one batch.

        The pairs of all structures share one pair group (:func:`efa.data.packing.pack`), whose
        slots are the total pair count rounded up to a power of two: a structure with few
        neighbours leaves no padding behind it, and a trajectory whose neighbour count
        fluctuates recompiles only a few times.
        """
        count, atoms = structures.atom_mask.shape
        prediction = self.predict(self._pack(structures))
        return Prediction(
            np.asarray(prediction.energy), np.asarray(prediction.forces).reshape(count, atoms, 3)
        )

    def stress_structures(self, structures: Structures) -> np.ndarray:
        """Stress ``(S, 3, 3)`` (eV/Å³, ASE convention) of periodic cells
        (:func:`efa.train.objective.predict_stress`)."""
        if structures.pbc is None or not structures.pbc.all():
            raise ConfigError("stress needs periodic cells; expected pbc along every direction")
        return np.asarray(self._stress(self.params, self._pack(structures)))

    def _pack(self, structures: Structures) -> Batch:
        """The checked structures as one batch with one pair group of ``2^⌈log₂ P⌉`` slots
        (``P``: their total pair count)."""
        self.check_inputs(structures)
        count, atoms = structures.atom_mask.shape
        pairs = count_pairs(structures, self.cutoff)
        capacity = 1 << (max(1, int(pairs.sum())) - 1).bit_length()
        reciprocal = reciprocal_options(self.model)
        vectors = max_reciprocal(structures, reciprocal["reciprocal_cutoff"])
        shape = BucketShape(atoms, int(pairs.max(initial=0)), vectors)
        return pack(structures, shape, count, self.cutoff, pair_groups=(1, capacity), **reciprocal)


def load_trained(run_dir: str | os.PathLike) -> TrainedModel:
    """Load the best parameters of the run in ``run_dir``.

    The model is built from the run's ``config.json`` (the configuration it was trained with);
    a ``model.json`` that names another model or other options is refused before anything is
    imported. Loading a run imports the model's module: open only run folders you trust.
    """
    paths = RunPaths(Path(run_dir))
    config = config_from_mapping(read_json(paths.config, "run configuration"), str(paths.config))
    info = read_json(paths.model, "model description")
    element_energies = recorded_element_energies(info, paths.model)
    recorded = (info.get("model"), dict(info.get("model_options") or {}))
    if recorded != (config.model, dict(config.model_options)):
        raise EfaError(
            f"{paths.model}: names model {recorded[0]!r} with options {recorded[1]}, but the "
            f"run's {paths.config.name} trained {config.model!r} with "
            f"{dict(config.model_options)}; "
            "the run folder was altered, so nothing of it is imported or loaded"
        )
    model = build_model(config.model, config.model_options)
    if checkpoints.latest_step(paths.best) is None:
        raise EfaError(f"{paths.best}: no best checkpoint yet; has the run validated once?")
    params, _ = checkpoints.restore(paths.best, _parameter_shapes(model))
    # runs of earlier versions list no elements: those with a reference energy were trained on
    elements = info.get("elements") or [int(z) for z in info["element_energies"]]
    return TrainedModel(
        model, params, element_energies, config, paths.root, tuple(sorted(int(z) for z in elements))
    )


def recorded_element_energies(info: dict[str, Any], path: Path) -> np.ndarray:
    """The reference energies ``μ_Z`` (shape ``(119,)``) of ``info``, read from ``path``
    (the run's ``model.json``)."""
    if "element_energies" not in info:
        raise EfaError(
            f"{path}: no 'element_energies' (the run was started by an older efa-bench "
            "that used one energy shift per atom); retrain it in a new run directory"
        )
    return element_energies_from_json(info["element_energies"], str(path))


def _parameter_shapes(model: nn.Module):
    """Shapes and dtypes of the model's parameters, without computing them."""
    structures = Structures(
        positions=np.array([[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]),
        atomic_numbers=np.array([[1, 1]], np.int32),
        atom_mask=np.ones((1, 2), bool),
        energy=np.zeros(1),
        forces=np.zeros((1, 2, 3)),
        total_charge=np.zeros(1, np.int32),
    )
    batch = pack(structures, BucketShape(2, 2), 1, float(model.cutoff))
    return jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)
