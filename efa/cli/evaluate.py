"""``efa evaluate RUN_DIR``: the run's test metrics in the result-store format
(:mod:`efa.evaluate`)."""

from __future__ import annotations

import argparse

from efa.cli.result_line import print_result


def _evaluate(args: argparse.Namespace) -> int:
    from efa.evaluate import write_evaluation

    path, metrics = write_evaluation(args.run_dir, args.split, args.output)
    flat = {name: float(metrics[name].values.item()) for name in metrics.data_vars}
    print_result({"metrics": str(path), **flat})
    return 0


def register(subparsers) -> None:
    """Add ``efa evaluate``."""
    evaluate = subparsers.add_parser(
        "evaluate",
        help="test-split metrics of a trained run",
        description="Evaluate a run's model (the best checkpoint of a trained run, or its "
        "calculator) and write metrics in the result-store format.",
    )
    evaluate.add_argument("run_dir", help="run directory written by 'efa train'")
    evaluate.add_argument("--split", default="test", help="split to evaluate (default: test)")
    evaluate.add_argument(
        "--output",
        help="metrics store path (default: RUN_DIR/metrics.zarr); the predictions and the "
        "test-set errors are written to RUN_DIR",
    )
    evaluate.set_defaults(handler=_evaluate)
