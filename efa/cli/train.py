"""``efa train [--config FILE] [--set KEY=VALUE …] [shortcut flags]``: train (or resume) the run
``<output_root>/<experiment>/<label>/seed<seed>`` (:mod:`efa.train.loop`); a calculator model's
run directory is written instead (:mod:`efa.predictors.loading`), or another code's trainer run
(:mod:`efa.predictors.external`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from efa.cli.result_line import print_result

#: ``efa train`` flags that are shortcuts for ``--set KEY=VALUE``.
_SHORTCUTS = {
    "dataset": "data set name or .zarr path",
    "model": "built-in model name or 'package.module:Class'",
    "experiment": "experiment name (first level of the run directory)",
    "seed": "seed of initialisation and batch order",
    "max_steps": "number of optimisation steps",
    "max_time_s": "wall-clock budget in seconds",
    "output_root": "root directory of run directories",
    "devices": "JAX devices to train on by data parallelism (default: all visible)",
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``efa train``."""
    parser.add_argument("--config", help="YAML or JSON run configuration")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration key (dotted for nested keys, e.g. "
        "model_options.features=32); repeatable",
    )
    for key, text in _SHORTCUTS.items():
        parser.add_argument(
            f"--{key.replace('_', '-')}", dest=key, help=f"{text} (= --set {key}=…)"
        )
    parser.add_argument("--run-dir", help="run directory (default: derived from the configuration)")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: only on a terminal); without one, a line per "
        "logged step and per validation goes to standard error (a job's log)",
    )
    parser.add_argument(
        "--replace-changed",
        action="store_true",
        help="where the run directory holds a run of another configuration, move it to "
        ".<name>.replaced beside it (replacing an older one) and train anew, instead of "
        "refusing; the workflow passes it, as Snakemake reruns a run whose settings changed",
    )


def _train(args: argparse.Namespace) -> int:
    from efa.runs.config import load_config
    from efa.train.loop import EXIT_INTERRUPTED, Trainer

    assignments = list(args.assignments)
    assignments += [
        f"{key}={getattr(args, key)}" for key in _SHORTCUTS if getattr(args, key) is not None
    ]
    config = load_config(args.config, assignments)
    if args.replace_changed:
        from efa.runs.directory import set_aside_changed_run
        from efa.runs.layout import RunPaths

        paths = RunPaths(Path(args.run_dir) if args.run_dir else config.run_dir())
        replaced = set_aside_changed_run(paths, config)
        if replaced is not None:
            aside, change = replaced
            print(
                f"efa: {paths.root}: the configuration changed ({change}); the previous run "
                f"is kept in {aside}, this one starts anew",
                file=sys.stderr,
            )
    if config.calculator:  # another code trains it, or nothing is trained
        from efa.predictors import prepare_calculator_run
        from efa.predictors.external import train_external

        run_dir = args.run_dir or config.run_dir()
        prepare = train_external if config.trainer is not None else prepare_calculator_run
        summary = prepare(config, run_dir)
    else:
        trainer = Trainer(config, args.run_dir, progress_bar=args.progress)
        run_dir, summary = trainer.paths.root, trainer.run()
    print_result({"run_dir": str(run_dir), **summary})
    return EXIT_INTERRUPTED if summary["status"] == "interrupted" else 0


def register(subparsers) -> None:
    """Add ``efa train``."""
    train = subparsers.add_parser(
        "train",
        help="train (or resume) a model run",
        description="Train a model; a killed run resumes from its last checkpoint when started "
        "again. With 'calculator' set (--set calculator=package.module:factory) nothing is "
        "trained: the run directory of that ASE calculator is written, with the same splits.",
    )
    add_train_arguments(train)
    train.set_defaults(handler=_train)
