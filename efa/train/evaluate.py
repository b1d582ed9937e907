"""Test-split evaluation of a trained run (``efa evaluate``) in the result-store format.

For the best checkpoint of a run, on the structures of one split (default ``test``):

- ``energy_mae``/``energy_rmse`` (eV) over structures, ``energy_mae_per_atom``/
  ``energy_rmse_per_atom`` (eV/atom) of ``ΔE_s / n_s``;
- ``forces_mae``/``forces_rmse`` (eV/Å) over all Cartesian force components of real atoms;
- ``num_parameters``, training ``steps``, ``truncated`` (1 if training stopped on its
  ``max_time_s`` safety net before ``max_steps``, else 0), ``best_valid_loss`` and
  ``wall_time_s``. ``wall_time_s`` measures time, not quality: the report keeps it apart
  (:data:`efa.report.tables.TIMING_METRICS`).

They are written as an xarray store with dims ``(experiment, model, seed)`` of size 1 each
(``docs`` "Result stores"), so stores of many runs combine with ``xr.combine_by_coords``;
per-structure predictions go to a second store with dim ``structure`` (data set indices).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import xarray as xr

from efa.data.batching import Batcher
from efa.provenance import collect, to_attr
from efa.storage import write_zarr
from efa.train.data_record import load_run_split
from efa.train.objective import add_sums, error_sums
from efa.train.run import RunPaths, load_trained, read_json

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
    "best_valid_loss": "eV²",
}

def evaluate_run(
    run_dir: str | os.PathLike, split: str = "test"
) -> tuple[xr.Dataset, xr.Dataset]:
    """Metrics and per-structure predictions of the best checkpoint of a run on ``split``.

    Returns:
      ``(metrics, predictions)``: metrics with dims ``(experiment, model, seed)``; predictions
      with dims ``(structure, atom, xyz)`` holding reference and predicted energies and forces.
    """
    trained = load_trained(run_dir)
    paths = RunPaths(Path(run_dir))
    config = trained.config
    structures, indices, digest = load_run_split(run_dir, split, "evaluate")
    batcher = Batcher(structures, config.batch_size, trained.cutoff, config.num_buckets)

    count, atoms = structures.atom_mask.shape
    energy = np.zeros(count)
    forces = np.zeros((count, atoms, 3))
    total = None
    for members, batch in batcher.ordered_batches():
        prediction = trained.predict(batch)
        total = add_sums(total, error_sums(prediction, batch))
        slots = batch.max_structure_size
        energy[members] = np.asarray(prediction.energy)[: members.size]
        predicted_forces = np.asarray(prediction.forces).reshape(-1, slots, 3)[: members.size]
        forces[members, :slots] = predicted_forces[:, :atoms]

    info = read_json(paths.model, "model description")
    summary = read_json(paths.summary, "run summary") if paths.summary.exists() else {}
    provenance = summary.get("provenance") or collect(datasets={config.dataset: digest})
    attrs = {
        "split": split, "run_dir": str(paths.root), "dataset": config.dataset,
        "provenance": to_attr(provenance),
    }
    values = {
        "energy_mae": total.energy_abs / total.num_structures,
        "energy_rmse": math.sqrt(total.energy_sq / total.num_structures),
        "energy_mae_per_atom": total.energy_abs_per_atom / total.num_structures,
        "energy_rmse_per_atom": math.sqrt(total.energy_sq_per_atom / total.num_structures),
        "forces_mae": total.forces_abs / total.num_components,
        "forces_rmse": math.sqrt(total.forces_sq / total.num_components),
        "num_parameters": info["num_parameters"],
        "steps": summary.get("steps", -1),
        "truncated": float(bool(summary.get("truncated", False))),
        "wall_time_s": summary.get("wall_time_s", math.nan),
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
