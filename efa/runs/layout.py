"""Where a run's files are: the one definition of the run-directory layout.

Every model of an experiment has a run directory ``<output_root>/<experiment>/<label>/seed<k>/``
(:func:`run_dir`; the workflow's rules use :data:`RUN_PATTERN` with Snakemake wildcards)::

    config.json          the run configuration (efa.runs.config.RunConfig)
    splits.json          structure indices of each split (efa.data.splits)
    data.json            content hashes of the data set and the splits (efa.runs.data_record)
    model.json           built-in models: name, options, cutoff, reference energies, parameters
    checkpoints/, best/  built-in models: orbax checkpoints (efa.train.checkpoints)
    train_log.jsonl      built-in models: one JSON record per line (efa.train.log)
    splits_extxyz/       external trainers: the exported splits (efa.data.export)
    trainer.log          external trainers: the trainer command's output
    summary.json         once the run is ready: status, steps, provenance
    metrics.zarr, predictions_<split>.zarr, test_sets.zarr
                         written by ``efa evaluate`` (efa.evaluate)

This module needs nothing but the standard library, so that the workflow can read it when
Snakemake parses the rules.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

#: The run directory below the output root, with ``str.format`` fields (Snakemake wildcards).
RUN_PATTERN = "{experiment}/{model}/seed{seed}"
#: Folder of an external trainer's exported splits inside the run directory.
SPLITS_FOLDER = "splits_extxyz"


def run_dir(output_root: str | Path, experiment: str, label: str, seed: int | str) -> Path:
    """``<output_root>/<experiment>/<label>/seed<seed>`` (:data:`RUN_PATTERN`)."""
    return Path(output_root) / RUN_PATTERN.format(experiment=experiment, model=label, seed=seed)


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Paths inside a run directory (module docstring)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def model(self) -> Path:
        return self.root / "model.json"

    @property
    def splits(self) -> Path:
        return self.root / "splits.json"

    @property
    def data(self) -> Path:
        return self.root / "data.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best(self) -> Path:
        return self.root / "best"

    @property
    def log(self) -> Path:
        return self.root / "train_log.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def exported_splits(self) -> Path:
        return self.root / SPLITS_FOLDER

    @property
    def trainer_log(self) -> Path:
        return self.root / "trainer.log"

    @property
    def trainer_group(self) -> Path:
        """The running trainer's process group (its leader's pid and start time)."""
        return self.root / "trainer_group.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.zarr"

    def predictions(self, split: str) -> Path:
        return self.root / f"predictions_{split}.zarr"

    @property
    def test_sets(self) -> Path:
        return self.root / "test_sets.zarr"
