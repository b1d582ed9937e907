"""What data a run was trained on, recorded so that it is never resumed or evaluated on other data.

A run directory's ``data.json`` holds::

    {"dataset": "<name or path>", "dataset_sha256": "<content hash>",
     "num_structures": N, "splits_sha256": "<hash of splits.json's indices>",
     "level_of_theory": "<the data set's level of theory>",
     "elements": [Z, ...]}   # distinct atomic numbers of the training split (the model's
                             # element coverage, efa.runs.capabilities)

The data set hash is :func:`efa.provenance.dataset_sha256` of the canonical store, so a data set
rebuilt with other structures (another generator version, other sizes, an updated download)
has another hash even where its name and size are unchanged. :func:`check_run_data` compares a
run's record with the data set as it is now and refuses a mismatch, naming both hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from efa.errors import DataError
from efa.provenance import mapping_sha256


def splits_sha256(splits: Mapping[str, np.ndarray]) -> str:
    """Content hash of split indices ``{name: (n,) int}``."""
    return mapping_sha256({name: [int(i) for i in indices] for name, indices in splits.items()})


def data_record(
    dataset: str,
    dataset_sha256: str,
    num_structures: int,
    splits: Mapping[str, np.ndarray],
    level_of_theory: str = "",
    elements: np.ndarray | None = None,
) -> dict:
    """The ``data.json`` mapping of a run (module docstring); ``elements`` are the atomic
    numbers of the training split's atoms (recorded as the sorted distinct ones)."""
    record = {
        "dataset": dataset,
        "dataset_sha256": dataset_sha256,
        "num_structures": int(num_structures),
        "splits_sha256": splits_sha256(splits),
        "level_of_theory": level_of_theory,
    }
    if elements is not None:
        record["elements"] = sorted({int(z) for z in np.asarray(elements).ravel()})
    return record


def check_run_data(
    recorded: Mapping | None,
    record_path: Path,
    dataset_sha256: str,
    splits: Mapping[str, np.ndarray],
    action: str,
) -> None:
    """Refuse to ``action`` (e.g. "resume", "evaluate") a run on data other than its own.

    Args:
      recorded: the run's ``data.json`` mapping, or None where the run has none.
      record_path: its path, for the messages.
      dataset_sha256: content hash of the data set as it is now.
      splits: the run's split indices (``splits.json``).
      action: what the caller was about to do.

    Raises:
      DataError: the run has no record, or the data set or the splits changed since.
    """
    run = record_path.parent
    if recorded is None:
        raise DataError(
            f"{record_path}: missing; the run in {run} was started by an older efa-bench that did "
            f"not record its data set, so it cannot be checked before it is {action}d; retrain it "
            "in a new run directory (or delete this one)"
        )
    if recorded.get("dataset_sha256") != dataset_sha256:
        raise DataError(
            f"cannot {action} {run}: its data set {recorded.get('dataset')!r} changed since the "
            f"run started (content sha256 {recorded.get('dataset_sha256')} then, "
            f"{dataset_sha256} now). "
            "Rebuild the data set as it was, or delete the run directory to retrain on the new data"
        )
    if recorded.get("splits_sha256") != splits_sha256(splits):
        raise DataError(
            f"cannot {action} {run}: {run / 'splits.json'} no longer matches the split indices "
            f"recorded in {record_path}; delete the run directory to retrain"
        )
