"""The ``efa`` console script: the parser of every command, and the entry point.

Every command is a module of :mod:`efa.cli` that contributes itself through a
``register(subparsers)`` function; this module only assembles them.

Each ``register`` adds one sub-parser and sets ``handler`` (a callable taking the parsed
namespace and returning an exit code) through ``set_defaults``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from efa import __version__
from efa.errors import EfaError

#: Modules that contribute subcommands, in the order they appear in ``efa --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "efa.cli.data",
    "efa.cli.train",
    "efa.cli.evaluate",
    "efa.cli.probe",
    "efa.cli.predict",
    "efa.cli.report",
    "efa.cli.bench",
    "efa.cli.dvc",
    "efa.cli.completion",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="efa",
        description="Benchmarks for long-range machine-learning force fields "
        "(Euclidean fast attention).",
    )
    parser.add_argument("--version", action="version", version=f"efa-bench {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``efa`` console script."""
    from efa.xla import configure_compilation_cache, configure_xla

    configure_xla()
    configure_compilation_cache()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return int(handler(args) or 0)
    except EfaError as error:
        print(f"efa: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of standard output left early (``efa … | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("efa: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except OSError as error:
        if error.filename is None:
            raise
        print(f"efa: error: {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
