"""Test-split evaluation of any model's run (``efa evaluate``) in the result-store format.

For the predictor of a run (:func:`efa.predictors.load_predictor`: a trained model's best
checkpoint, or a calculator), on the structures of one split (default ``test``):

- ``energy_mae``/``energy_rmse`` (eV) over structures, ``energy_mae_per_atom``/
  ``energy_rmse_per_atom`` (eV/atom) of ``ΔE_s / n_s``;
- ``forces_mae``/``forces_rmse`` (eV/Å) over all Cartesian force components of real atoms;
- ``stress_mae``/``stress_rmse`` (eV/Å³) over the 9 stress components of each cell, when the
  data set has stress labels and the model gives a stress (nan otherwise);
- ``num_parameters`` (nan for a calculator), training ``steps``, ``truncated`` (1 if training
  stopped on its ``max_time_s`` safety net before ``max_steps``, else 0), ``best_valid_loss``;
- ``wall_time_s`` (training steps), ``compile_s`` (the seconds the training session spent
  compiling, its initialisation included; nan where nothing was trained here) and
  ``inference_us_per_atom`` (one pass over the split after a first, compiling one). These
  measure time, not quality: the report keeps them apart
  (:data:`efa.report.tables.TIMING_METRICS`).

They are written as an xarray store with dims ``(experiment, model, seed)`` of size 1 each
(``docs/architecture.md``, "Stores"), so stores of many runs combine with
``xr.combine_by_coords``; per-structure predictions go to a second store with dim ``structure``
(data set indices), and the errors of every test set, whole and per group label, to a third with
dims ``(experiment, model, seed, test_set, group)``. All carry the run's provenance and model
card as attributes.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import xarray as xr

from efa.data.structures import Structures
from efa.predictors import load_predictor
from efa.provenance import collect, to_attr
from efa.runs.capabilities import receptive_field_text
from efa.runs.directory import read_json
from efa.runs.layout import RunPaths
from efa.storage import check_output_path, write_zarr

#: Units of the metric variables.
METRIC_UNITS = {
    "energy_mae": "eV",
    "energy_rmse": "eV",
    "energy_mae_per_atom": "eV/atom",
    "energy_rmse_per_atom": "eV/atom",
    "forces_mae": "eV/Å",
    "forces_rmse": "eV/Å",
    "stress_mae": "eV/Å^3",
    "stress_rmse": "eV/Å^3",
    "num_parameters": "1",
    "steps": "1",
    "truncated": "1",
    "wall_time_s": "s",
    "compile_s": "s",
    "inference_us_per_atom": "µs/atom",
    # a weighted sum of eV², (eV/Å)², (eV/Å³)² and, with energy_loss: per_atom, (eV/atom)² terms
    "best_valid_loss": "mixed",
    "num_structures": "1",
}


def test_errors(structures: Structures, energy: np.ndarray, forces: np.ndarray) -> dict[str, float]:
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


def stress_errors(structures: Structures, predictor) -> tuple[dict[str, float], np.ndarray | None]:
    """``stress_mae``/``stress_rmse`` of ``predictor`` on ``structures`` (nan without stress
    labels or without a stress from the model), and the predicted stress ``(S, 3, 3)`` or None."""
    if structures.stress is None or predictor.stress is None:
        return {"stress_mae": math.nan, "stress_rmse": math.nan}, None
    stress = predictor.predict_stress(structures)
    delta = stress - structures.stress
    errors = {
        "stress_mae": float(np.mean(np.abs(delta))),
        "stress_rmse": math.sqrt(float(np.mean(delta**2))),
    }
    return errors, stress


#: Error metrics given per test set and group (:func:`test_set_errors`).
TEST_SET_METRICS = (
    "energy_mae",
    "energy_rmse",
    "energy_mae_per_atom",
    "forces_mae",
    "forces_rmse",
    "num_structures",
)
#: The group label of a whole test set.
ALL_GROUPS = "all"


def test_set_errors(
    structures: Structures, energy: np.ndarray, forces: np.ndarray, groups: np.ndarray | None
) -> dict[str, dict[str, float]]:
    """``{group: {metric: value}}`` of one test set (:data:`TEST_SET_METRICS`): group
    :data:`ALL_GROUPS` for all its structures, then one entry per label of ``groups (S,)``."""
    subsets = {ALL_GROUPS: np.ones(len(structures.energy), dtype=bool)}
    if groups is not None:
        subsets.update({str(label): groups == label for label in sorted(set(groups.tolist()))})
    out = {}
    for group, mask in subsets.items():
        errors = test_errors(structures.select(np.flatnonzero(mask)), energy[mask], forces[mask])
        out[group] = {**errors, "num_structures": float(mask.sum())}
    return {
        group: {name: values[name] for name in TEST_SET_METRICS} for group, values in out.items()
    }


def _timed_predictions(predictor, structures: Structures):
    """``(energy, forces, seconds)``: predictions and the time of one pass (a second pass for a
    compiled model, whose first one compiles)."""
    start = time.perf_counter()
    energy, forces = predictor.predict(structures)
    if predictor.compiled:
        start = time.perf_counter()
        predictor.predict(structures)
    return energy, forces, time.perf_counter() - start


def evaluate_run(
    run_dir: str | os.PathLike, split: str = "test"
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Metrics and per-structure predictions of the run's predictor on ``split``.

    With ``split="test"``, every test set of the run (each split but train and valid, e.g. the
    published ``test_ood`` of a data set imported with ``--split``) is evaluated as well, as a
    whole and per group label of the data set.

    Returns:
      ``(metrics, predictions, test_sets)``: metrics with dims ``(experiment, model, seed)``,
      errors on ``split``; predictions on ``split`` with dims ``(structure, atom, xyz)``
      (reference and predicted energies and forces); the errors of every test set with dims
      ``(experiment, model, seed, test_set, group)``, group ``all`` being the whole set.
    """
    from efa.data.splits import test_sets
    from efa.errors import ConfigError
    from efa.runs.directory import open_run_data

    paths = RunPaths(Path(run_dir))
    config, dataset, splits, digest = open_run_data(run_dir, "evaluate")
    if split not in splits:
        raise ConfigError(f"{paths.splits}: no split {split!r}; the run has {sorted(splits)}")
    everything = Structures.from_dataset(dataset)
    groups = np.asarray([str(g) for g in dataset["group"].values]) if "group" in dataset else None
    predictor = load_predictor(run_dir)
    indices = splits[split]
    structures = everything.select(indices)
    energy, forces, seconds = _timed_predictions(predictor, structures)
    stress_metrics, stress = stress_errors(structures, predictor)
    names = [split] + ([s for s in test_sets(splits) if s != split] if split == "test" else [])
    per_set = {}
    for name in names:
        part = everything.select(splits[name])
        found = (energy, forces) if name == split else predictor.predict(part)
        per_set[name] = test_set_errors(
            part, *found, None if groups is None else groups[splits[name]]
        )

    trained = not config.calculator and paths.model.exists()
    info = read_json(paths.model, "model description") if trained else {}
    summary = read_json(paths.summary, "run summary") if paths.summary.exists() else {}
    provenance = summary.get("provenance") or collect(datasets={config.dataset: digest})
    attrs = {
        "split": split,
        "run_dir": str(paths.root),
        "dataset": config.dataset,
        "provenance": to_attr(provenance),
        "card": json.dumps(dict(predictor.card)),
        "capabilities": json.dumps(
            {
                **predictor.capabilities.card_text(),
                "receptive_field": receptive_field_text(predictor.receptive_field),
            }
        ),
        "family": predictor.family,
    }
    values = {
        **test_errors(structures, energy, forces),
        **stress_metrics,
        "num_parameters": info.get("num_parameters", math.nan),
        "steps": math.nan if summary.get("steps") is None else summary["steps"],
        "truncated": float(bool(summary.get("truncated", False))),
        "wall_time_s": summary.get("wall_time_s", math.nan),
        "compile_s": summary.get("compile_s", math.nan),
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
        attrs={
            **attrs,
            "experiment": config.experiment,
            "model": config.model_label,
            "seed": config.seed,
        },
    )
    if stress is not None:
        stress_units = {"units": METRIC_UNITS["stress_mae"]}
        dims = ("structure", "cell_vector", "xyz")
        predictions["stress_reference"] = (dims, structures.stress, stress_units)
        predictions["stress_predicted"] = (dims, stress, stress_units)
    return metrics, predictions, test_set_store(per_set, coords, attrs)


def test_set_store(
    per_set: dict[str, dict[str, dict[str, float]]], coords: dict, attrs: dict
) -> xr.Dataset:
    """``{test set: {group: {metric: value}}}`` as a store with dims ``(experiment, model, seed,
    test_set, group)`` (nan where a test set has no such group)."""
    sets = list(per_set)
    groups = list(dict.fromkeys(group for entry in per_set.values() for group in entry))
    variables = {}
    for name in TEST_SET_METRICS:
        table = np.full((1, 1, 1, len(sets), len(groups)), math.nan)
        for i, test_set in enumerate(sets):
            for j, group in enumerate(groups):
                table[0, 0, 0, i, j] = per_set[test_set].get(group, {}).get(name, math.nan)
        variables[name] = (
            ("experiment", "model", "seed", "test_set", "group"),
            table,
            {"units": METRIC_UNITS.get(name, "1")},
        )
    return xr.Dataset(
        variables,
        coords={
            **coords,
            "test_set": np.array(sets, dtype=object),
            "group": np.array(groups, dtype=object),
        },
        attrs=attrs,
    )


def write_evaluation(
    run_dir: str | os.PathLike, split: str = "test", output: str | os.PathLike | None = None
) -> tuple[Path, xr.Dataset]:
    """Evaluate and write ``metrics.zarr`` (or ``output``), and the run's own
    ``predictions_<split>.zarr`` and ``test_sets.zarr`` in its folder (so runs evaluated into
    one folder of metrics keep their own test-set stores)."""
    paths = RunPaths(Path(run_dir))
    path = Path(output) if output is not None else paths.metrics
    targets = (paths.predictions(split), paths.test_sets, path)
    for target in targets:
        check_output_path(target, folder=True)
    metrics, predictions, test_sets = evaluate_run(run_dir, split)
    for store, target in zip((predictions, test_sets, metrics), targets):
        write_zarr(store, target)
    return path, metrics
