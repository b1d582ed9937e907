"""One probe over run directories: the job of ``efa probe`` and of the workflow's probe rule.

:func:`probe_runs` loads the predictor of each run (:func:`efa.predictors.load_predictor`), runs
the probe (:func:`efa.probes.registry.run_probe`, or a size scan over each run's own split) and
returns its store with the runs, their experiments and the provenance of the data sets behind it
(each model's training set and the probe's reference set).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from efa.errors import ConfigError


def probe_runs(
    name: str, runs: Sequence[str], options: Mapping[str, Any], split: str | None = None
) -> xr.Dataset:
    """The store of probe ``name`` over the models of ``runs``.

    Args:
      name: a probe name (:func:`efa.probes.registry.all_probe_names`).
      runs: run directories, one per model and seed.
      options: the probe's options (:func:`efa.probes.registry.probe_option_names`; None: the
        probe's default); a size scan takes only ``label``.
      split: the split of a size scan's runs (default ``test``); other probes take none.

    Raises:
      ConfigError: an unknown probe, an option the probe does not take, or a bad value.
    """
    from efa.predictors import load_predictor
    from efa.probes.registry import SIZE_SCAN_PROBES, all_probe_names, probe_options, run_probe
    from efa.probes.size_scan import run_test_structures, size_scan
    from efa.provenance import collect, to_attr

    if name not in all_probe_names():
        raise ConfigError(
            f"probe {name!r}: unknown; expected one of {', '.join(all_probe_names())}"
        )
    options = dict(options)
    if name in SIZE_SCAN_PROBES:
        given = sorted(
            key for key, value in options.items() if value is not None and key != "label"
        )
        if given:
            raise ConfigError(
                f"--{given[0].replace('_', '-')}: not an option of probe {name!r}; "
                "its options: --label, --split"
            )
        split = split or "test"
        entries = [(load_predictor(run), run_test_structures(run, split)) for run in runs]
        models = [model for model, _ in entries]
        store = size_scan(entries, options.get("label") or name, {"split": split})
    else:
        if split is not None:
            raise ConfigError(f"--split: only used by probe nacl_size, not {name!r}")
        probe_options(name, options)  # refuse bad options before loading any model
        models = [load_predictor(run) for run in runs]
        store = run_probe(name, models, **options)
    store.attrs["runs"] = list(runs)
    store.attrs["experiments"] = run_experiments(runs)
    resolved = json.loads(store.attrs.get("options", "{}"))
    store.attrs["provenance"] = to_attr(collect(datasets=probe_datasets(models, resolved)))
    return store


def probe_datasets(models, options) -> dict[str, str]:
    """``{name: content sha256}`` of the data sets behind a probe: each model's training set
    and the probe's reference set (when it reads one by name)."""
    from efa.data.store import open_dataset
    from efa.provenance import dataset_sha256

    datasets = {name: digest for model in models for name, digest in model.datasets.items()}
    reference = options.get("reference")
    if reference:
        datasets[str(reference)] = dataset_sha256(
            open_dataset(reference, options.get("datasets_root") or "datasets")
        )
    return datasets


def run_experiments(runs) -> list[str]:
    """The experiments of the given run directories (from their ``config.json``)."""
    from efa.runs.directory import read_json
    from efa.runs.layout import RunPaths

    return sorted(
        {
            str(read_json(RunPaths(Path(run)).config, "run configuration")["experiment"])
            for run in runs
        }
    )
