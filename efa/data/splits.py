"""Deterministic, non-overlapping train/valid/test splits.

A split is a random permutation of ``range(num_structures)`` drawn from ``seed`` and cut into
consecutive pieces of the requested sizes, in the order the sizes are given. The same seed and
sizes always give the same indices; the pieces never overlap. Splits are saved as JSON next to
the run that uses them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from efa.errors import DataError
from efa.storage import write_text


def make_splits(num_structures: int, sizes: Mapping[str, int], seed: int) -> dict[str, np.ndarray]:
    """Return ``{split name: sorted int64 indices}`` with ``len = sizes[name]``, disjoint.

    Raises :class:`DataError` if a size is negative or the sizes add up to more than
    ``num_structures``.
    """
    for name, size in sizes.items():
        if int(size) != size or size < 0:
            raise DataError(f"split '{name}': size {size!r}; expected a non-negative integer")
    total = sum(int(size) for size in sizes.values())
    if total > num_structures:
        requested = ", ".join(f"{name}={size}" for name, size in sizes.items())
        raise DataError(
            f"splits {requested} need {total} structures; the data set has {num_structures}"
        )
    order = np.random.default_rng(seed).permutation(num_structures)
    splits, start = {}, 0
    for name, size in sizes.items():
        splits[name] = np.sort(order[start : start + int(size)]).astype(np.int64)
        start += int(size)
    return splits


def save_splits(splits: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write splits as JSON ``{name: [indices]}`` atomically."""
    text = json.dumps({name: [int(i) for i in idx] for name, idx in splits.items()})
    return write_text(text + "\n", path)


def load_splits(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read splits written by :func:`save_splits`."""
    raw = json.loads(Path(path).read_text())
    return {name: np.asarray(indices, dtype=np.int64) for name, indices in raw.items()}
