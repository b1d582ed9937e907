"""A finished results folder in Python: ``load_results("results")`` for a notebook.

``efa report`` writes its tables as CSV and its stores as zarr; this module reads them back as
the objects a notebook works with:

- ``leaderboard(experiment)``: the experiment's leaderboard (``tables/leaderboard_<exp>.csv``)
  as a :class:`pandas.DataFrame` indexed by model, ranked as the report ranks it;
- ``metrics``: the combined test metrics (``metrics.zarr``) as an :class:`xarray.Dataset` with
  dims ``(experiment, model, seed)``;
- ``probes``: ``{label: xarray.Dataset}`` of ``probes/<label>.zarr``;
- ``targets``: the verdicts of the declared targets (``targets.json``) as a DataFrame, a row
  per target and model;
- ``summary``: ``metrics.json`` as a mapping.

Stores are read with their completeness check (:func:`efa.storage.read_zarr`), so a store a
killed job left incomplete is refused by name, as everywhere else.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from efa.errors import DataError
from efa.storage import read_zarr


@dataclass(frozen=True)
class Results:
    """The outputs of ``efa report`` under ``root`` (read on first use, then kept)."""

    root: Path

    @property
    def experiments(self) -> list[str]:
        """Experiments with a leaderboard, sorted."""
        tables = self.root / "tables"
        return sorted(p.stem.removeprefix("leaderboard_") for p in tables.glob("leaderboard_*.csv"))

    def leaderboard(self, experiment: str) -> pd.DataFrame:
        """The leaderboard of ``experiment``: a row per model (the index), every column of the
        CSV, missing values as NaN."""
        path = self.root / "tables" / f"leaderboard_{experiment}.csv"
        if not path.is_file():
            raise DataError(
                f"{path}: no leaderboard of experiment {experiment!r}; expected one of "
                f"{self.experiments} (run efa report, or snakemake, first)"
            )
        return pd.read_csv(path, index_col="model", na_values=["n/a"], keep_default_na=True)

    @cached_property
    def metrics(self) -> xr.Dataset:
        """The combined test metrics, dims ``(experiment, model, seed)``."""
        return read_zarr(self.root / "metrics.zarr", "test-metric").load()

    @cached_property
    def probes(self) -> dict[str, xr.Dataset]:
        """Every probe store, by label."""
        folder = self.root / "probes"
        return {p.stem: read_zarr(p, "probe").load() for p in sorted(folder.glob("*.zarr"))}

    @cached_property
    def targets(self) -> pd.DataFrame:
        """The verdicts of ``targets.json``: a row per target and model."""
        return pd.DataFrame(self._json("targets.json"))

    @cached_property
    def summary(self) -> dict[str, Any]:
        """``metrics.json``: the seed means of every quality number, the targets, provenance."""
        return self._json("metrics.json")

    def _json(self, name: str) -> Any:
        path = self.root / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise DataError(f"{path}: missing; run efa report (or snakemake) first") from None
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error})") from None


def load_results(root: str | os.PathLike = "results") -> Results:
    """The results folder ``root`` (``results_root`` of the workflow) for reading in Python.

    Raises:
      DataError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected the results folder of a finished run")
    return Results(root)
