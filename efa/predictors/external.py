"""External trainers: another code's own training command on exactly the experiment's splits.

A model entry with a ``trainer`` names the command that trains it and the file it writes::

    mace:
      trainer:
        command: [mace_run_train, --name, mace, --train_file, "{train}", --valid_file, "{valid}",
                  --test_file, "{test}", --model_dir, "{run_dir}", --seed, "{seed}", ...]
        model_file: "{run_dir}/mace.model"
      calculator: mace.calculators:MACECalculator
      options: {model_paths: "{model_file}", device: cpu, default_dtype: float64}

:func:`train_external` prepares the run directory (the same splits as every other model of the
experiment, :mod:`efa.runs.directory`), writes the splits as extxyz (:mod:`efa.data.export`:
``{train}``, ``{valid}``, ``{test}``), runs the command in the run directory — as a list of
arguments, never through a shell — with its output in ``trainer.log``, checks that it wrote
``model_file`` and that the calculator loads it, and only then writes ``summary.json``.
Placeholders, in the command, ``model_file`` and string options of the calculator:
``{train}``, ``{valid}``, ``{test}``, ``{run_dir}`` (absolute paths), ``{model_file}`` and
``{seed}``.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from efa.errors import EfaError


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(text[-lines:])


def train_external(config, run_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Prepare the run, export its splits, run the trainer, check its model; return the summary.

    Raises:
      EfaError: the command is not found, fails, or writes no model file; or the calculator
        cannot load the model. Nothing is marked complete then.
    """
    from efa.data.export import export_extxyz
    from efa.predictors.calculator import make_calculator
    from efa.runs.directory import check_same_config, prepare_run_files, read_json, write_summary
    from efa.runs.layout import RunPaths
    from efa.runs.trainer_spec import calculator_options, expand, placeholder_values
    from efa.storage import atomic_path

    paths = RunPaths(Path(run_dir) if run_dir is not None else config.run_dir())
    check_same_config(paths, config)
    if (
        paths.summary.exists()
        and read_json(paths.summary, "run summary").get("status") == "complete"
    ):
        return read_json(paths.summary, "run summary")
    dataset, splits, digest = prepare_run_files(config, paths)
    values = placeholder_values(paths.root, config.trainer, config.seed)
    exported = paths.exported_splits
    if not exported.is_dir():
        export_extxyz(dataset, exported, splits)
    command = [
        expand(str(argument), values, "trainer.command") for argument in config.trainer["command"]
    ]
    log = paths.trainer_log
    start = time.perf_counter()
    with atomic_path(log) as temporary, open(temporary, "w") as output:
        try:
            status = subprocess.run(
                command, cwd=paths.root, stdout=output, stderr=subprocess.STDOUT, check=False
            ).returncode
        except OSError as error:
            raise EfaError(
                f"trainer.command: cannot run {command[0]!r} ({error.strerror}); is "
                "the trainer installed in this environment?"
            ) from None
    seconds = time.perf_counter() - start
    if status != 0:
        raise EfaError(
            f"trainer command {command[0]!r} failed with exit status {status}; last "
            f"lines of {log}:\n{_tail(log)}"
        )
    model_file = Path(values["model_file"])
    if not model_file.is_file():
        raise EfaError(
            f"trainer command {command[0]!r} finished but wrote no model file "
            f"{model_file} (trainer.model_file); see {log}"
        )
    make_calculator(config.calculator, calculator_options(config, paths.root))
    return write_summary(
        config,
        paths,
        digest,
        "external trainer",
        steps=None,
        wall_time_s=seconds,
        trainer_command=command,
    )
