"""``efa dvc CONFIG…``: write the DVC pipeline (``dvc.yaml``) of a workflow configuration
(:mod:`efa.workflow.dvc_pipeline`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _dvc(args: argparse.Namespace) -> int:
    from efa.storage import write_text
    from efa.workflow.dvc_pipeline import dvc_pipeline

    text = dvc_pipeline(args.configs, args.cores)
    if str(args.output) == "-":
        print(text, end="")
    else:
        write_text(text, args.output)
        print(f"wrote {args.output}: the workflow on {' + '.join(map(str, args.configs))}")
    return 0


def register(subparsers) -> None:
    """Add ``efa dvc``."""
    dvc = subparsers.add_parser(
        "dvc",
        help="write the DVC pipeline (dvc.yaml) of a workflow configuration",
        description="Write dvc.yaml: a stage per data set of the configuration and one for the "
        "suite, whose parameters are the keys of the configuration files, so that 'dvc exp "
        "run -S FILE:KEY=VALUE' and 'dvc exp show' work on that configuration. Later files "
        "are overlays of earlier ones, as for 'snakemake --configfile'.",
        epilog="example: efa dvc config/ci.yaml --cores 2 && dvc exp run -S "
        "'config/ci.yaml:train.max_steps=40'",
    )
    dvc.add_argument("configs", nargs="+", metavar="CONFIG", help="workflow configuration files")
    dvc.add_argument("--cores", default="all", help="Snakemake's --cores (default: all)")
    dvc.add_argument(
        "-o", "--output", type=Path, default=Path("dvc.yaml"), help="default: dvc.yaml; - prints"
    )
    dvc.set_defaults(handler=_dvc)
