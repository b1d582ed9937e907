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
experiment, :mod:`efa.predictors.runs`), writes the splits as extxyz (:mod:`efa.data.export`:
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from efa.errors import ConfigError, EfaError

#: Placeholders of trainer commands and calculator options.
PLACEHOLDERS = ("train", "valid", "test", "run_dir", "model_file", "seed")
#: Folder of the exported splits inside the run directory.
SPLITS_FOLDER = "splits_extxyz"


def check_trainer(trainer: Any) -> None:
    """Check the shape of a ``trainer`` mapping (a command list and a model file).

    Raises:
      ConfigError: naming the key that is wrong.
    """
    if not isinstance(trainer, Mapping):
        raise ConfigError(
            f"trainer={trainer!r}: expected a mapping with 'command' and 'model_file'"
        )
    unknown = sorted(set(trainer) - {"command", "model_file"})
    if unknown:
        raise ConfigError(f"trainer.{unknown[0]}: unknown key; expected command, model_file")
    command = trainer.get("command")
    if (
        not isinstance(command, list)
        or not command
        or not all(
            isinstance(argument, (str, int, float)) and not isinstance(argument, bool)
            for argument in command
        )
    ):
        raise ConfigError(
            f"trainer.command={command!r}: expected a non-empty list of arguments (strings or "
            "numbers; it runs without a shell)"
        )
    if not isinstance(trainer.get("model_file"), str) or not trainer["model_file"]:
        raise ConfigError(
            "trainer.model_file: expected the path of the model file the command "
            "writes, e.g. '{run_dir}/model.pt'"
        )
    for text in [*map(str, command), trainer["model_file"]]:
        expand(text, dict.fromkeys(PLACEHOLDERS, ""), "trainer")


def expand(text: str, values: Mapping[str, str], where: str) -> str:
    """``text`` with ``{name}`` placeholders replaced; unknown ones are errors naming ``where``."""
    try:
        return text.format_map(dict(values))
    except (KeyError, ValueError, IndexError) as error:
        raise ConfigError(
            f"{where}: {text!r} has an unknown placeholder ({error}); known: "
            + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        ) from None


def placeholder_values(run_dir: Path, trainer: Mapping[str, Any], seed: int) -> dict[str, str]:
    """The values of :data:`PLACEHOLDERS` for a run directory."""
    root = run_dir.resolve()
    values = {
        "train": str(root / SPLITS_FOLDER / "train.xyz"),
        "valid": str(root / SPLITS_FOLDER / "valid.xyz"),
        "test": str(root / SPLITS_FOLDER / "test.xyz"),
        "run_dir": str(root),
        "seed": str(seed),
        "model_file": "",
    }
    values["model_file"] = expand(trainer["model_file"], values, "trainer.model_file")
    return values


def calculator_options(config, run_dir: Path) -> dict[str, Any]:
    """The calculator options of a run with placeholders (model file, run dir) filled in."""
    options = dict(config.calculator_options)
    if config.trainer is None:
        return options
    values = placeholder_values(run_dir, config.trainer, config.seed)
    return {
        key: expand(value, values, f"calculator_options.{key}") if isinstance(value, str) else value
        for key, value in options.items()
    }


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
    from efa.predictors.runs import prepare_run_files, write_summary
    from efa.storage import atomic_path
    from efa.train.run import RunPaths, check_same_config, read_json

    paths = RunPaths(Path(run_dir) if run_dir is not None else config.run_dir())
    check_same_config(paths, config)
    if (
        paths.summary.exists()
        and read_json(paths.summary, "run summary").get("status") == "complete"
    ):
        return read_json(paths.summary, "run summary")
    dataset, splits, digest = prepare_run_files(config, paths)
    values = placeholder_values(paths.root, config.trainer, config.seed)
    exported = paths.root / SPLITS_FOLDER
    if not exported.is_dir():
        export_extxyz(dataset, exported, splits)
    command = [
        expand(str(argument), values, "trainer.command") for argument in config.trainer["command"]
    ]
    log = paths.root / "trainer.log"
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
        extra={"trainer_command": command},
    )
