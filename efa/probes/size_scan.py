"""The size-scan probe: each run's own test split, per-atom error against structure size."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from efa.data.structures import Structures
from efa.errors import ConfigError
from efa.predictors import Predictor
from efa.probes import metrics as m
from efa.probes.store import size_scan_store


def size_scan(
    entries: Sequence[tuple[Predictor, Structures]],
    label: str = "nacl_size",
    options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Per-atom energy MAE and force MAE of each model on test structures of growing size.

    ``entries`` pairs a model with its test structures (one size per entry: the rounded mean atom
    count). Per size: ``energy_mae_per_atom = mean_s |Ê_s − E_s| / n_s`` (eV/atom) and
    ``forces_mae``. Metric ``per_atom_error_growth``: per-atom MAE at the largest size divided by
    that at the smallest (1 for an error flat in N).
    """
    values: dict[tuple[str, int, int], dict[str, float]] = {}
    sources: dict[tuple[str, int, int], str] = {}
    for model, structures in entries:
        size = int(round(float(structures.num_atoms.mean())))
        key = (model.label, model.seed, size)
        if key in values:
            raise ConfigError(
                f"--run {model.source}: model {model.label!r} seed {model.seed} on {size}-atom "
                f"structures was already given by --run {sources[key]}"
            )
        energy, forces = model.predict(structures)
        values[key] = {
            "energy_mae_per_atom": float(
                np.mean(np.abs(energy - structures.energy) / structures.num_atoms)
            ),
            "forces_mae": m.forces_mae(structures.forces, forces, structures.atom_mask),
        }
        sources[key] = model.source
    metrics = {}
    for label_seed in {(k[0], k[1]) for k in values}:
        sizes = sorted(size for (a, b, size) in values if (a, b) == label_seed)
        first, last = (
            values[(*label_seed, s)]["energy_mae_per_atom"] for s in (sizes[0], sizes[-1])
        )
        metrics[label_seed] = {"per_atom_error_growth": last / first if first > 0 else math.nan}
    models = [model for model, _ in entries]
    return size_scan_store(
        label, models, sorted({k[2] for k in values}), values, metrics, dict(options or {})
    )


def run_test_structures(run_dir: str | Path, split: str = "test") -> Structures:
    """The structures of ``split`` of the data set a run was trained on (checked to be the data
    it was trained on, :func:`efa.runs.directory.load_run_split`)."""
    from efa.runs.directory import load_run_split

    structures, _, _ = load_run_split(run_dir, split, "probe")
    return structures
