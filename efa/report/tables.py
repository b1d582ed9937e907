"""Aggregation over seeds and the report's tables (markdown for people, CSV for tools).

Every number in a table is the mean over the seeds present (non-nan) with its standard deviation
(population, ``ddof = 0``) — written ``mean ± std`` in markdown and as two columns ``<name>_mean``,
``<name>_std`` (plus ``n_seeds``) in CSV.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

#: Test metrics shown in the test-metric table, in this order (when present in the store).
TEST_METRICS = (
    "energy_mae",
    "energy_rmse",
    "energy_mae_per_atom",
    "forces_mae",
    "forces_rmse",
    "num_parameters",
    "steps",
)
#: Test metrics shown only when some run has them (periodic cells with stress labels).
OPTIONAL_TEST_METRICS = ("stress_mae", "stress_rmse")

#: Metrics that measure time or memory: they vary between runs of one configuration, so the
#: quality tables and ``metrics.json`` leave them out and the cost table shows them.
TIMING_METRICS = ("wall_time_s", "compile_s", "inference_us_per_atom")

#: Columns of the cost table.
COST_COLUMNS = ("steps", *TIMING_METRICS)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """CSV text (``nan`` for missing numbers)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def seed_statistics(values: np.ndarray) -> tuple[float, float, int]:
    """``(mean, std, n)`` over the finite entries of ``values`` (nan, nan, 0 if none)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan, math.nan, 0
    return float(finite.mean()), float(finite.std()), int(finite.size)


def format_value(mean: float, std: float, count: int) -> str:
    """``mean ± std`` with 3 significant digits (just ``mean`` for one seed, ``–`` for none)."""
    if count == 0:
        return "–"
    if count == 1:
        return f"{mean:.3g}"
    return f"{mean:.3g} ± {std:.2g}"


def metric_rows(
    dataset: xr.Dataset, names: Sequence[str], index_dims: Sequence[str]
) -> tuple[list[list[object]], list[list[object]]]:
    """Markdown rows and CSV rows of ``names`` aggregated over ``seed`` for every combination of
    ``index_dims`` (e.g. ``("experiment", "model")``).

    CSV rows hold the index values, ``n_seeds`` and ``mean, std`` per metric; markdown rows the
    index values and ``mean ± std`` per metric. Combinations without any finite value are skipped.
    """
    markdown, table = [], []
    stacked = dataset[list(names)].stack(row=list(index_dims))
    for position in range(stacked.sizes["row"]):
        entry = stacked.isel(row=position)
        statistics = [seed_statistics(entry[name].values) for name in names]
        counts = [count for _, _, count in statistics]
        if max(counts) == 0:
            continue
        index = [entry[dim].item() for dim in index_dims]
        markdown.append(index + [format_value(*s) for s in statistics])
        table.append(
            index + [max(counts)] + [v for mean, std, _ in statistics for v in (mean, std)]
        )
    return markdown, table


def truncated_text(values: np.ndarray) -> str:
    """The ``truncated`` column: ``no``, or how many of the runs stopped on their time limit."""
    runs = np.asarray(values, dtype=np.float64)
    runs = runs[np.isfinite(runs)]
    count = int(np.count_nonzero(runs))
    return "no" if count == 0 else f"YES ({count} of {runs.size} runs)"


def _with_truncated(
    dataset: xr.Dataset, rows: tuple[list, list], index_dims: Sequence[str]
) -> tuple[list[list[object]], list[list[object]]]:
    """Append the ``truncated`` column (markdown: text; CSV: number of truncated runs)."""
    markdown, table = rows
    if "truncated" not in dataset:
        return markdown, table
    for markdown_row, csv_row in zip(markdown, table):
        entry = dataset["truncated"].sel(dict(zip(index_dims, markdown_row[: len(index_dims)])))
        values = np.asarray(entry.values, dtype=np.float64)
        markdown_row.append(truncated_text(values))
        csv_row.append(int(np.count_nonzero(values[np.isfinite(values)])))
    return markdown, table


def _tables(
    dataset: xr.Dataset,
    names: Sequence[str],
    index_dims: Sequence[str],
    not_applicable: Callable[[Sequence[object], str], bool] | None = None,
) -> tuple[str, str]:
    """Markdown and CSV tables of ``names`` per ``index_dims``; a markdown cell reads ``n/a``
    where ``not_applicable(index values, name)``."""
    rows = _with_truncated(dataset, metric_rows(dataset, names, index_dims), index_dims)
    if not_applicable is not None:
        for row in rows[0]:
            index = row[: len(index_dims)]
            for column, name in enumerate(names, start=len(index_dims)):
                if not_applicable(index, name):
                    row[column] = "n/a"
    extra = ["truncated"] if "truncated" in dataset else []
    extra_csv = ["truncated_runs"] if extra else []
    header = [*index_dims] + [_with_units(dataset, name) for name in names] + extra
    csv_header = (
        [*index_dims, "n_seeds"] + [f"{n}_{s}" for n in names for s in ("mean", "std")] + extra_csv
    )
    return markdown_table(header, rows[0]), csv_table(csv_header, rows[1])


def test_metric_tables(metrics: xr.Dataset) -> tuple[str, str]:
    """Markdown and CSV of the test metrics per experiment × model (mean ± std over seeds), with
    a ``truncated`` column; no time or memory figures (:func:`cost_tables`)."""
    names = [name for name in TEST_METRICS if name in metrics]
    names += [
        name
        for name in OPTIONAL_TEST_METRICS
        if name in metrics and np.isfinite(metrics[name].values).any()
    ]
    return _tables(metrics, names, ("experiment", "model"))


def test_set_tables(test_sets: xr.Dataset) -> tuple[str, str]:
    """Markdown and CSV of the errors per experiment × model × test set × group (mean ± std
    over seeds; group ``all`` is the whole test set)."""
    names = [name for name in ("num_structures", *TEST_METRICS) if name in test_sets]
    return _tables(test_sets, names, ("experiment", "model", "test_set", "group"))


def cost_tables(metrics: xr.Dataset) -> tuple[str, str] | None:
    """Markdown and CSV of what the runs took (steps, training wall time, inference time), None
    without them.

    Kept apart from the quality tables: wall times differ between runs of one configuration.
    """
    names = [name for name in COST_COLUMNS if name in metrics]
    if not set(TIMING_METRICS) & set(names):
        return None
    return _tables(metrics, names, ("experiment", "model"))


def probe_metric_tables(store: xr.Dataset) -> tuple[str, str]:
    """Markdown and CSV of a probe's metrics per model (mean ± std over seeds), with a
    ``truncated`` column; ``n/a`` in the markdown where a model cannot take a check (the store's
    ``not_applicable``)."""
    probe = store.isel(probe=0)
    reasons = probe["not_applicable"] if "not_applicable" in probe else None

    def not_applicable(index: Sequence[object], name: str) -> bool:
        return reasons is not None and bool(
            str(reasons.sel(model=index[0], metric_name=name).item())
        )

    return _tables(probe, list(store.attrs["metrics"]), ("model",), not_applicable)


def _curve_parts(probe: xr.Dataset) -> tuple[str, list[str], list[str]] | None:
    """``(value, reference columns, extra columns)`` of one probe's curve, or None if it has none:
    the seed-mean variable plotted per model, the reference beside it, the extra coordinates."""
    if "energy_predicted" in probe:
        value, columns = "energy_predicted", ["energy_reference"]
    elif "energy_mae_per_atom" in probe:
        value, columns = "energy_mae_per_atom", []
    else:
        return None
    return value, columns, [name for name in ("separation",) if name in probe]


def curve_columns(store: xr.Dataset) -> list[str] | None:
    """The columns of :func:`curve_table` for ``store``, or None if it has no curve."""
    probe = store.isel(probe=0)
    parts = _curve_parts(probe)
    if parts is None:
        return None
    value, columns, extra = parts
    return ["point", "coordinate", *extra, *columns] + [
        f"{value.replace('_predicted', '')}_{m}" for m in probe["model"].values
    ]


def curve_table(store: xr.Dataset) -> str | None:
    """CSV of a probe's curve: coordinate, reference and each model's seed-mean prediction.

    Columns: ``point, coordinate[, separation], energy_reference, energy_<model>…`` (eV) for curve
    probes; for size scans ``coordinate`` and ``energy_mae_per_atom_<model>``. None if the store has
    no curve.
    """
    probe = store.isel(probe=0)
    parts = _curve_parts(probe)
    if parts is None:
        return None
    value, columns, extra = parts
    mean = probe[value].mean("seed", skipna=True)
    rows = []
    for point in range(probe.sizes["point"]):
        rows.append(
            [point, float(probe["coordinate"].values[point])]
            + [float(probe[name].values[point]) for name in extra + columns]
            + [float(mean.values[index, point]) for index in range(probe.sizes["model"])]
        )
    return csv_table(curve_columns(store), rows)


def _with_units(dataset: xr.Dataset, name: str) -> str:
    units = dataset[name].attrs.get("units", "1")
    return name if units == "1" else f"{name} ({units})"
