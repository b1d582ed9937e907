"""Assemble the report from result stores: tables, figures, ``metrics.json`` and the targets.

Outputs under ``output_dir``:

- ``tables/test_metrics.md|csv``: test metrics per experiment × model (mean ± std over seeds),
  with a ``truncated`` column;
- ``tables/test_sets.md|csv``: errors per experiment × model × test set × group (from the
  per-run ``test_sets.zarr`` stores; group ``all`` is the whole set);
- ``tables/leaderboard_<experiment>.md|csv`` and ``figures/leaderboard_<experiment>.png``: every
  model's test errors, probe metrics and model card (:mod:`efa.report.leaderboard`);
- ``tables/cost.md|csv`` and ``cost.json``: steps, training wall time and inference time, kept apart
  from the quality numbers because time and memory differ between runs of one configuration;
- ``tables/probe_<label>.md|csv``: each probe's metrics per model;
- ``tables/curve_<label>.csv``: each probe's curve (reference and seed-mean predictions), for
  DVC plots; ``dvc.yaml`` declares them as DVC plots (x the coordinate, y the reference and every
  model's column, whatever the models are called);
- ``tables/targets.md`` (every verdict of the declared targets, ``targets met: K/N`` and each
  model's score, :mod:`efa.report.targets`), ``targets.json`` (the same verdicts with their
  declarations) and ``tables/summary.md`` (provenance and every quality table, with headings;
  not the cost table);
- ``figures/<label>.png`` per probe and ``figures/force_error_vs_depth.png`` when models are
  labelled ``<name>_T<k>``;
- ``figures/parity_<experiment>.png`` (test energies and forces, every model on shared axes)
  and ``figures/learning_curves_<experiment>.png`` (validation and training loss from the
  ``train_log.jsonl`` beside each run's predictions) when predictions stores are given;
- every figure also as SVG beside its PNG;
- ``report.html``: one page with every experiment's leaderboard, verdicts and figures and the
  provenance, to open in a browser (:mod:`efa.report.html`);
- ``metrics.json``: ``{"test": {experiment: {model: {metric: mean}}}, "test_sets": {experiment:
  {model: {test set: {group: {metric: mean}}}}}, "probes": {label: {model:
  {metric: mean}}}, "targets": {"met": K, "total": N}, "scores": {experiment: {model: {"met": K,
  "judged": N}}}, "truncated": [run, …]}`` (nan written as null). It holds quality numbers
  only, so that two runs of one configuration on the same devices can be compared byte for byte
  and ``dvc metrics show`` lists numbers only;
- ``provenance.json`` (:mod:`efa.provenance`): the code, packages and devices of the runs, the
  configuration's hash and the data sets' hashes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import xarray as xr
import yaml

from efa.errors import ConfigError
from efa.names import check_name
from efa.provenance import from_attr, header, software, to_attr
from efa.report.html import report_page
from efa.report.tables import (
    COST_COLUMNS,
    TIMING_METRICS,
    cost_tables,
    curve_columns,
    curve_table,
    probe_metric_tables,
    seed_statistics,
    test_metric_tables,
    test_set_tables,
)
from efa.report.target_spec import TargetSpec
from efa.report.targets import Verdict, counted, evaluate_targets, scores, targets_line
from efa.storage import check_output_path, read_zarr, write_text, write_zarr


def open_store(path: str | os.PathLike, what: str) -> xr.Dataset:
    """Load a complete zarr result store (:func:`efa.storage.read_zarr`); an error names the
    path if it is missing, incomplete or unreadable."""
    return read_zarr(path, what)


def combine_metrics(
    paths: Sequence[str | os.PathLike], stores: Sequence[xr.Dataset] | None = None
) -> xr.Dataset | None:
    """Test-metric stores (dims experiment, model, seed) combined into one (nan where missing)."""
    if not paths:
        return None
    stores = stores or [open_store(path, "test-metric") for path in paths]
    for path, store in zip(paths, stores):
        if set(store.dims) != {"experiment", "model", "seed"}:
            raise ConfigError(
                f"{path}: dims {sorted(store.dims)}; expected experiment, model, seed"
            )
    try:
        combined = xr.combine_by_coords(stores, combine_attrs="drop_conflicts")
    except ValueError as error:
        raise ConfigError(f"--metrics: cannot combine the stores ({error})") from None
    return combined


def combine_test_sets(
    paths: Sequence[str | os.PathLike], stores: Sequence[xr.Dataset]
) -> xr.Dataset | None:
    """Per-run test-set stores (dims experiment, model, seed, test_set, group) combined into one:
    test sets and groups are joined first (nan where a run has no such set or group)."""
    if not stores:
        return None
    expected = {"experiment", "model", "seed", "test_set", "group"}
    for path, store in zip(paths, stores):
        if set(store.dims) != expected:
            raise ConfigError(f"{path}: dims {sorted(store.dims)}; expected {sorted(expected)}")
    aligned = xr.align(*stores, join="outer", exclude=("experiment", "model", "seed"))
    try:
        return xr.combine_by_coords(list(aligned), combine_attrs="drop_conflicts")
    except ValueError as error:
        raise ConfigError(f"--test-sets: cannot combine the stores ({error})") from None


def test_set_json(test_sets: xr.Dataset | None) -> dict:
    """``{experiment: {model: {test set: {group: {metric: seed mean}}}}}`` of the quality
    numbers of every test set and group."""
    out: dict = {}
    if test_sets is None:
        return out
    for experiment in test_sets["experiment"].values:
        for model in test_sets["model"].values:
            for test_set in test_sets["test_set"].values:
                for group in test_sets["group"].values:
                    entry = test_sets.sel(
                        experiment=experiment, model=model, test_set=test_set, group=group
                    )
                    values = {
                        name: _clean(seed_statistics(entry[name].values)[0])
                        for name in test_sets.data_vars
                    }
                    if values.get("num_structures") is None:
                        continue
                    out.setdefault(str(experiment), {}).setdefault(str(model), {}).setdefault(
                        str(test_set), {}
                    )[str(group)] = values
    return out


def _label(store: xr.Dataset) -> str:
    return str(store["probe"].values[0])


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def summary_json(
    metrics: xr.Dataset | None,
    probes: Sequence[xr.Dataset],
    verdicts: Sequence[Verdict],
    test_sets: xr.Dataset | None = None,
) -> dict:
    """The nested ``metrics.json`` mapping (seed means of the quality numbers, the count of met
    targets and each model's score)."""
    test: dict = {}
    if metrics is not None:
        for experiment in metrics["experiment"].values:
            for model in metrics["model"].values:
                values = {
                    name: _clean(
                        seed_statistics(
                            metrics[name].sel(experiment=experiment, model=model).values
                        )[0]
                    )
                    for name in metrics.data_vars
                    if name not in TIMING_METRICS
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
        "test_sets": test_set_json(test_sets),
        "probes": probe_values,
        "targets": {
            "met": sum(v.met for v in counted(verdicts)),
            "total": len(counted(verdicts)),
        },
        "scores": {
            experiment: {
                model: {"met": met, "judged": judged} for model, (met, judged) in by.items()
            }
            for experiment, by in scores(verdicts).items()
        },
        "truncated": truncated_list(metrics, probes),
    }


#: Columns of a curve table that place a point rather than give an energy.
CURVE_AXES = ("point", "coordinate", "separation")


def dvc_plots(curves: dict[str, tuple[str, list[str]]]) -> str:
    """``dvc.yaml`` of the report folder: each probe curve ``{csv path: (label, columns)}`` as a
    DVC plot of its coordinate against the reference and every model's column, so that
    ``dvc plots show`` and ``dvc plots diff`` draw whatever models took part."""
    plots = [
        {
            path: {
                "title": f"probe {label}",
                "template": "simple",
                "x": "coordinate",
                "y": [name for name in columns if name not in CURVE_AXES],
            }
        }
        for path, (label, columns) in curves.items()
    ]
    header = "# Written by efa report: DVC plots of the probe curves of this report.\n"
    return header + yaml.safe_dump({"plots": plots}, sort_keys=False)


def truncated_list(metrics: xr.Dataset | None, probes: Sequence[xr.Dataset]) -> list[str]:
    """``experiment/model/seed<k>`` (or ``probe <label>: model/seed<k>``) of every run whose
    training stopped on its time limit before its step budget."""
    runs = []
    if metrics is not None and "truncated" in metrics:
        flags = metrics["truncated"].stack(run=("experiment", "model", "seed"))
        for position in range(flags.sizes["run"]):
            entry = flags.isel(run=position)
            if entry.item() == 1:
                runs.append(
                    f"{entry['experiment'].item()}/{entry['model'].item()}/seed{int(entry['seed'].item())}"
                )
    for store in probes:
        runs += [f"probe {_label(store)}: {run}" for run in probe_truncated_runs(store)]
    return sorted(runs)


def probe_truncated_runs(store: xr.Dataset) -> list[str]:
    """``model/seed<k>`` of every run of a probe store whose training was truncated."""
    if "truncated" not in store:
        return []
    flags = store["truncated"].isel(probe=0)
    return [
        f"{model}/seed{int(seed)}"
        for model in flags["model"].values
        for seed in flags["seed"].values
        if flags.sel(model=model, seed=seed).item() == 1
    ]


def cost_json(metrics: xr.Dataset | None) -> dict:
    """``{experiment: {model: {seed<k>: {name: value}}}}`` of :data:`COST_COLUMNS` (steps,
    wall_time_s, compile_s, inference_us_per_atom)."""
    cost: dict = {}
    if metrics is None:
        return cost
    names = [name for name in COST_COLUMNS if name in metrics]
    for experiment in metrics["experiment"].values:
        for model in metrics["model"].values:
            for seed in metrics["seed"].values:
                entry = metrics.sel(experiment=experiment, model=model, seed=seed)
                values = {name: _clean(float(entry[name].item())) for name in names}
                if any(value is not None for value in values.values()):
                    cost.setdefault(str(experiment), {}).setdefault(str(model), {})[
                        f"seed{int(seed)}"
                    ] = values
    return cost


def report_provenance(
    metric_stores: Sequence[xr.Dataset], probes: Sequence[xr.Dataset], config_sha256: str | None
) -> dict:
    """Provenance of the report: this code and environment, the devices the runs used, the
    configuration's hash and every data set's content hash (from the stores' provenance; a list
    of hashes where the runs of one report were trained or probed on different contents)."""
    recorded = [from_attr(store.attrs.get("provenance")) for store in (*metric_stores, *probes)]
    recorded = [entry for entry in recorded if entry]
    devices = []
    for entry in recorded:
        if entry.get("devices") and entry["devices"] not in devices:
            devices.append(entry["devices"])
    digests: dict[str, list[str]] = {}
    for entry in recorded:
        for name, digest in entry.get("datasets", {}).items():
            if digest not in digests.setdefault(name, []):
                digests[name].append(digest)
    # one hash per data set; a list where runs of one report saw different contents
    datasets = {
        name: found[0] if len(found) == 1 else sorted(found) for name, found in digests.items()
    }
    return {
        **software(),
        "devices": devices[0] if len(devices) == 1 else devices,  # a list where runs differ
        "config_sha256": config_sha256,
        "datasets": dict(sorted(datasets.items())),
    }


def open_predictions(paths: Sequence[str | os.PathLike]) -> list[tuple[Path, xr.Dataset]]:
    """The test-prediction stores of ``paths`` (written by ``efa evaluate``), each checked to
    name its experiment and model with valid names (they become file names of figures)."""
    opened = []
    for path in paths:
        store = open_store(path, "predictions")
        missing = [key for key in ("experiment", "model") if key not in store.attrs]
        if missing:
            raise ConfigError(
                f"--predictions {path}: the store has no {missing[0]!r} attribute; expected a "
                "predictions_test.zarr written by 'efa evaluate' (rerun it)"
            )
        check_name("experiment", store.attrs["experiment"], f"--predictions {path}")
        check_name("model label", store.attrs["model"], f"--predictions {path}")
        opened.append((Path(path), store))
    return opened


def open_probe(path: str | os.PathLike) -> xr.Dataset:
    """A probe store (written by ``efa probe``), checked to be one and to carry a valid label
    (it becomes the name of the probe's tables and figure)."""
    store = open_store(path, "probe")
    if "probe" not in store.dims or "kind" not in store.attrs:
        raise ConfigError(
            f"--probes {path}: not a probe store (no 'probe' dimension or 'kind' attribute); "
            "expected a store written by 'efa probe'"
        )
    check_name("probe label", _label(store), f"--probes {path}")
    return store


def run_figures(
    predictions: Sequence[tuple[Path, xr.Dataset]],
    families: dict[tuple[str, str], str],
    output: Path,
) -> list[Path]:
    """Parity plots and learning curves per experiment from the runs' test predictions
    (:func:`open_predictions`) and the ``train_log.jsonl`` in each store's run directory (runs
    without one, such as calculators, have no learning curve)."""
    from efa.report.figures import learning_curve_figure, parity_figure, save_figure
    from efa.runs.layout import RunPaths
    from efa.train.log import TrainingLog

    by_experiment: dict[str, dict[str, list[xr.Dataset]]] = {}
    logs: dict[str, dict[str, list[list[dict]]]] = {}
    for path, store in predictions:
        experiment, model = store.attrs["experiment"], store.attrs["model"]
        by_experiment.setdefault(experiment, {}).setdefault(model, []).append(store)
        records = TrainingLog(RunPaths(path.parent).log).records()
        if records:
            logs.setdefault(experiment, {}).setdefault(model, []).append(records)
    written = []
    for experiment, by_model in sorted(by_experiment.items()):
        family_of = {model: families.get((experiment, model), "") for model in by_model}
        figure = parity_figure(experiment, by_model, family_of)
        written += save_figure(figure, output / f"figures/parity_{experiment}.png")
        figure = learning_curve_figure(experiment, logs.get(experiment, {}), family_of)
        if figure is not None:
            written += save_figure(figure, output / f"figures/learning_curves_{experiment}.png")
    return written


def build_report(
    metrics_paths: Sequence[str | os.PathLike],
    probe_paths: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    combined_metrics: str | os.PathLike | None = None,
    config_sha256: str | None = None,
    test_set_paths: Sequence[str | os.PathLike] = (),
    prediction_paths: Sequence[str | os.PathLike] = (),
    targets: Sequence[TargetSpec] = (),
) -> tuple[list[Verdict], list[Path], dict]:
    """Write every report output (module docstring); return the verdicts of the declared
    ``targets``, the written paths and the provenance."""
    from efa.report.figures import depth_figure, leaderboard_figure, probe_figure, save_figure
    from efa.report.leaderboard import (
        leaderboard_tables,
        model_capabilities,
        model_cards,
        model_families,
    )

    output = Path(output_dir)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output-dir {output}: is a file; expected a folder")
    if combined_metrics is not None:
        check_output_path(combined_metrics, folder=True)
    metric_stores = [open_store(path, "test-metric") for path in metrics_paths]
    metrics = combine_metrics(metrics_paths, metric_stores)
    test_sets = combine_test_sets(
        test_set_paths, [open_store(path, "test-set") for path in test_set_paths]
    )
    probes = [open_probe(path) for path in probe_paths]
    predictions = open_predictions(prediction_paths)
    provenance = report_provenance(metric_stores, probes, config_sha256)
    labels = [_label(store) for store in probes]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(
            f"--probes: probe {duplicates[0]!r} appears in more than one store; "
            "give each a distinct 'efa probe --label'"
        )
    written: list[Path] = []
    sections = []

    def text(content: str, name: str) -> None:
        written.append(write_text(content, output / name))

    if metrics is not None:
        markdown, table = test_metric_tables(metrics)
        text(markdown, "tables/test_metrics.md")
        text(table, "tables/test_metrics.csv")
        sections.append(("Test metrics (mean ± std over seeds)", markdown))
        costs = cost_tables(metrics)
        if costs is not None:
            text(costs[0], "tables/cost.md")
            text(costs[1], "tables/cost.csv")
        if combined_metrics is not None:
            metrics.attrs["provenance"] = to_attr(provenance)
            written.append(write_zarr(metrics, combined_metrics))
        if test_sets is not None:
            markdown, table = test_set_tables(test_sets)
            text(markdown, "tables/test_sets.md")
            text(table, "tables/test_sets.csv")
            sections.append(
                ("Test metrics per test set and group (mean ± std over seeds)", markdown)
            )
        figure = depth_figure(metrics)
        if figure is not None:
            written += save_figure(figure, output / "figures/force_error_vs_depth.png")
    if predictions:
        written += run_figures(predictions, model_families(metric_stores), output)
    curves: dict[str, tuple[str, list[str]]] = {}
    for label, store in zip(labels, probes):
        markdown, table = probe_metric_tables(store)
        text(markdown, f"tables/probe_{label}.md")
        text(table, f"tables/probe_{label}.csv")
        curve = curve_table(store)
        if curve is not None:
            text(curve, f"tables/curve_{label}.csv")
            curves[f"tables/curve_{label}.csv"] = (label, curve_columns(store))
        sections.append(
            (
                f"Probe {label} ({store.attrs['kind']}; "
                f"reference {store.attrs.get('reference', '')})",
                markdown,
            )
        )
        written += save_figure(probe_figure(store), output / f"figures/{label}.png")

    verdicts = evaluate_targets(targets, probes, metrics, model_families(metric_stores))
    boards_by_experiment = {}
    if metrics is not None:
        boards = leaderboard_tables(
            metrics,
            probes,
            model_cards(metric_stores),
            test_sets,
            verdicts,
            model_capabilities(metric_stores),
        )
        for experiment, (markdown, table, (columns, rows)) in boards.items():
            text(markdown, f"tables/leaderboard_{experiment}.md")
            text(table, f"tables/leaderboard_{experiment}.csv")
            sections.append((f"Leaderboard {experiment}", markdown))
            boards_by_experiment[experiment] = (columns, rows)
            if rows:
                families = {
                    model: family
                    for (name, model), family in model_families(metric_stores).items()
                    if name == experiment
                }
                written += save_figure(
                    leaderboard_figure(experiment, columns, rows, families),
                    output / f"figures/leaderboard_{experiment}.png",
                )

    target_text = targets_text(verdicts)
    text(target_text, "tables/targets.md")
    sections.append(("Quality targets", target_text))
    text(
        json.dumps([verdict_json(v) for v in verdicts], indent=2, allow_nan=False) + "\n",
        "targets.json",
    )
    text(
        report_page(
            output,
            boards_by_experiment,
            verdicts,
            figures_by_experiment(written, output, probes, boards_by_experiment),
            provenance,
        ),
        "report.html",
    )
    sections.insert(0, ("Provenance", header(provenance) + "\n"))
    text("\n".join(f"## {title}\n\n{body}" for title, body in sections), "tables/summary.md")
    summary = summary_json(metrics, probes, verdicts, test_sets)
    text(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n", "metrics.json")
    text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", "provenance.json")
    text(dvc_plots(curves), "dvc.yaml")
    text(json.dumps(cost_json(metrics), indent=2, sort_keys=True) + "\n", "cost.json")
    return verdicts, written, provenance


def figures_by_experiment(
    written: Sequence[Path],
    output: Path,
    probes: Sequence[xr.Dataset],
    experiments: Sequence[str],
) -> dict[str, list[Path]]:
    """The PNG figures among ``written`` by experiment: its parity plot, learning curves and
    leaderboard plot, and the figure of every probe store that evaluated its models; the others
    (force error against depth) under ``""``."""
    by_probe = {f"{_label(store)}.png": store.attrs.get("experiments", []) for store in probes}
    grouped: dict[str, list[Path]] = {}
    for path in written:
        if path.suffix != ".png" or path.parent != output / "figures":
            continue
        owners = (
            [
                experiment
                for experiment in experiments
                if path.name
                in {
                    f"{kind}_{experiment}.png"
                    for kind in ("parity", "learning_curves", "leaderboard")
                }
            ]
            or [str(e) for e in by_probe.get(path.name, [])]
            or [""]
        )
        for owner in owners:
            grouped.setdefault(owner, []).append(path)
    return grouped


def targets_text(verdicts: Sequence[Verdict], bullet: str = "- ") -> str:
    """Every verdict as a list item (``bullet`` first), then ``targets met: K/N`` (targets on
    families, labels, ratios and the suite) and each model's score (targets on all models)."""
    lines = [f"{bullet}{verdict.line()}" for verdict in verdicts]
    lines += ["", targets_line([v.met and not v.truncated for v in counted(verdicts)])]
    for experiment, by_model in sorted(scores(verdicts).items()):
        ranked = sorted(by_model.items(), key=lambda item: (-item[1][0] / item[1][1], item[0]))
        lines.append(
            f"scores {experiment}: "
            + ", ".join(f"{model} {met}/{judged}" for model, (met, judged) in ranked)
        )
    return "\n".join(lines) + "\n"


def verdict_json(verdict: Verdict) -> dict:
    """One verdict for ``targets.json``: the declaration, the model, the value and the status."""
    return {
        **verdict.spec.to_mapping(),
        "model": verdict.model,
        "value": _clean(verdict.value),
        "status": verdict.status,
        "met": bool(verdict.met and not verdict.truncated and verdict.applicable),
        "detail": verdict.detail,
        "reason": verdict.reason,
        "truncated": list(verdict.truncated),
    }
