"""One leaderboard per experiment: every model's test errors, probe metrics and model card.

A row per model of the experiment, whatever its kind (built-in, own Flax module, calculator):

- test errors (seed means of ``energy_mae``, ``energy_rmse``, ``forces_mae``, ``forces_rmse``);
- on a data set with several test sets or group labels, ``energy_mae`` and ``forces_mae`` of
  each further test set and group, as ``<test set>/<group>:<metric>``;
- every metric of every probe that evaluated the experiment's runs, as ``<probe>:<metric>``;
- ``num_parameters``, training ``steps`` and ``truncated`` (runs stopped by their time limit);
- the model card: ``source``, ``version``, ``license``, ``training_data``, ``level_of_theory``,
  and its capability flags: ``receptive_field``, ``charge``, ``spin``, ``periodic``,
  ``stress``, ``elements``, ``energy`` (:mod:`efa.runs.capabilities`);
- ``score`` (targets met of those judged) and a column per declared target on ``all`` models
  (``met``, ``NOT met`` with the value, or ``n/a`` with the reason; :mod:`efa.report.targets`).

Rows are ranked by score (fraction of the judged targets met, then the number met), then by
test energy MAE, then by label.

The CSV holds every column; the markdown table, for reading at a glance, the rank and the
columns of :data:`AT_A_GLANCE` with their units (``–`` where a model has no value), and a line
naming the CSV for the rest.

What the models cost (training time, inference µs/atom) varies between runs and is in the cost
table (:func:`efa.report.tables.cost_tables`), not here, so that the leaderboard of one
configuration is the same byte for byte on every rerun.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from efa.report.tables import csv_table, markdown_table, seed_statistics, truncated_text
from efa.report.targets import Verdict
from efa.runs.capabilities import CAPABILITY_COLUMNS
from efa.runs.card import CARD_KEYS

#: Test metrics on the leaderboard, in this order.
LEADERBOARD_TEST_METRICS = ("energy_mae", "energy_rmse", "forces_mae", "forces_rmse")
#: Metrics shown for each further test set and group.
LEADERBOARD_SET_METRICS = ("energy_mae", "forces_mae")
#: Columns of the markdown leaderboard, with their headings.
AT_A_GLANCE = {
    "model": "model",
    "score": "targets met",
    "energy_mae": "energy MAE (eV)",
    "energy_rmse": "energy RMSE (eV)",
    "forces_mae": "force MAE (eV/Å)",
    "forces_rmse": "force RMSE (eV/Å)",
    "num_parameters": "parameters",
    "receptive_field": "receptive field",
    "truncated": "truncated",
}
#: A missing value in the markdown tables.
MISSING = "–"


def model_cards(metric_stores: Sequence[xr.Dataset]) -> dict[tuple[str, str], dict[str, str]]:
    """``(experiment, model) → card`` from the ``card`` attribute of per-run metric stores."""
    cards: dict[tuple[str, str], dict[str, str]] = {}
    for store in metric_stores:
        if "card" not in store.attrs:
            continue
        key = (str(store["experiment"].values[0]), str(store["model"].values[0]))
        cards.setdefault(key, json.loads(store.attrs["card"]))
    return cards


def model_capabilities(
    metric_stores: Sequence[xr.Dataset],
) -> dict[tuple[str, str], dict[str, str]]:
    """``(experiment, model) → capability cells`` from the ``capabilities`` attribute of
    per-run metric stores (:mod:`efa.runs.capabilities`)."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for store in metric_stores:
        if "capabilities" in store.attrs:
            key = (str(store["experiment"].values[0]), str(store["model"].values[0]))
            found.setdefault(key, json.loads(store.attrs["capabilities"]))
    return found


def model_families(metric_stores: Sequence[xr.Dataset]) -> dict[tuple[str, str], str]:
    """``(experiment, model) → family`` (``local``, ``efa``, ``external``) from the ``family``
    attribute of per-run metric stores."""
    return {
        (str(store["experiment"].values[0]), str(store["model"].values[0])): store.attrs["family"]
        for store in metric_stores
        if "family" in store.attrs
    }


def _probe_columns(
    probes: Sequence[xr.Dataset], experiment: str
) -> list[tuple[str, xr.Dataset, str]]:
    """``(column name, store, metric)`` of every probe metric of ``experiment``'s runs."""
    columns = []
    for store in probes:
        if experiment not in store.attrs.get("experiments", []):
            continue
        label = str(store["probe"].values[0])
        columns += [(f"{label}:{metric}", store, metric) for metric in store.attrs["metrics"]]
    return columns


def _mean(values: np.ndarray) -> float:
    return seed_statistics(values)[0]


def _set_columns(test_sets: xr.Dataset | None, experiment: str) -> list[tuple[str, str, str, str]]:
    """``(column name, test set, group, metric)`` of every test set and group of
    ``experiment`` other than the whole ``test`` set (which the test columns show)."""
    if test_sets is None or experiment not in test_sets["experiment"].values:
        return []
    counts = test_sets["num_structures"].sel(experiment=experiment)
    columns = []
    for test_set in test_sets["test_set"].values:
        for group in test_sets["group"].values:
            if (test_set, group) == ("test", "all"):
                continue
            if not np.any(np.isfinite(counts.sel(test_set=test_set, group=group).values)):
                continue
            columns += [
                (f"{test_set}/{group}:{metric}", test_set, group, metric)
                for metric in LEADERBOARD_SET_METRICS
            ]
    return columns


def leaderboard(
    metrics: xr.Dataset,
    probes: Sequence[xr.Dataset],
    cards: Mapping[tuple[str, str], Mapping[str, str]],
    experiment: str,
    test_sets: xr.Dataset | None = None,
    verdicts: Sequence[Verdict] = (),
    capabilities: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
) -> tuple[list[str], list[list[object]]]:
    """Header and rows (one per model with test metrics) of ``experiment``'s leaderboard,
    ranked by score (module docstring)."""
    judged = [v for v in verdicts if v.model is not None and experiment in v.experiments]
    target_names = list(dict.fromkeys(v.spec.name for v in judged))
    cells = {(v.spec.name, v.model): v for v in judged}
    specs = {v.spec.name: v.spec for v in judged}
    probe_columns = _probe_columns(probes, experiment)
    set_columns = _set_columns(test_sets, experiment)
    test = [name for name in LEADERBOARD_TEST_METRICS if name in metrics]
    header = [
        "model",
        *(["score"] if target_names else []),
        *test,
        *(name for name, *_ in set_columns),
        *(name for name, _, _ in probe_columns),
        "num_parameters",
        "steps",
        "truncated",
        *(key for key in CARD_KEYS if key != "name"),
        *CAPABILITY_COLUMNS,
        # a target column names its test, so it differs from the metric's own column
        *(f"{name} {specs[name].compare} {specs[name].bound:g}" for name in target_names),
    ]
    rows, ranks = [], []
    for model in metrics["model"].values:
        entry = metrics.sel(experiment=experiment, model=model)
        if not np.any(np.isfinite(entry[test[0]].values)):
            continue  # a model of another experiment
        row: list[object] = [str(model)]
        own = [cells[(name, str(model))] for name in target_names if (name, str(model)) in cells]
        applicable = [v for v in own if v.applicable]
        met = sum(v.met for v in applicable)
        if target_names:
            row.append(f"{met}/{len(applicable)}")
        errors = [_mean(entry[name].values) for name in test]
        tie = errors[0] if math.isfinite(errors[0]) else math.inf
        ranks.append((-(met / len(applicable)) if applicable else 1.0, -met, tie, str(model)))
        row += errors
        for _, test_set, group, metric in set_columns:
            present = str(model) in test_sets["model"].values
            row.append(
                _mean(
                    test_sets[metric]
                    .sel(experiment=experiment, model=model, test_set=test_set, group=group)
                    .values
                )
                if present
                else float("nan")
            )
        for _, store, metric in probe_columns:
            row.append(_probe_cell(store.isel(probe=0), str(model), metric))
        row += [
            _mean(entry[name].values) if name in entry else float("nan")
            for name in ("num_parameters", "steps")
        ]
        row.append(truncated_text(entry["truncated"].values) if "truncated" in entry else "no")
        card = cards.get((experiment, str(model)), {})
        row += [card.get(key, "") for key in CARD_KEYS if key != "name"]
        flags = (capabilities or {}).get((experiment, str(model)), {})
        row += [flags.get(key, "") for key in CAPABILITY_COLUMNS]
        row += [
            cells[(name, str(model))].cell() if (name, str(model)) in cells else "n/a: not run"
            for name in target_names
        ]
        rows.append(row)
    order = sorted(range(len(rows)), key=lambda index: ranks[index])
    return header, [rows[index] for index in order]


def _probe_cell(probe: xr.Dataset, model: str, metric: str) -> object:
    """A model's seed-mean probe metric, ``n/a`` where the store records that the model cannot
    take it, nan where the model was not probed."""
    if model not in probe["model"].values:
        return float("nan")
    if "not_applicable" in probe and metric in probe["metric_name"].values:
        if str(probe["not_applicable"].sel(model=model, metric_name=metric).item()):
            return "n/a"
    return _mean(probe[metric].sel(model=model).values)


def leaderboard_tables(
    metrics: xr.Dataset,
    probes: Sequence[xr.Dataset],
    cards: Mapping[tuple[str, str], Mapping[str, str]],
    test_sets: xr.Dataset | None = None,
    verdicts: Sequence[Verdict] = (),
    capabilities: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
) -> dict[str, tuple[str, str, tuple[list[str], list[list[object]]]]]:
    """``experiment → (markdown, csv, (header, rows))`` for every experiment of ``metrics``."""
    tables = {}
    for experiment in metrics["experiment"].values:
        header, rows = leaderboard(
            metrics, probes, cards, str(experiment), test_sets, verdicts, capabilities
        )
        tables[str(experiment)] = (
            glance_table(header, rows, f"leaderboard_{experiment}.csv"),
            csv_table(header, rows),
            (header, rows),
        )
    return tables


def glance_table(header: Sequence[str], rows: Sequence[Sequence[object]], csv_name: str) -> str:
    """The markdown leaderboard: rank and the :data:`AT_A_GLANCE` columns of ``header``, numbers
    to three significant digits (parameters as integers), then a line naming ``csv_name``."""
    columns = [header.index(name) for name in AT_A_GLANCE if name in header]
    shown = [
        [str(rank), *(_glance_cell(header[i], row[i]) for i in columns)]
        for rank, row in enumerate(rows, start=1)
    ]
    table = markdown_table(["rank", *(AT_A_GLANCE[header[i]] for i in columns)], shown)
    rest = len(header) - len(columns)
    return table + (
        f"\n{rest} more columns (probe metrics, test sets and groups, model card, capabilities, "
        f"each target's verdict) are in `{csv_name}`.\n"
    )


def _glance_cell(name: str, cell: object) -> str:
    if isinstance(cell, float):
        if not math.isfinite(cell):
            return MISSING
        return f"{cell:.0f}" if name == "num_parameters" else f"{cell:.3g}"
    return str(cell) if cell != "" else MISSING
