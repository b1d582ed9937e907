"""Predictors from runs of ``efa train``: the best checkpoint, batched and jitted in process."""

from __future__ import annotations

import math
import os

import numpy as np

from efa.data.structures import Structures
from efa.predictors.base import Predictor
from efa.runs.capabilities import trained_capabilities
from efa.runs.card import model_card


def model_family(model) -> str:
    """``"efa"`` for a model with EFA blocks, ``"local"`` for the local network, else
    ``"external"`` (families pair models in the report's targets)."""
    from efa.models.mpnn import EFAModel, LocalModel

    if isinstance(model, EFAModel) and math.isinf(model.receptive_field):
        return "efa"
    if isinstance(model, LocalModel):
        return "local"
    return "external"


def declared_receptive_field(model) -> float:
    """The model's ``receptive_field`` attribute (Å, ``inf`` for global), ``nan`` without one."""
    value = getattr(model, "receptive_field", None)
    return math.nan if value is None else float(value)


def load_trained_predictor(run_dir: str | os.PathLike) -> Predictor:
    """The best checkpoint of the run in ``run_dir``
    (:func:`efa.train.trained_model.load_trained`)."""
    from efa import __version__
    from efa.models.registry import BUILTIN_MODELS
    from efa.runs.directory import read_json
    from efa.runs.layout import RunPaths
    from efa.train.trained_model import load_trained

    trained = load_trained(run_dir)
    paths = RunPaths(trained.run_dir)
    summary = read_json(paths.summary, "run summary") if paths.summary.exists() else {}
    data = read_json(paths.data, "data record") if paths.data.exists() else {}
    config = trained.config

    def energy_forces(structures: Structures) -> tuple[np.ndarray, np.ndarray]:
        prediction = trained.predict_structures(structures)
        return np.asarray(prediction.energy, np.float64), np.asarray(prediction.forces, np.float64)

    builtin = config.model in BUILTIN_MODELS
    return Predictor(
        label=config.model_label,
        seed=config.seed,
        family=model_family(trained.model),
        cutoff=trained.cutoff,
        receptive_field=declared_receptive_field(trained.model),
        energy_forces=energy_forces,
        source=str(run_dir),
        card=model_card(
            config.card,
            name=config.model_label,
            source=f"efa-bench {config.model}" if builtin else config.model,
            version=__version__ if builtin else "",
            license="MIT" if builtin else "",
            training_data=f"{config.dataset} (train split of {run_dir})",
            level_of_theory=data.get("level_of_theory", ""),
        ),
        truncated=bool(summary.get("truncated", False)),
        datasets={data["dataset"]: data["dataset_sha256"]} if data else {},
        stress=trained.stress_structures,
        capabilities=trained_capabilities(trained.model, data.get("elements")),
    )
