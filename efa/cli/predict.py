"""``efa predict --model RUN_OR_CALCULATOR IN.xyz -o OUT.xyz``: predictions for any structures
(:mod:`efa.predict`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from efa import predict

_EPILOG = """\
examples:
  efa predict --model results/runs/two_atoms/efa/seed0 scan.xyz -o scan_efa.xyz
  efa predict --model ase.calculators.lj:LennardJones --option sigma=1.1 scan.xyz -o lj.xyz
"""


def _run(args: argparse.Namespace) -> int:
    from efa.runs.config import apply_overrides

    options = apply_overrides({}, args.options, option="--option")
    count, label = predict.predict_file(args.model, options, args.input, args.output)
    print(f"{args.output}: {count} frames predicted by {label}")
    return 0


def register(subparsers) -> None:
    """Add ``efa predict``."""
    parser = subparsers.add_parser(
        "predict",
        help="energies and forces of any structures with any model",
        description=predict.__doc__.split("\n\n")[1],
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
