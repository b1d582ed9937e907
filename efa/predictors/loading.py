"""How a predictor comes to exist in a run directory, and loading it back.

Every model of an experiment has a run directory (:mod:`efa.runs.layout`) with ``config.json``,
``splits.json``, ``data.json`` and, once it is ready, ``summary.json``.
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

import numpy as np

from efa.data.structures import Structures
from efa.errors import ConfigError, EfaError
from efa.predictors.base import Predictor


def load_predictor(run_dir: str | os.PathLike) -> Predictor:
    """The predictor of the run in ``run_dir``: its calculator, or its best checkpoint."""
    from efa.predictors.calculator import calculator_predictor
    from efa.predictors.trained import load_trained_predictor
    from efa.runs.config import config_from_mapping
    from efa.runs.directory import read_json
    from efa.runs.layout import RunPaths
    from efa.runs.trainer_spec import calculator_options

    paths = RunPaths(Path(run_dir))
    config = config_from_mapping(read_json(paths.config, "run configuration"), str(paths.config))
    if not config.calculator:
        return load_trained_predictor(run_dir)
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


def prepare_calculator_run(config, run_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write the run directory of a calculator model (module docstring); return its summary.

    Args:
      config: a :class:`~efa.runs.config.RunConfig` with ``calculator`` set (and no trainer).
      run_dir: where to write it (default ``config.run_dir()``).

    Raises:
      ConfigError: the factory cannot be imported, raises or returns no calculator.
      DataError: the data set is missing, or an existing run directory was made for other data.
    """
    from efa.predictors.calculator import make_calculator
    from efa.runs.directory import prepare_run_files, write_summary
    from efa.runs.layout import RunPaths

    calculator = make_calculator(config.calculator, config.calculator_options)  # names the factory
    paths = RunPaths(Path(run_dir) if run_dir is not None else config.run_dir())
    dataset, _, digest = prepare_run_files(config, paths)
    _check_every_element(calculator, config, Structures.from_dataset(dataset))
    return write_summary(config, paths, digest, "calculator (nothing to train)", steps=0)


def _check_every_element(calculator, config, structures: Structures) -> None:
    """Ask the calculator for the first structure holding each element of the data set, so that
    one it cannot evaluate (an element it has no parameters for) stops this first job of the
    model, not its evaluation or a probe later.

    Raises:
      ConfigError: naming the model, the data set, the structure and the calculator's error.
    """
    from efa.predictors.calculator import calculator_energy_forces

    numbers = np.where(structures.atom_mask, structures.atomic_numbers, 0)
    elements = np.unique(numbers[numbers > 0])
    firsts = sorted({int(np.argmax((numbers == z).any(axis=1))) for z in elements})
    evaluate = calculator_energy_forces(calculator, config.calculator, config.molecule_box)
    try:
        evaluate(structures.select(np.asarray(firsts)))
    except EfaError as error:
        raise ConfigError(
            f"model {config.label or config.calculator!r}: cannot evaluate data set "
            f"{config.dataset!r} (asked for its structures {firsts}, the first holding each "
            f"of its elements {elements.tolist()}; numbered here in that order): {error}",
            key="calculator",
        ) from None
