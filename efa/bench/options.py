"""Command-line options shared by the ``efa bench`` benchmarks.

The argparse types turn a wrong value into a usage error that names the option and what was
expected, before anything is compiled.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def count(minimum: int = 1) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def batch_shape(text: str) -> tuple[int, int]:
    """An argparse type: ``STRUCTURESxATOMS`` (e.g. ``512x32``) as two positive integers."""
    message = f"expected STRUCTURESxATOMS with two positive integers, e.g. 512x32; got {text!r}"
    try:
        structures, atoms = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if min(structures, atoms) < 1:
        raise argparse.ArgumentTypeError(message)
    return structures, atoms


def add_output_dir(parser: argparse.ArgumentParser, writes: str) -> None:
    """``--output-dir`` (default ``results``); ``writes`` says what the benchmark writes there."""
    parser.add_argument(
        "--output-dir",
        default="results",
        help=f"results directory: writes {writes} there (default: %(default)s)",
    )
