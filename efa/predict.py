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

import argparse
import os
from pathlib import Path

import numpy as np

_EPILOG = """\
examples:
  efa predict --model results/runs/two_atoms/efa/seed0 scan.xyz -o scan_efa.xyz
  efa predict --model ase.calculators.lj:LennardJones --option sigma=1.1 scan.xyz -o lj.xyz
"""


def read_frames(path: str | os.PathLike):
    """Frames of ``path`` (ASE), refusing periodic ones and fractional charges by frame."""
    from ase.io import read

    from efa.errors import ConfigError, DataError

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
        charge = atoms.info.get("charge", 0)
        if int(charge) != charge:
            raise ConfigError(
                f"{path}: frame {index}: info['charge']={charge!r}; expected an "
                "integer total charge"
            )
    return frames


def frames_to_structures(frames):
    """:class:`~efa.data.batching.Structures` (padded, zero labels) of ASE frames."""
    from efa.data.batching import Structures
    from efa.data.schema import pad_atoms

    count, size = len(frames), max(len(atoms) for atoms in frames)
    mask = np.zeros((count, size), bool)
    for index, atoms in enumerate(frames):
        mask[index, : len(atoms)] = True
    return Structures(
        positions=pad_atoms([atoms.get_positions() for atoms in frames]),
        atomic_numbers=pad_atoms([atoms.numbers for atoms in frames]).astype(np.int32),
        atom_mask=mask,
        energy=np.zeros(count),
        forces=np.zeros((count, size, 3)),
        total_charge=np.array([int(atoms.info.get("charge", 0)) for atoms in frames], np.int32),
    )


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


def _run(args: argparse.Namespace) -> int:
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from efa.errors import ConfigError
    from efa.runs.config import apply_overrides
    from efa.storage import atomic_path

    if args.output.exists():
        raise ConfigError(f"-o {args.output}: exists; choose a new file (nothing was written)")
    options = apply_overrides({}, args.options, option="--option")
    frames = read_frames(args.input)  # a bad input file is refused before a model is loaded
    predictor = model_predictor(args.model, options)
    energy, forces = predictor.predict(frames_to_structures(frames))
    for index, atoms in enumerate(frames):
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(energy[index]), forces=forces[index, : len(atoms)]
        )
        atoms.info["efa_model"] = predictor.label
    with atomic_path(args.output) as temporary:
        write(temporary, frames, format="extxyz")
    print(f"{args.output}: {len(frames)} frames predicted by {predictor.label}")
    return 0


def register(subparsers) -> None:
    """Add ``efa predict``."""
    parser = subparsers.add_parser(
        "predict",
        help="energies and forces of any structures with any model",
        description=__doc__.split("\n\n")[1],
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        required=True,
        metavar="RUN_OR_CALCULATOR",
        help="run directory, or calculator factory 'package.module:factory'",
    )
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="calculator factory option (repeatable)",
    )
    parser.add_argument("input", type=Path, metavar="IN.xyz", help="structures (any ASE format)")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="OUT.xyz",
        help="new extxyz file with the predictions",
    )
    parser.set_defaults(handler=_run)
