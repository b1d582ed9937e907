"""Deterministic, non-overlapping train/valid/test splits: random, or the data set's own.

A random split is a permutation of ``range(num_structures)`` drawn from ``seed`` and cut into
consecutive pieces of the requested sizes, in the order the sizes are given. The same seed and
sizes always give the same indices; the pieces never overlap. A data set imported with one file
per split (``efa data import --split``) carries its published splits in its ``split`` label;
``splits: dataset`` selects them (:data:`PUBLISHED`). Splits are saved as JSON next to the run
that uses them. Every split other than ``train`` and ``valid`` is a test set.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from efa.errors import DataError
from efa.storage import write_text

#: The ``splits`` value that selects a data set's published splits instead of random ones.
PUBLISHED = "dataset"
#: Splits a run trains and validates on; every other split is a test set.
FIT_SPLITS = ("train", "valid")


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


def published_splits(dataset, source: str = "<dataset>") -> dict[str, np.ndarray]:
    """The data set's own splits ``{name: sorted int64 indices}`` from its ``split`` label,
    in the order the names first appear; ``train``, ``valid`` and ``test`` are required."""
    if "split" not in dataset.variables:
        raise DataError(
            f"{source}: has no published splits (no 'split' label); import it with "
            "'efa data import --split train=FILE --split valid=FILE --split "
            "test=FILE', or give split sizes"
        )
    labels = np.asarray([str(value) for value in np.asarray(dataset["split"].values)])
    names = list(dict.fromkeys(labels))
    missing = [name for name in ("train", "valid", "test") if name not in names]
    if missing:
        raise DataError(
            f"{source}: its published splits {names} lack {missing}; expected train, valid and test"
        )
    return {name: np.flatnonzero(labels == name).astype(np.int64) for name in names}


#: Positions and cell entries closer than this (Å) count as the same in :func:`repeated_structures`.
SAME_POSITION_A = 1e-4


def structure_fingerprints(dataset) -> list[bytes]:
    """One digest per structure of a canonical data set: its atomic numbers, positions and cell
    (if any), positions rounded to :data:`SAME_POSITION_A`; equal structures have equal ones."""
    numbers = np.asarray(dataset["atomic_numbers"].values)
    positions = np.asarray(dataset["positions"].values)
    mask = np.asarray(dataset["atom_mask"].values)
    cells = np.asarray(dataset["cell"].values) if "cell" in dataset.variables else None
    digests = []
    for index in range(numbers.shape[0]):
        digest = hashlib.blake2b(digest_size=16)
        digest.update(numbers[index][mask[index]].astype(np.int32).tobytes())
        rounded = np.round(positions[index][mask[index]] / SAME_POSITION_A).astype(np.int64)
        digest.update(rounded.tobytes())
        if cells is not None:
            digest.update(np.round(cells[index] / SAME_POSITION_A).astype(np.int64).tobytes())
        digests.append(digest.digest())
    return digests


def repeated_structures(dataset, splits: Mapping[str, np.ndarray]) -> dict[str, int]:
    """``{split: how many of its structures repeat one of the training split}`` for every split
    other than ``train`` with at least one (same atoms, positions equal to
    :data:`SAME_POSITION_A`): such a test set measures recall, not prediction."""
    fingerprints = structure_fingerprints(dataset)
    train = {fingerprints[index] for index in splits.get("train", ())}
    counts = {
        name: sum(fingerprints[index] in train for index in indices)
        for name, indices in splits.items()
        if name != "train"
    }
    return {name: count for name, count in counts.items() if count}


def run_splits(
    spec: Mapping[str, int] | str, seed: int, dataset, source: str = "<dataset>"
) -> dict[str, np.ndarray]:
    """A run's splits: random ones of sizes ``spec`` drawn with ``seed``, or the published
    splits of ``dataset`` where ``spec`` is :data:`PUBLISHED`."""
    if spec == PUBLISHED:
        return published_splits(dataset, source)
    try:
        return make_splits(int(dataset.sizes["structure"]), dict(spec), seed)
    except DataError as error:
        if "split" not in dataset.variables:
            raise
        names = list(dict.fromkeys(str(value) for value in np.asarray(dataset["split"].values)))
        raise DataError(
            f"{source}: {error}; the data set has published splits {names}: train on them with "
            f"splits: {PUBLISHED} (efa train --set splits={PUBLISHED})"
        ) from None


def test_sets(splits: Mapping[str, np.ndarray]) -> list[str]:
    """Names of the test sets among ``splits``: all but :data:`FIT_SPLITS`, ``test`` first."""
    names = [name for name in splits if name not in FIT_SPLITS]
    return sorted(names, key=lambda name: name != "test")


def save_splits(splits: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write splits as JSON ``{name: [indices]}`` atomically."""
    text = json.dumps({name: [int(i) for i in idx] for name, idx in splits.items()})
    return write_text(text + "\n", path)


#: One more than the largest structure index a splits file may hold (an int64 holds it).
MAX_INDEX = 2**62


def load_splits(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read splits written by :func:`save_splits`: ``{split name: [structure index, …]}``.

    Raises:
      DataError: naming the file if it is missing, not JSON or not such a mapping.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: missing splits file; is {path.parent} a run directory?") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable splits file ({error})") from None
    if not isinstance(raw, dict) or not all(
        isinstance(indices, list)
        and all(type(index) is int and 0 <= index < MAX_INDEX for index in indices)
        for indices in raw.values()
    ):
        raise DataError(
            f"{path}: expected a JSON object of split name -> list of structure indices "
            f"(integers from 0 to {MAX_INDEX - 1}), as 'efa train' writes it"
        )
    return {name: np.asarray(indices, dtype=np.int64) for name, indices in raw.items()}
