"""Writing and reading a run directory: the one writer of its JSON files.

``efa train`` (:mod:`efa.train.loop`), calculator models (:mod:`efa.predictors.calculator`) and
external trainers (:mod:`efa.predictors.external`) all start a run the same way: refuse a
directory that holds another configuration (:func:`check_same_config`), take the saved splits
(checked against the data set, :mod:`efa.runs.data_record`) or draw new ones
(:func:`run_splits_of`), write ``config.json``, ``splits.json`` and ``data.json``
(:func:`write_run_files`), and once the run is ready write ``summary.json``
(:func:`summary_record`, the same keys for every kind of model). The layout is
:mod:`efa.runs.layout`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from efa.errors import ConfigError, EfaError
from efa.provenance import mapping_sha256
from efa.runs.config import RunConfig, config_from_mapping
from efa.runs.data_record import check_run_data, data_record
from efa.runs.layout import RunPaths
from efa.storage import path_lock, write_text

#: Settings a run may change when it resumes: the safety-net time limit and the devices.
RESUMABLE_KEYS = frozenset({"max_time_s", "devices"})


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` as indented JSON atomically."""
    write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", path)


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file of a run, with an error naming it if it is missing or broken."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EfaError(f"{path}: missing {what}; is {path.parent} a run directory?") from None
    except NotADirectoryError:
        raise EfaError(f"{path.parent}: not a folder; expected a run directory") from None
    except OSError as error:
        raise EfaError(f"{path}: cannot read the {what} ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise EfaError(f"{path}: broken {what} ({error})") from None


@contextlib.contextmanager
def run_lock(paths: RunPaths) -> Iterator[None]:
    """Hold the run directory's lock while one process trains it (built-in or external).

    Raises:
      EfaError: another process holds it (a second ``efa train`` of the same run).
    """
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(path_lock(paths.root, wait=False))
        except BlockingIOError:
            raise EfaError(
                f"{paths.root}: another process is training this run now (it holds "
                f".{paths.root.name}.lock); wait for it to finish or stop it"
            ) from None
        yield


def config_sha256(config: RunConfig) -> str:
    """The configuration's hash for provenance: every setting but :data:`RESUMABLE_KEYS`."""
    return mapping_sha256(
        {key: value for key, value in config.to_dict().items() if key not in RESUMABLE_KEYS}
    )


def check_same_config(paths: RunPaths, config: RunConfig) -> None:
    """Refuse to reuse a run directory that holds a run of another configuration.

    Keys an older version's ``config.json`` lacks count as their defaults; the keys in
    :data:`RESUMABLE_KEYS` (a new time limit, other devices) may differ.

    Raises:
      ConfigError: naming the first key that differs, with both values.
    """
    changes = config_changes(paths, config)
    if changes:
        raise ConfigError(
            f"{paths.root} holds a run with a different configuration ({changes[0]}); use "
            "another output directory, or --replace-changed to keep that run aside and train "
            "anew (Snakemake passes it when a setting changed)"
        )


def config_changes(paths: RunPaths, config: RunConfig) -> list[str]:
    """``"key: value there, value now"`` for every setting, other than :data:`RESUMABLE_KEYS`,
    in which the run directory's ``config.json`` differs from ``config`` (none without one)."""
    if not paths.config.exists():
        return []
    existing = {
        **json.loads(json.dumps(RunConfig().to_dict())),
        **read_json(paths.config, "run configuration"),
    }
    wanted = json.loads(json.dumps(config.to_dict()))
    return [
        f"{key}: {existing.get(key)!r} there, {wanted.get(key)!r} now"
        for key in sorted(set(existing) | set(wanted))
        if existing.get(key) != wanted.get(key) and key not in RESUMABLE_KEYS
    ]


def set_aside_changed_run(paths: RunPaths, config: RunConfig) -> tuple[Path, str] | None:
    """Move a run directory that holds a run of another configuration to ``.<name>.replaced``
    beside it (replacing one an earlier change left there), under the run's lock, so that the
    run starts anew; return ``(where it went, the first change)``, or None where the directory
    holds no other configuration.

    Raises:
      EfaError: another process trains the run now.
    """
    with run_lock(paths):
        changes = config_changes(paths, config)
        if not changes:
            return None
        aside = paths.root.with_name(f".{paths.root.name}.replaced")
        if aside.exists():
            shutil.rmtree(aside)
        paths.root.rename(aside)
        return aside, changes[0]


def run_splits_of(
    paths: RunPaths, config: RunConfig, dataset, dataset_sha256: str, action: str
) -> dict[str, np.ndarray]:
    """The run's splits ``{name: (n,) indices}``: the saved ones, once the data set is checked
    to be the one the run started on (``action``: "resume", "reuse", for the error), or new
    ones drawn by :func:`efa.data.splits.run_splits` (sizes and ``split_seed``, or the
    published splits).

    Raises:
      DataError: the data set changed since the run directory was written.
    """
    from efa.data.splits import load_splits, run_splits

    if paths.splits.exists():
        splits = load_splits(paths.splits)
        recorded = read_json(paths.data, "data record") if paths.data.exists() else None
        check_run_data(recorded, paths.data, dataset_sha256, splits, action)
        return splits
    return run_splits(config.splits, config.split_seed, dataset, config.dataset)


def write_run_files(
    paths: RunPaths,
    config: RunConfig,
    splits: dict[str, np.ndarray],
    dataset_sha256: str,
    num_structures: int,
    level_of_theory: str,
    elements: np.ndarray,
) -> None:
    """Write ``config.json``, ``splits.json`` and ``data.json``
    (:func:`~efa.runs.data_record.data_record`; ``elements``: atomic numbers of the training
    split's atoms)."""
    from efa.data.splits import save_splits

    paths.root.mkdir(parents=True, exist_ok=True)
    write_json(config.to_dict(), paths.config)
    save_splits(splits, paths.splits)
    record = data_record(
        config.dataset, dataset_sha256, num_structures, splits, level_of_theory, elements
    )
    write_json(record, paths.data)


def summary_record(
    config: RunConfig,
    dataset_sha256: str,
    status: str,
    stop_reason: str,
    steps: int | None,
    max_steps: int | None,
    wall_time_s: float,
    device_count: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The ``summary.json`` mapping of a run: ``status`` (``complete``, ``truncated``,
    ``interrupted``), ``stop_reason``, ``truncated``, ``steps`` and ``max_steps`` (0 for a
    calculator, None where another code trained the model), ``wall_time_s``, the ``extra``
    entries of the kind of run, and its provenance (:func:`efa.provenance.collect`;
    ``device_count`` None: every visible device)."""
    from efa.provenance import collect

    return {
        "status": status,
        "stop_reason": stop_reason,
        "truncated": status == "truncated",
        "steps": steps,
        "max_steps": max_steps,
        "wall_time_s": wall_time_s,
        **extra,
        "provenance": collect(
            device_count=device_count,
            config_sha256=config_sha256(config),
            datasets={config.dataset: dataset_sha256},
        ),
    }


def prepare_run_files(config: RunConfig, paths: RunPaths):
    """Write ``config.json``, ``splits.json`` and ``data.json`` of a run that ``efa train`` does
    not train; return ``(dataset, splits, dataset_sha256)``.

    The splits are those of a trained run (same sizes and ``split_seed``, or the published
    ones); an existing run directory is reused only for the same configuration and data set.

    Raises:
      ConfigError: the run directory holds a run of another configuration.
      DataError: the data set is missing, or changed since the run directory was written.
    """
    from efa.data.store import open_dataset
    from efa.data.structures import Structures
    from efa.provenance import dataset_sha256

    check_same_config(paths, config)
    dataset = open_dataset(config.dataset, config.datasets_root)
    digest = dataset_sha256(dataset)
    structures = Structures.from_dataset(dataset)
    splits = run_splits_of(paths, config, dataset, digest, "reuse")
    train = structures.select(splits["train"])
    write_run_files(
        paths,
        config,
        splits,
        digest,
        len(structures.energy),
        str(dataset.attrs.get("level_of_theory", "")),
        train.atomic_numbers[train.atom_mask],
    )
    return dataset, splits, digest


def write_summary(
    config: RunConfig,
    paths: RunPaths,
    dataset_sha256: str,
    stop_reason: str,
    steps: int | None,
    wall_time_s: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    """Write the ``summary.json`` of a complete run that ``efa train`` does not train (steps
    0 for a calculator, None for another code's trainer); return it."""
    summary = summary_record(
        config, dataset_sha256, "complete", stop_reason, steps, steps, wall_time_s, **extra
    )
    write_json(summary, paths.summary)
    return summary


def open_run_data(run_dir, action: str):
    """The data set and splits of a run, checked to be the data it was trained on.

    Args:
      run_dir: a run directory (of ``efa train``, or of a calculator model).
      action: what the caller is about to do, for the error messages (e.g. "evaluate").

    Returns:
      ``(config, dataset, splits, dataset_sha256)``: the run's
      :class:`~efa.runs.config.RunConfig`, its data set (xarray), ``{name: (n,) indices}`` and
      the data set's content hash.

    Raises:
      DataError: the data set changed since the run started (:func:`check_run_data`).
    """
    from efa.data.splits import load_splits
    from efa.data.store import open_dataset
    from efa.provenance import dataset_sha256

    paths = RunPaths(Path(run_dir))
    config = config_from_mapping(read_json(paths.config, "run configuration"), str(paths.config))
    splits = load_splits(paths.splits)
    dataset = open_dataset(config.dataset, config.datasets_root)
    digest = dataset_sha256(dataset)
    recorded = read_json(paths.data, "data record") if paths.data.exists() else None
    check_run_data(recorded, paths.data, digest, splits, action)
    return config, dataset, splits, digest


def load_run_split(run_dir, split: str, action: str):
    """The structures of ``split`` of the data set a run was trained on, checked to be that data
    (:func:`open_run_data`).

    Returns:
      ``(structures, indices, dataset_sha256)``: the split's
      :class:`~efa.data.structures.Structures`, their ``(n,)`` indices in the data set and the data
      set's content hash.

    Raises:
      ConfigError: the run has no split ``split``.
      DataError: the data set changed since the run started.
    """
    from efa.data.structures import Structures

    _, dataset, splits, digest = open_run_data(run_dir, action)
    if split not in splits:
        raise ConfigError(
            f"{RunPaths(Path(run_dir)).splits}: no split {split!r}; the run has {sorted(splits)}"
        )
    return Structures.from_dataset(dataset).select(splits[split]), splits[split], digest
