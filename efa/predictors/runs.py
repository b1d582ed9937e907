"""Run directories of any model: how a predictor comes to exist, and loading it back.

Every model of an experiment has a run directory ``<output_root>/<experiment>/<label>/seed<k>/``
with ``config.json``, ``splits.json``, ``data.json`` and, once it is ready, ``summary.json``.
A model that ``efa train`` trains also has ``model.json`` and its checkpoints. A calculator model
(``calculator: package.module:factory`` in its configuration) trains nothing:
:func:`prepare_calculator_run` checks the factory, draws the same splits as the trained models
of the experiment and writes the files above, so that evaluation, probes and the report treat
it like any other run. A model with an external ``trainer`` gets the same files, then its
trainer's model (:mod:`efa.predictors.external`). :func:`load_predictor` returns the
:class:`~efa.predictors.base.Predictor` of either kind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from efa.predictors.base import Predictor


def load_predictor(run_dir: str | os.PathLike) -> Predictor:
    """The predictor of the run in ``run_dir``: its calculator, or its best checkpoint."""
    from efa.predictors.calculator import calculator_predictor
    from efa.predictors.trained import load_trained_predictor
    from efa.train.config import config_from_mapping
    from efa.train.run import RunPaths, read_json

    paths = RunPaths(Path(run_dir))
    config = config_from_mapping(read_json(paths.config, "run configuration"), str(paths.config))
    if not config.calculator:
        return load_trained_predictor(run_dir)
    from efa.predictors.external import calculator_options

    data = read_json(paths.data, "data record")
    return calculator_predictor(
        config.model_label,
        config.calculator,
        calculator_options(config, paths.root),
        seed=config.seed,
        cutoff=config.cutoff,
        receptive_field=config.receptive_field,
        card={
            "training_data": f"{config.dataset} (train split of {run_dir})"
            if config.trainer
            else "",
            "level_of_theory": data.get("level_of_theory", "") if config.trainer else "",
            **config.card,
        },
        datasets={data["dataset"]: data["dataset_sha256"]},
        source=str(run_dir),
        capabilities=config.capabilities,
        molecule_box=config.molecule_box,
    )


def prepare_run_files(config, paths):
    """Write ``config.json``, ``splits.json`` and ``data.json`` of a run that ``efa train`` does
    not train; return ``(dataset, splits, dataset_sha256)``.

    The splits are those of a trained run (same sizes and ``split_seed``, or the published
    ones); an existing run directory is reused only for the same configuration and data set.

    Raises:
      ConfigError: the run directory holds a run of another configuration.
      DataError: the data set is missing, or changed since the run directory was written.
    """
    from efa.data.batching import Structures
    from efa.data.splits import load_splits, run_splits, save_splits
    from efa.data.store import open_dataset
    from efa.provenance import dataset_sha256
    from efa.train.data_record import check_run_data, data_record
    from efa.train.run import check_same_config, read_json, write_json

    check_same_config(paths, config)
    dataset = open_dataset(config.dataset, config.datasets_root)
    digest = dataset_sha256(dataset)
    structures = Structures.from_dataset(dataset)
    count = len(structures.energy)
    if paths.splits.exists():
        splits = load_splits(paths.splits)
        recorded = read_json(paths.data, "data record") if paths.data.exists() else None
        check_run_data(recorded, paths.data, digest, splits, "reuse")
    else:
        splits = run_splits(config.splits, config.split_seed, dataset, config.dataset)
    paths.root.mkdir(parents=True, exist_ok=True)
    write_json(config.to_dict(), paths.config)
    save_splits(splits, paths.splits)
    level = str(dataset.attrs.get("level_of_theory", ""))
    train = structures.select(splits["train"])
    elements = train.atomic_numbers[train.atom_mask]
    write_json(data_record(config.dataset, digest, count, splits, level, elements), paths.data)
    return dataset, splits, digest


def write_summary(
    config,
    paths,
    dataset_sha256: str,
    stop_reason: str,
    steps: int | None,
    wall_time_s: float = 0.0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the ``summary.json`` of a run that ``efa train`` does not train; return it.

    ``steps`` is 0 for a calculator (nothing trained) and None where another code trained the
    model (its steps are its own)."""
    from efa.provenance import collect
    from efa.train.run import config_sha256, write_json

    summary = {
        "status": "complete",
        "stop_reason": stop_reason,
        "truncated": False,
        "steps": steps,
        "max_steps": steps,
        "wall_time_s": wall_time_s,
        **(extra or {}),
        "provenance": collect(
            config_sha256=config_sha256(config),
            datasets={config.dataset: dataset_sha256},
        ),
    }
    write_json(summary, paths.summary)
    return summary


def prepare_calculator_run(config, run_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write the run directory of a calculator model (module docstring); return its summary.

    Args:
      config: a :class:`~efa.train.config.RunConfig` with ``calculator`` set (and no trainer).
      run_dir: where to write it (default ``config.run_dir()``).

    Raises:
      ConfigError: the factory cannot be imported, raises or returns no calculator.
      DataError: the data set is missing, or an existing run directory was made for other data.
    """
    from efa.predictors.calculator import make_calculator
    from efa.train.run import RunPaths

    make_calculator(config.calculator, config.calculator_options)  # fails early, names the factory
    paths = RunPaths(Path(run_dir) if run_dir is not None else config.run_dir())
    _, _, digest = prepare_run_files(config, paths)
    return write_summary(config, paths, digest, "calculator (nothing to train)", steps=0)
