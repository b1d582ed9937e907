"""``efa bench …``: performance benchmarks that print their figures and targets."""

from __future__ import annotations

import argparse
import importlib

#: Subcommand → (module with ``add_arguments`` and ``run``, one-line description).
BENCHMARKS = {
    "attention": ("efa.bench.attention", "cost of the EFA operator vs system size and batching"),
    "train": ("efa.bench.train", "training steps/s of local vs EFA models of the same width"),
    "scale": ("efa.bench.scale", "energy + forces of one structure of 10³–10⁶ atoms, local vs EFA"),
    "quadrature": (
        "efa.bench.quadrature",
        "accuracy and cost of EFA's quadrature: Lebedev points × b_max, against the exact form",
    ),
    "entry": ("efa.bench.entry", "the same speed from the command line, the Python API, JAX first"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``efa bench`` and its benchmarks."""
    parser = subparsers.add_parser(
        "bench", help="performance benchmarks", description=__doc__.splitlines()[0]
    )
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)
    benchmarks = parser.add_subparsers(title="benchmarks", metavar="BENCHMARK")
    for name, (module_name, description) in BENCHMARKS.items():
        sub = benchmarks.add_parser(name, help=description, description=description)
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
