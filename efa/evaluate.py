"""Test-split evaluation of any model's run (``efa evaluate``) in the result-store format.

For the predictor of a run (:func:`efa.predictors.load_predictor`: a trained model's best
checkpoint, or a calculator), on the structures of one split (default ``test``):

- ``energy_mae``/``energy_rmse`` (eV) over structures, ``energy_mae_per_atom``/
  ``energy_rmse_per_atom`` (eV/atom) of ``ΔE_s / n_s``;
- ``forces_mae``/``forces_rmse`` (eV/Å) over all Cartesian force components of real atoms;
- ``num_parameters`` (nan for a calculator), training ``steps``, ``truncated`` (1 if training
  stopped on its ``max_time_s`` safety net before ``max_steps``, else 0), ``best_valid_loss``;
- ``wall_time_s`` (training) and ``inference_us_per_atom`` (one pass over the split after a
  first, compiling one). These measure time, not quality: the report keeps them apart
  (:data:`efa.report.tables.TIMING_METRICS`).

They are written as an xarray store with dims ``(experiment, model, seed)`` of size 1 each
(``docs/architecture.md``, "Result stores"), so stores of many runs combine with
``xr.combine_by_coords``; per-structure predictions go to a second store with dim ``structure``
(data set indices). Both carry the run's provenance and model card as attributes.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import xarray as xr

from efa.data.batching import Structures
from efa.predictors import load_predictor
from efa.provenance import collect, to_attr
from efa.storage import write_zarr
from efa.train.config import config_from_mapping
from efa.train.data_record import load_run_split
from efa.train.run import RunPaths, read_json

#: Units of the metric variables.
METRIC_UNITS = {
    "energy_mae": "eV",
    "energy_rmse": "eV",
    "energy_mae_per_atom": "eV/atom",
    "energy_rmse_per_atom": "eV/atom",
    "forces_mae": "eV/Å",
    "forces_rmse": "eV/Å",
    "num_parameters": "1",
    "steps": "1",
    "truncated": "1",
    "wall_time_s": "s",
    "inference_us_per_atom": "µs/atom",
    "best_valid_loss": "eV²",
}


def test_errors(
    structures: Structures, energy: np.ndarray, forces: np.ndarray
) -> dict[str, float]:
    """Energy and force errors (module docstring) of predictions ``energy (S,)``,
    ``forces (S, A, 3)`` against the labels of ``structures``, in float64."""
    atoms = structures.atom_mask.sum(axis=1)
    delta = np.asarray(energy, np.float64) - structures.energy
    per_atom = delta / atoms
    force_delta = (np.asarray(forces, np.float64) - structures.forces)[structures.atom_mask]
    return {
        "energy_mae": float(np.mean(np.abs(delta))),
        "energy_rmse": math.sqrt(float(np.mean(delta**2))),
        "energy_mae_per_atom": float(np.mean(np.abs(per_atom))),
        "energy_rmse_per_atom": math.sqrt(float(np.mean(per_atom**2))),
        "forces_mae": float(np.mean(np.abs(force_delta))),
        "forces_rmse": math.sqrt(float(np.mean(force_delta**2))),
    }


def evaluate_run(
    run_dir: str | os.PathLike, split: str = "test"
) -> tuple[xr.Dataset, xr.Dataset]:
    """Metrics and per-structure predictions of the run's predictor on ``split``.

    Returns:
      ``(metrics, predictions)``: metrics with dims ``(experiment, model, seed)``; predictions
      with dims ``(structure, atom, xyz)`` holding reference and predicted energies and forces.
    """
    paths = RunPaths(Path(run_dir))
    config = config_from_mapping(read_json(paths.config, "run configuration"), str(paths.config))
    structures, indices, digest = load_run_split(run_dir, split, "evaluate")
    predictor = load_predictor(run_dir)
    energy, forces = predictor.predict(structures)
    start = time.perf_counter()
    predictor.predict(structures)
    seconds = time.perf_counter() - start

    trained = not config.calculator and paths.model.exists()
    info = read_json(paths.model, "model description") if trained else {}
    summary = read_json(paths.summary, "run summary") if paths.summary.exists() else {}
    provenance = summary.get("provenance") or collect(datasets={config.dataset: digest})
    attrs = {
        "split": split, "run_dir": str(paths.root), "dataset": config.dataset,
        "provenance": to_attr(provenance), "card": json.dumps(dict(predictor.card)),
    }
    values = {
        **test_errors(structures, energy, forces),
        "num_parameters": info.get("num_parameters", math.nan),
        "steps": math.nan if summary.get("steps") is None else summary["steps"],
        "truncated": float(bool(summary.get("truncated", False))),
        "wall_time_s": summary.get("wall_time_s", math.nan),
        "inference_us_per_atom": 1e6 * seconds / max(1, int(structures.atom_mask.sum())),
        "best_valid_loss": summary.get("best_valid_loss", math.nan),
    }
    coords = {  # object strings are stored as zarr v3 variable-length strings
        "experiment": np.array([config.experiment], dtype=object),
        "model": np.array([config.model_label], dtype=object),
        "seed": [config.seed],
    }
    metrics = xr.Dataset(
        {
            name: (
                ("experiment", "model", "seed"),
                np.full((1, 1, 1), value),
                {"units": METRIC_UNITS[name]},
            )
            for name, value in values.items()
        },
        coords=coords,
        attrs=attrs,
    )
    force_units = {"units": "eV/Å"}
    predictions = xr.Dataset(
        {
            "energy_reference": ("structure", structures.energy, {"units": "eV"}),
            "energy_predicted": ("structure", energy, {"units": "eV"}),
            "forces_reference": (("structure", "atom", "xyz"), structures.forces, force_units),
            "forces_predicted": (("structure", "atom", "xyz"), forces, force_units),
            "atom_mask": (("structure", "atom"), structures.atom_mask),
        },
        coords={"structure": indices},
        attrs=attrs,
    )
    return metrics, predictions


def write_evaluation(
    run_dir: str | os.PathLike, split: str = "test", output: str | os.PathLike | None = None
) -> tuple[Path, xr.Dataset]:
    """Evaluate and write ``metrics.zarr`` (or ``output``) and ``predictions_<split>.zarr``."""
    metrics, predictions = evaluate_run(run_dir, split)
    root = Path(run_dir)
    path = Path(output) if output is not None else root / "metrics.zarr"
    write_zarr(metrics, path)
    write_zarr(predictions, root / f"predictions_{split}.zarr")
    return path, metrics
