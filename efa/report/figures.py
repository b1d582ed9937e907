"""The paper's figures from the result stores (matplotlib, PNG).

Curve figures put one panel per model side by side, each with the reference curve (black) and the
model's prediction (seed mean, with a ±1 std band when several seeds exist); axes carry units.

- dissociation (two atoms, SN2, pull-apart): energy along the scan (top) and the absolute energy
  error on a log scale (bottom), with the model's cutoff marked when the coordinate is a distance;
- torsion: energy relative to each curve's minimum, so barrier heights read off directly;
- charge transfer: predicted vs reference change of the far-end force components on protonation;
- reach: ``E − E(far)`` on a symmetric-log axis against the fragment gap, with each model's
  declared receptive field (``T·r_c`` of local models) marked;
- size scan: per-atom energy MAE against the number of atoms;
- physics checks: the worst case of every model per check (a log axis where the values span
  more than :data:`LOG_AXIS_RANGE`), ``n/a`` where a model cannot take the check;
- depth: test force error against message-passing depth ``T`` (from model labels ``<name>_T<k>``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from efa.probes.kinds import ProbeKind  # noqa: E402
from efa.report.tables import seed_statistics  # noqa: E402
from efa.storage import atomic_path  # noqa: E402

REFERENCE_STYLE = {"color": "black", "linewidth": 2.0, "label": "reference"}
FAMILY_COLOURS = {"local": "tab:red", "efa": "tab:blue", "external": "tab:green"}
#: The ratio of the largest to the smallest positive value above which a value axis is
#: logarithmic; over a narrower range a log axis only hides the differences.
LOG_AXIS_RANGE = 10.0
#: Model labels that carry a message-passing depth, e.g. ``local_T3``.
DEPTH_LABEL = re.compile(r"^(?P<family>.+)_T(?P<depth>\d+)$")


def save_figure(figure, path: str | os.PathLike) -> list[Path]:
    """Write ``figure`` as PNG at ``path`` and as SVG beside it (vector, for papers), each
    atomically, and close it; returns both paths."""
    written = []
    for target, kind in ((Path(path), "png"), (Path(path).with_suffix(".svg"), "svg")):
        with atomic_path(target) as temporary:
            figure.savefig(temporary, format=kind, dpi=120, bbox_inches="tight")
        written.append(target)
    plt.close(figure)
    return written


def _set_value_scale(axis, values) -> None:
    """A log y axis where the positive finite ``values`` span more than :data:`LOG_AXIS_RANGE`,
    a linear one otherwise."""
    positive = [float(v) for v in values if np.isfinite(v) and v > 0]
    if positive and max(positive) / min(positive) > LOG_AXIS_RANGE:
        axis.set_yscale("log")


def _coordinate_label(probe: xr.Dataset) -> str:
    coordinate = probe["coordinate"]
    return (
        f"{coordinate.attrs.get('long_name', 'coordinate')} ({coordinate.attrs.get('units', '1')})"
    )


def _seed_band(values: xr.DataArray) -> tuple[np.ndarray, np.ndarray, int]:
    """Seed mean, std and number of seeds with data of a (seed, point) array."""
    present = int(np.any(np.isfinite(values.values), axis=-1).sum())
    return values.mean("seed", skipna=True).values, values.std("seed", skipna=True).values, present


def _plot_model(axis, x, values: xr.DataArray, colour: str, label: str) -> None:
    mean, std, seeds = _seed_band(values)
    axis.plot(x, mean, color=colour, linewidth=1.6, label=f"{label} (n={seeds})")
    if seeds > 1:
        axis.fill_between(x, mean - std, mean + std, color=colour, alpha=0.25, linewidth=0)


def _panels(count: int, rows: int = 1, height: float = 3.6):
    figure, axes = plt.subplots(
        rows,
        count,
        figsize=(4.8 * count, height * rows),
        squeeze=False,
        sharex="col",
        layout="constrained",
    )
    return figure, axes


def _model_title(probe: xr.Dataset, model: str) -> str:
    family = str(probe["family"].sel(model=model).item())
    reach = float(probe["receptive_field"].sel(model=model).item())
    reach_text = "" if not np.isfinite(reach) else f", receptive field {reach:g} Å"
    return f"{model} ({family}{reach_text})"


def curve_figure(store: xr.Dataset) -> plt.Figure:
    """Figure of a dissociation, torsion or reach probe store (see the module docstring)."""
    probe = store.isel(probe=0)
    kind = store.attrs["kind"]
    models = [str(model) for model in probe["model"].values]
    x = probe["coordinate"].values
    order = np.argsort(x)
    reference = probe["energy_reference"].values
    is_distance = (
        probe["coordinate"].attrs.get("units") == "Å"
        and "separation" in probe
        and np.allclose(probe["separation"].values, x)
    )
    aligned = "shifted" in store.attrs.get("level_of_theory", "")
    rows = 2 if kind == ProbeKind.DISSOCIATION else 1
    figure, axes = _panels(len(models), rows)
    for column, model in enumerate(models):
        predicted = probe["energy_predicted"].sel(model=model)
        colour = FAMILY_COLOURS.get(str(probe["family"].sel(model=model).item()), "tab:gray")
        axis = axes[0, column]
        if kind == ProbeKind.TORSION:
            shown_reference = reference - reference.min()
            shown = predicted - predicted.min("point")
            axis.set_ylabel("E − min E (eV)")
        elif kind == ProbeKind.VACUUM:
            shown_reference = reference - reference[0]
            shown = predicted - predicted.isel(point=0)
            axis.set_ylabel("E − E(no vacuum) (eV)")
        elif kind == ProbeKind.REACH:
            far = int(np.argmax(probe["separation"].values))
            shown_reference = reference - reference[far]
            shown = predicted - predicted.isel(point=far)
            axis.set_yscale("symlog", linthresh=1e-3)
            axis.set_ylabel("E − E(largest gap) (eV)")
        elif aligned:
            shown_reference = reference
            shown = predicted - (predicted - reference).mean("point")
            axis.set_ylabel("energy, offset-aligned (eV)")
        else:
            shown_reference, shown = reference, predicted
            axis.set_ylabel("energy (eV)")
        axis.plot(x[order], shown_reference[order], **REFERENCE_STYLE)
        _plot_model(axis, x[order], shown.isel(point=order), colour, model)
        axis.set_title(_model_title(probe, model), fontsize=10)
        cutoff = float(probe["cutoff"].sel(model=model).item())
        reach = float(probe["receptive_field"].sel(model=model).item())
        if (is_distance or kind == ProbeKind.REACH) and np.isfinite(cutoff):
            axis.axvline(cutoff, color="gray", linestyle=":", label=f"cutoff {cutoff:g} Å")
        if kind in (ProbeKind.REACH, ProbeKind.VACUUM) and np.isfinite(reach):
            axis.axvline(reach, color="gray", linestyle="--", label=f"receptive field {reach:g} Å")
        if kind == ProbeKind.DISSOCIATION:
            error = np.abs(predicted - reference)
            if aligned:
                error = np.abs(shown - reference)
            lower = axes[1, column]
            _plot_model(lower, x[order], error.isel(point=order), colour, model)
            lower.set_yscale("log")
            lower.set_ylabel("|E − E_ref| (eV)")
            lower.set_xlabel(_coordinate_label(probe))
            if is_distance and np.isfinite(cutoff):
                lower.axvline(cutoff, color="gray", linestyle=":")
        else:
            axis.set_xlabel(_coordinate_label(probe))
        axis.legend(fontsize=8)
    figure.suptitle(
        f"{probe['probe'].item()}: reference {store.attrs.get('reference', '')} "
        f"({store.attrs.get('level_of_theory', '')})",
        fontsize=11,
    )
    return figure


def charge_transfer_figure(store: xr.Dataset) -> plt.Figure:
    """Predicted vs reference far-end force change on protonation, one panel per model."""
    from efa.probes.references import charge_transfer_pairs, pair_changes

    probe = store.isel(probe=0)
    options = json.loads(store.attrs["options"])
    pairs = xr.Dataset(
        {
            "pair": ("structure", probe["coordinate"].values.astype(int)),
            "total_charge": ("structure", probe["total_charge"].values),
        }
    )
    neutral, cation = charge_transfer_pairs(pairs, store.attrs.get("reference", "store"))
    reference = pair_changes(
        probe["energy_reference"].values,
        probe["forces_reference"].values,
        neutral,
        cation,
        options["far_atoms"],
    )[1].ravel()
    models = [str(model) for model in probe["model"].values]
    figure, axes = _panels(len(models), height=4.2)
    limit = 1.1 * max(np.abs(reference).max(), 1e-3)
    for column, model in enumerate(models):
        axis = axes[0, column]
        colour = FAMILY_COLOURS.get(str(probe["family"].sel(model=model).item()), "tab:gray")
        for seed in probe["seed"].values:
            predicted = probe["forces_predicted"].sel(model=model, seed=seed).values
            if not np.all(np.isfinite(predicted)):
                continue
            change = pair_changes(
                probe["energy_predicted"].sel(model=model, seed=seed).values,
                predicted,
                neutral,
                cation,
                options["far_atoms"],
            )[1].ravel()
            axis.scatter(reference, change, s=12, color=colour, alpha=0.7, label=f"seed {seed}")
            limit = max(limit, 1.1 * np.abs(change).max())
        error = float(probe["far_force_change_relative_error"].sel(model=model).mean().item())
        axis.plot(
            [-limit, limit], [-limit, limit], **{**REFERENCE_STYLE, "label": "ideal (= reference)"}
        )
        axis.axhline(0.0, color="gray", linestyle=":", label="no change")
        axis.set_xlim(-limit, limit)
        axis.set_ylim(-limit, limit)
        axis.set_xlabel("reference far-end ΔF (eV/Å)")
        axis.set_ylabel("predicted far-end ΔF (eV/Å)")
        axis.set_title(f"{_model_title(probe, model)}\nrelative error {error:.2f}", fontsize=10)
        axis.legend(fontsize=8)
    figure.suptitle(
        f"{probe['probe'].item()}: far-end force change C10H2 → C10H3+ "
        f"(atoms {options['far_atoms']})",
        fontsize=11,
    )
    return figure


def size_scan_figure(store: xr.Dataset) -> plt.Figure:
    """Per-atom energy MAE against the number of atoms, one line per model."""
    probe = store.isel(probe=0)
    figure, axes = _panels(1, height=4.0)
    axis = axes[0, 0]
    x = probe["coordinate"].values
    for model in probe["model"].values:
        colour = FAMILY_COLOURS.get(str(probe["family"].sel(model=model).item()), None)
        values = probe["energy_mae_per_atom"].sel(model=model)
        mean, std, _ = _seed_band(values)
        axis.errorbar(x, mean, yerr=std, marker="o", capsize=3, color=colour, label=str(model))
    axis.set_xscale("log")
    axis.set_xlabel("number of atoms N")
    axis.set_ylabel("energy MAE per atom (eV/atom)")
    axis.set_title(f"{probe['probe'].item()}: per-atom error vs size", fontsize=11)
    axis.legend(fontsize=8)
    return figure


def finite_size_figure(store: xr.Dataset) -> plt.Figure:
    """A paired energy difference (a charged vacancy's energy, a cut-out's energy per ion pair)
    against size: the reference and every model (seed mean ± std) on shared axes."""
    probe = store.isel(probe=0)
    figure, axes = _panels(1, height=4.0)
    axis = axes[0, 0]
    sizes = probe["size"].values
    axis.plot(sizes, probe["difference_reference"].values, **REFERENCE_STYLE)
    for model in probe["model"].values:
        colour = FAMILY_COLOURS.get(str(probe["family"].sel(model=model).item()), None)
        mean, std, _ = _seed_band(probe["difference_predicted"].sel(model=model))
        axis.errorbar(
            sizes,
            mean,
            yerr=std,
            marker="o",
            capsize=3,
            color=colour,
            label=_model_title(probe, str(model)),
        )
    axis.set_xlabel(_coordinate_label(probe))
    axis.set_ylabel(store.attrs.get("difference_name", "energy difference (eV)"))
    axis.set_title(
        f"{probe['probe'].item()}: reference {store.attrs.get('reference', '')}", fontsize=11
    )
    axis.legend(fontsize=8)
    return figure


def far_fragment_figure(store: xr.Dataset) -> plt.Figure:
    """Force change on the molecule against the far atom's distance, one panel per far-atom
    group (charged ion, neutral atom): the reference and every model on shared axes."""
    probe = store.isel(probe=0)
    groups = [str(group) for group in probe["fragment"].values]
    figure, axes = _panels(len(groups), height=4.0)
    distance = probe["distance"].values
    for column, group in enumerate(groups):
        axis = axes[0, column]
        axis.plot(
            distance, probe["response_reference"].sel(fragment=group).values, **REFERENCE_STYLE
        )
        for model in probe["model"].values:
            colour = FAMILY_COLOURS.get(str(probe["family"].sel(model=model).item()), None)
            _plot_model(
                axis,
                distance,
                probe["response_predicted"].sel(model=model, fragment=group),
                colour,
                _model_title(probe, str(model)),
            )
        axis.set_xlabel("distance of the far atom (Å)")
        axis.set_ylabel("force change on the molecule (eV/Å)")
        axis.set_title(f"{group} far atom", fontsize=10)
        axis.legend(fontsize=8)
    if len(groups) > 1:
        for axis in axes[0, 1:]:
            axis.sharey(axes[0, 0])
    figure.suptitle(
        f"{probe['probe'].item()}: response to a far atom, against its farthest position",
        fontsize=11,
    )
    return figure


def dynamics_figure(store: xr.Dataset) -> plt.Figure:
    """Total-energy deviation per atom against time of every NVE trajectory: the reference
    (black) and every model (seed 0 of each), one thin line per trajectory; a line ends where
    its trajectory failed."""
    probe = store.isel(probe=0)
    figure, axes = _panels(1, height=4.0)
    axis = axes[0, 0]
    time = probe["coordinate"].values
    reference = probe["energy_deviation_reference"].values
    for index, values in enumerate(reference):
        if np.isfinite(values).any():
            axis.plot(
                time, values, color="black", linewidth=1.0, label="reference" if not index else None
            )
    for model in probe["model"].values:
        colour = FAMILY_COLOURS.get(str(probe["family"].sel(model=model).item()), None)
        runs = probe["energy_deviation"].sel(model=model).isel(seed=0).values
        for index, values in enumerate(runs):
            axis.plot(
                time,
                values,
                color=colour,
                linewidth=1.0,
                alpha=0.8,
                label=_model_title(probe, str(model)) if not index else None,
            )
    axis.set_xlabel("time (ps)")
    axis.set_ylabel("E_tot(t) − E_tot(0) per atom (eV/atom)")
    axis.set_title(
        f"{probe['probe'].item()}: NVE energy conservation, {store.attrs.get('reference', '')}",
        fontsize=11,
    )
    axis.legend(fontsize=8)
    return figure


def physics_figure(store: xr.Dataset) -> plt.Figure:
    """The physics checks: one panel per check, the worst case of every model (seed-max, one
    marker per model, one colour per model) on a log axis where the values span more than
    :data:`LOG_AXIS_RANGE`; an exact zero is written as ``0`` and a model that cannot take a
    check as ``n/a`` in its place."""
    probe = store.isel(probe=0)
    names = list(store.attrs["metrics"])
    columns = 5
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.3 * columns, 2.9 * rows), squeeze=False, layout="constrained"
    )
    models = [str(model) for model in probe["model"].values]
    colours = _model_colours(
        models, {model: str(probe["family"].sel(model=model).item()) for model in models}
    )
    for axis, name in zip(axes.flat, names):
        values = probe[name].max("seed", skipna=True).values
        reasons = probe["not_applicable"].sel(metric_name=name).values
        for position, (model, value, reason) in enumerate(zip(models, values, reasons)):
            colour = colours[model]
            text = "n/a" if str(reason) else "0" if value == 0 else None
            if text is not None:  # a log axis has no place for exact zeros
                axis.annotate(
                    text,
                    (position, 0.08),
                    xycoords=("data", "axes fraction"),
                    ha="center",
                    fontsize=8,
                    color="grey" if str(reason) else colour,
                )
            elif np.isfinite(value):
                axis.plot(position, float(value), "o", color=colour)
        _set_value_scale(axis, [v for v, r in zip(values, reasons) if not str(r)])
        axis.set_xticks(range(len(models)), models, rotation=30, fontsize=8)
        axis.set_xlim(-0.6, len(models) - 0.4)
        units = probe[name].attrs.get("units", "1")
        axis.set_title(name.replace("_", " ") + ("" if units == "1" else f" ({units})"), fontsize=9)
    for axis in list(axes.flat)[len(names) :]:
        axis.set_visible(False)
    figure.suptitle(
        f"{probe['probe'].item()}: physics checks on {store.attrs.get('reference', '')} "
        "(worst case; lower is better)",
        fontsize=11,
    )
    return figure


def depth_figure(metrics: xr.Dataset, metric: str = "forces_rmse") -> plt.Figure | None:
    """Test ``metric`` against message-passing depth ``T`` for every experiment with depth labels.

    Models named ``<family>_T<k>`` give the points; one line per family and experiment. None if
    no experiment has such labels or the metric is missing.
    """
    if metric not in metrics:
        return None
    lines = {}
    for experiment in metrics["experiment"].values:
        for model in metrics["model"].values:
            match = DEPTH_LABEL.match(str(model))
            if not match:
                continue
            mean, std, count = seed_statistics(
                metrics[metric].sel(experiment=experiment, model=model).values
            )
            if count:
                lines.setdefault((str(experiment), match["family"]), []).append(
                    (int(match["depth"]), mean, std)
                )
    if not lines:
        return None
    experiments = sorted({experiment for experiment, _ in lines})
    figure, axes = _panels(len(experiments), height=4.0)
    for column, experiment in enumerate(experiments):
        axis = axes[0, column]
        for (name, family), points in sorted(lines.items()):
            if name != experiment:
                continue
            depth, mean, std = np.array(sorted(points)).T
            axis.errorbar(
                depth,
                mean,
                yerr=std,
                marker="o",
                capsize=3,
                color=FAMILY_COLOURS.get(family),
                label=family,
                linestyle="-" if len(depth) > 1 else "none",
            )
        axis.set_xlabel("message-passing layers T")
        axis.set_ylabel(f"test {metric} ({metrics[metric].attrs.get('units', '')})")
        _set_value_scale(
            axis,
            [
                mean
                for (name, _), points in lines.items()
                if name == experiment
                for _, mean, _ in points
            ],
        )
        axis.set_xticks(
            sorted(
                {
                    d
                    for (name, _), points in lines.items()
                    if name == experiment
                    for d, _, _ in points
                }
            )
        )
        axis.set_title(experiment, fontsize=10)
        axis.legend(fontsize=8)
    figure.suptitle("test force error vs message-passing depth", fontsize=11)
    return figure


def probe_figure(store: xr.Dataset) -> plt.Figure:
    """The figure of any probe store, by its ``kind`` (a curve unless :data:`KIND_FIGURES` has
    another)."""
    kind = store.attrs["kind"]
    return next((draw for key, draw in KIND_FIGURES.items() if key == kind), curve_figure)(store)


#: The figure of each probe kind that is not a curve along the probe's coordinate.
KIND_FIGURES: dict[ProbeKind, Callable[[xr.Dataset], plt.Figure]] = {
    ProbeKind.CHARGE_TRANSFER: charge_transfer_figure,
    ProbeKind.SIZE_SCAN: size_scan_figure,
    ProbeKind.FINITE_SIZE: finite_size_figure,
    ProbeKind.FAR_FRAGMENT: far_fragment_figure,
    ProbeKind.DYNAMICS: dynamics_figure,
    ProbeKind.PHYSICS: physics_figure,
}


def leaderboard_figure(
    experiment: str, header: list[str], rows: list[list[object]], families: dict[str, str]
) -> plt.Figure:
    """Test energy and force MAE of every model of an experiment, one marker per model
    (markers, not bars: a bar's length means nothing on a log axis, used where the errors span
    more than :data:`LOG_AXIS_RANGE`), in one colour per model, the family's for the first of
    its family (``families``: model → ``local``, ``efa`` or ``external``)."""
    names = [name for name in ("energy_mae", "forces_mae") if name in header]
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    models = [str(row[0]) for row in rows]
    colours = _model_colours(models, families)
    for axis, name in zip(axes[0], names):
        values = [float(row[header.index(name)]) for row in rows]
        for position, (model, value) in enumerate(zip(models, values)):
            axis.plot(position, value, "o", color=colours[model], markersize=9)
        axis.set_xticks(range(len(models)), models, rotation=30)
        axis.set_xlim(-0.6, len(models) - 0.4)
        _set_value_scale(axis, values)
        axis.set_ylabel(f"test {name} ({'eV' if name.startswith('energy') else 'eV/Å'})")
        axis.grid(True, axis="y", which="both", alpha=0.3)
    figure.suptitle(f"{experiment}: test errors of every model")
    figure.tight_layout()
    return figure


def _model_colours(models: list[str], families: dict[str, str]) -> dict[str, str]:
    """One colour per model (hex): the family colour for the first model of a family, then
    colours of the default cycle that no family and no earlier model has."""
    family_colours = {to_hex(colour) for colour in FAMILY_COLOURS.values()}
    cycle = [to_hex(c) for c in plt.rcParams["axes.prop_cycle"].by_key()["color"]]
    free = [c for c in cycle if c not in family_colours]
    colours, used = {}, set()
    for model in models:
        colour = FAMILY_COLOURS.get(families.get(model, ""))
        colour = to_hex(colour) if colour is not None else None
        if colour is None or colour in used:  # past the cycle's end, colours come round again
            colour = next((c for c in free if c not in used), free[len(colours) % len(free)])
        colours[model] = colour
        used.add(colour)
    return colours


def parity_figure(
    experiment: str, predictions: dict[str, list[xr.Dataset]], families: dict[str, str]
) -> plt.Figure:
    """Predicted against reference test energies (per atom, eV) and force components (eV/Å),
    every model of ``experiment`` on shared axes (``predictions``: model → its seeds'
    ``predictions_test.zarr`` stores), with the diagonal and each model's MAE."""
    figure, axes = plt.subplots(1, 2, figsize=(9.6, 4.4), squeeze=False, layout="constrained")
    colours = _model_colours(list(predictions), families)
    for model, stores in predictions.items():
        energy_ref, energy_pred, force_ref, force_pred = [], [], [], []
        for store in stores:
            atoms = store["atom_mask"].values.sum(axis=1)
            energy_ref.append(store["energy_reference"].values / atoms)
            energy_pred.append(store["energy_predicted"].values / atoms)
            mask = store["atom_mask"].values
            force_ref.append(store["forces_reference"].values[mask].ravel())
            force_pred.append(store["forces_predicted"].values[mask].ravel())
        for axis, reference, predicted in (
            (axes[0, 0], np.concatenate(energy_ref), np.concatenate(energy_pred)),
            (axes[0, 1], np.concatenate(force_ref), np.concatenate(force_pred)),
        ):
            mae = float(np.mean(np.abs(predicted - reference)))
            axis.plot(
                reference,
                predicted,
                ".",
                color=colours[model],
                markersize=3,
                alpha=0.5,
                label=f"{model} (MAE {mae:.3g}, n={len(stores)} seeds)",
            )
    for axis, quantity in zip(axes[0], ("energy per atom (eV)", "force component (eV/Å)")):
        low, high = axis.get_xlim()
        axis.plot([low, high], [low, high], **{**REFERENCE_STYLE, "linewidth": 1.0})
        axis.set_xlabel(f"reference {quantity}")
        axis.set_ylabel(f"predicted {quantity}")
        # below the axes, so that no legend covers the points
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16))
        axis.grid(True, alpha=0.3)
    figure.suptitle(f"{experiment}: test-split parity")
    return figure


def learning_curve_figure(
    experiment: str, logs: dict[str, list[list[dict]]], families: dict[str, str]
) -> plt.Figure | None:
    """Validation loss (and the training loss, faint) against the step from each run's
    ``train_log.jsonl`` records (``logs``: model → one record list per seed), every model of
    ``experiment`` on shared log axes; None without any validation record."""
    colours = _model_colours(list(logs), families)
    figure, axis = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    plotted = False
    for model, runs in logs.items():
        for seed_index, records in enumerate(runs):
            label = model if seed_index == 0 else None
            for event, style in (("train", dict(alpha=0.25, linewidth=0.8)), ("valid", {})):
                points = [
                    (record["step"], float(record["loss"]))
                    for record in records
                    if record.get("event") == event and "loss" in record
                ]
                points = [(step, loss) for step, loss in points if np.isfinite(loss) and loss > 0]
                if not points:
                    continue
                steps, losses = zip(*points)
                axis.plot(
                    steps,
                    losses,
                    color=colours[model],
                    label=label if event == "valid" else None,
                    **style,
                )
                plotted = plotted or event == "valid"
    if not plotted:
        plt.close(figure)
        return None
    axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("loss (validation; training faint)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title(f"{experiment}: learning curves (one line per seed)")
    return figure
