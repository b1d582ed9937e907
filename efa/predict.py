"""``efa predict --model RUN_OR_CALCULATOR IN.xyz -o OUT.xyz``: predictions for any structures.

The model is a run directory (a trained run or a calculator model's run) or a calculator factory
``package.module:factory`` (options with ``--option KEY=VALUE``). Every frame of ``IN.xyz`` (any
format ASE reads) is evaluated; ``OUT.xyz`` holds the same frames with the predicted energy (eV)
and forces (eV/Å) as calculator results (``energy=`` and ``forces`` in extxyz) and the model's
label in ``info["efa_model"]``. The total charge of a frame is read from ``info["charge"]``
(default 0). Frames with a periodic cell are refused (not supported yet); an existing output
file is never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path


def read_frames(path: str | os.PathLike):
    """Frames of ``path`` (ASE), refusing periodic ones by frame, and an extended XYZ file whose
    header declares more atoms than it holds."""
    from ase.io import read

    from efa.data.readers import check_declared_counts
    from efa.errors import ConfigError, DataError

    path = Path(path)
    if path.suffix.lower() in (".xyz", ".extxyz") and path.is_file():
        check_declared_counts(path)
    try:
        frames = read(path, index=":")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as error:
        raise DataError(
            f"{path}: cannot read it with ASE ({type(error).__name__}: {error})"
        ) from None
    if not frames:
        raise DataError(f"{path}: no frames")
    for index, atoms in enumerate(frames):
        if atoms.pbc.any():
            raise ConfigError(
                f"{path}: frame {index} has periodic boundary conditions "
                f"(pbc={atoms.pbc.tolist()}); only molecules are supported yet"
            )
    return frames


def model_predictor(model: str, options: dict):
    """The predictor of a run directory, or of a calculator factory with ``options``."""
    from efa.errors import ConfigError
    from efa.predictors import load_predictor
    from efa.predictors.calculator import calculator_predictor

    if Path(model).is_dir():
        if options:
            raise ConfigError("--option: only for a calculator factory, not for a run directory")
        return load_predictor(model)
    if ":" not in model:
        raise ConfigError(
            f"--model {model!r}: not a run directory, nor a calculator factory "
            "'package.module:factory'"
        )
    return calculator_predictor(model.rpartition(":")[2], model, options)


def predict_file(model: str, options: dict, input_path: Path, output_path: Path) -> tuple[int, str]:
    """Predict every frame of ``input_path`` with ``model`` (:func:`model_predictor`) and write
    them with their energies and forces as extxyz to ``output_path`` (module docstring), which
    must not exist; return ``(number of frames, the model's label)``.

    Raises:
      ConfigError: ``output_path`` exists, or the model or a frame is refused.
      DataError: ``input_path`` cannot be read.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from efa.data.atoms import structures_from_atoms
    from efa.errors import ConfigError
    from efa.storage import atomic_path

    if output_path.exists():
        raise ConfigError(f"-o {output_path}: exists; choose a new file (nothing was written)")
    frames = read_frames(input_path)  # a bad input file is refused before a model is loaded
    structures = structures_from_atoms(frames, source=str(input_path))
    predictor = model_predictor(model, options)
    energy, forces = predictor.predict(structures)
    for index, atoms in enumerate(frames):
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(energy[index]), forces=forces[index, : len(atoms)]
        )
        atoms.info["efa_model"] = predictor.label
    with atomic_path(output_path) as temporary:
        write(temporary, frames, format="extxyz")
    return len(frames), predictor.label
