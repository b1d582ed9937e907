"""An external trainer's specification: the ``trainer`` mapping of a run configuration.

``trainer: {command: [...], model_file: "..."}`` names another code's training command (a list
of arguments, run without a shell) and the model file it writes; the calculator of the run
evaluates that file (:mod:`efa.predictors.external` runs it). The command, ``model_file`` and
string options of the calculator may hold placeholders: ``{train}``, ``{valid}``, ``{test}``
(the exported splits), ``{run_dir}`` (absolute paths), ``{model_file}`` and ``{seed}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from efa.errors import ConfigError
from efa.runs.layout import RunPaths

#: Placeholders of trainer commands and calculator options.
PLACEHOLDERS = ("train", "valid", "test", "run_dir", "model_file", "seed")


def check_trainer(trainer: Any) -> None:
    """Check the shape of a ``trainer`` mapping (a command list and a model file).

    Raises:
      ConfigError: naming the key that is wrong.
    """
    if not isinstance(trainer, Mapping):
        raise ConfigError(
            f"trainer={trainer!r}: expected a mapping with 'command' and 'model_file'",
            key="trainer",
        )
    unknown = sorted(set(trainer) - {"command", "model_file"})
    if unknown:
        raise ConfigError(
            f"trainer.{unknown[0]}: unknown key; expected command, model_file",
            key=f"trainer.{unknown[0]}",
        )
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
            "numbers; it runs without a shell)",
            key="trainer.command",
        )
    if not isinstance(trainer.get("model_file"), str) or not trainer["model_file"]:
        raise ConfigError(
            "trainer.model_file: expected the path of the model file the command "
            "writes, e.g. '{run_dir}/model.pt'",
            key="trainer.model_file",
        )
    _check_model_file_inside(trainer["model_file"])
    for index, text in enumerate([*map(str, command), trainer["model_file"]]):
        where = f"trainer.command[{index}]" if index < len(command) else "trainer.model_file"
        expand(text, dict.fromkeys(PLACEHOLDERS, ""), where)
        try:
            os.fsencode(text)
            bad = "\0" in text
        except UnicodeEncodeError:
            bad = True
        if bad:
            raise ConfigError(
                f"{where}={text!r}: holds a character that cannot be passed to a command "
                "(a NUL or an unpaired surrogate)",
                key=where,
            )


def _check_model_file_inside(model_file: str) -> None:
    """A model file path (before placeholders) that can only lie inside the run directory."""
    run_dir = os.path.join(os.sep, "run")  # stands for any run directory
    values = placeholder_values_in(run_dir)
    path = os.path.normpath(os.path.join(run_dir, expand(model_file, values, "trainer.model_file")))
    if os.path.commonpath([path, run_dir]) != run_dir or path == run_dir:
        raise ConfigError(
            f"trainer.model_file={model_file!r} lies outside the run directory: the model must "
            "be written by this run, inside it (e.g. '{run_dir}/model.pt' or 'model.pt')",
            key="trainer.model_file",
        )


def placeholder_values_in(root: str) -> dict[str, str]:
    """Values of :data:`PLACEHOLDERS` other than ``model_file`` and ``seed`` for the run
    directory ``root`` (an absolute path)."""
    splits = RunPaths(Path(root)).exported_splits
    return {
        "train": str(splits / "train.xyz"),
        "valid": str(splits / "valid.xyz"),
        "test": str(splits / "test.xyz"),
        "run_dir": root,
        "seed": "0",
        "model_file": "",
    }


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
    """The values of :data:`PLACEHOLDERS` for a run directory (absolute paths; a relative
    ``model_file`` lies in the run directory, where the trainer runs).

    Raises:
      ConfigError: ``model_file`` lies outside the run directory (key ``trainer.model_file``).
    """
    root = run_dir.resolve()
    values = {**placeholder_values_in(str(root)), "seed": str(seed)}
    model_file = Path(expand(trainer["model_file"], values, "trainer.model_file"))
    model_file = (root / model_file).resolve()  # a relative path: in the trainer's directory
    if not model_file.is_relative_to(root):
        raise ConfigError(
            f"trainer.model_file={trainer['model_file']!r} is {model_file}, outside the run "
            f"directory {root}: the model must be written by this run, inside it "
            "(e.g. '{run_dir}/model.pt')",
            key="trainer.model_file",
        )
    values["model_file"] = str(model_file)
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
