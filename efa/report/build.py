"""Assemble the report from result stores: tables, figures, ``metrics.json`` and the targets.

Outputs under ``output_dir``:

- ``tables/test_metrics.md|csv``: test metrics per experiment × model (mean ± std over seeds);
- ``tables/probe_<label>.md|csv``: each probe's metrics per model;
- ``tables/curve_<label>.csv``: each probe's curve (reference and seed-mean predictions), for
  DVC plots;
- ``tables/targets.md`` and ``tables/summary.md`` (all tables, with headings);
- ``figures/<label>.png`` per probe and ``figures/force_error_vs_depth.png`` when models are
  labelled ``<name>_T<k>``;
- ``metrics.json``: ``{"test": {experiment: {model: {metric: mean}}}, "probes": {label: {model:
  {metric: mean}}}, "targets": {"met": K, "total": N}}`` (nan written as null).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from efa.errors import ConfigError
from efa.report.tables import (
    curve_table,
    probe_metric_tables,
    seed_statistics,
    test_metric_tables,
)
from efa.report.targets import Target, evaluate_targets, targets_line
from efa.storage import write_text, write_zarr


def open_store(path: str | os.PathLike, what: str) -> xr.Dataset:
    """Load a zarr result store, with an error naming the path if it is missing or unreadable."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{path}: no {what} store found")
    try:
        with xr.open_zarr(path, consolidated=False, chunks=None) as lazy:
            return lazy.load()
    except (ValueError, KeyError, OSError) as error:
        raise ConfigError(f"{path}: not a readable {what} store ({error})") from None


def combine_metrics(paths: Sequence[str | os.PathLike]) -> xr.Dataset | None:
    """Test-metric stores (dims experiment, model, seed) combined into one (nan where missing)."""
    if not paths:
        return None
    stores = [open_store(path, "test-metric") for path in paths]
    for path, store in zip(paths, stores):
        if set(store.dims) != {"experiment", "model", "seed"}:
            raise ConfigError(f"{path}: dims {sorted(store.dims)}; expected experiment, model, seed")
    try:
        combined = xr.combine_by_coords(stores, combine_attrs="drop_conflicts")
    except ValueError as error:
        raise ConfigError(f"--metrics: cannot combine the stores ({error})") from None
    return combined


def _label(store: xr.Dataset) -> str:
    return str(store["probe"].values[0])


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def summary_json(metrics: xr.Dataset | None, probes: Sequence[xr.Dataset], targets: Sequence[Target]) -> dict:
    """The nested ``metrics.json`` mapping (seed means)."""
    test: dict = {}
    if metrics is not None:
        for experiment in metrics["experiment"].values:
            for model in metrics["model"].values:
                values = {
                    name: _clean(seed_statistics(metrics[name].sel(experiment=experiment, model=model).values)[0])
                    for name in metrics.data_vars
                }
                if any(value is not None for value in values.values()):
                    test.setdefault(str(experiment), {})[str(model)] = values
    probe_values = {
        _label(store): {
            str(model): {
                name: _clean(seed_statistics(store[name].isel(probe=0).sel(model=model).values)[0])
                for name in store.attrs["metrics"]
            }
            for model in store["model"].values
        }
        for store in probes
    }
    return {
        "test": test,
        "probes": probe_values,
        "targets": {"met": sum(t.met for t in targets), "total": len(targets)},
    }


def build_report(
    metrics_paths: Sequence[str | os.PathLike],
    probe_paths: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    combined_metrics: str | os.PathLike | None = None,
) -> tuple[list[Target], list[Path]]:
    """Write every report output (module docstring); return the targets and the written paths."""
    from efa.report.figures import depth_figure, probe_figure, save_figure

    output = Path(output_dir)
    metrics = combine_metrics(metrics_paths)
    probes = [open_store(path, "probe") for path in probe_paths]
    labels = [_label(store) for store in probes]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(f"--probes: probe {duplicates[0]!r} appears in more than one store; "
                          "give each a distinct 'efa probe --label'")
    written: list[Path] = []
    sections = []

    def text(content: str, name: str) -> None:
        written.append(write_text(content, output / name))

    if metrics is not None:
        markdown, table = test_metric_tables(metrics)
        text(markdown, "tables/test_metrics.md")
        text(table, "tables/test_metrics.csv")
        sections.append(("Test metrics (mean ± std over seeds)", markdown))
        if combined_metrics is not None:
            written.append(write_zarr(metrics, combined_metrics))
        figure = depth_figure(metrics)
        if figure is not None:
            written.append(save_figure(figure, output / "figures/force_error_vs_depth.png"))
    for label, store in zip(labels, probes):
        markdown, table = probe_metric_tables(store)
        text(markdown, f"tables/probe_{label}.md")
        text(table, f"tables/probe_{label}.csv")
        curve = curve_table(store)
        if curve is not None:
            text(curve, f"tables/curve_{label}.csv")
        sections.append((f"Probe {label} ({store.attrs['kind']}; reference {store.attrs.get('reference', '')})", markdown))
        written.append(save_figure(probe_figure(store), output / f"figures/{label}.png"))

    targets = evaluate_targets(probes)
    target_text = "\n".join(f"- {target.line()}" for target in targets)
    target_text += f"\n\n{targets_line([target.met for target in targets])}\n"
    text(target_text, "tables/targets.md")
    sections.append(("Quality targets", target_text))
    text("\n".join(f"## {title}\n\n{body}" for title, body in sections), "tables/summary.md")
    summary = summary_json(metrics, probes, targets)
    text(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n", "metrics.json")
    return targets, written
