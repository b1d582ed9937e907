"""The probe store: one xarray Dataset (zarr) per probe, in the layout of docs/architecture.md.

Dims ``probe`` (size 1: the probe's label), ``model``, ``seed``, ``point`` (scan points), and for
per-atom arrays ``atom`` and ``xyz``:

=============================  =====================================  ======================
variable                       dims                                   meaning
=============================  =====================================  ======================
``coordinate``                 (probe, point)                         scan coordinate (attrs
                                                                      ``units``, ``long_name``)
``separation``                 (probe, point)                         fragment gap, Å
``energy_reference``           (probe, point)                         eV
``energy_predicted``           (probe, model, seed, point)            eV
``forces_reference``           (probe, point, atom, xyz)              eV/Å
``forces_predicted``           (probe, model, seed, point, atom, xyz) eV/Å
``positions``                  (probe, point, atom, xyz)              Å
``atomic_numbers``             (probe, point, atom)                   0 on padding
``atom_mask``                  (probe, point, atom)
``total_charge``               (probe, point)                         e
``truncated``                  (probe, model, seed)                   1 if the run stopped on
                                                                      its time limit
<metric>                       (probe, model, seed)                   see :mod:`efa.probes.metrics`
=============================  =====================================  ======================

Coordinates along ``model``: ``family`` (local/efa/external), ``cutoff`` and
``receptive_field`` (Å). A (model, seed) combination without a run holds ``nan``. Attributes:
``kind`` (a :class:`~efa.probes.kinds.ProbeKind`), ``reference`` (data set
name or generator), ``level_of_theory``, ``metrics`` (names of the metric variables) and the
probe's options, and ``provenance`` (:mod:`efa.provenance`, added by ``efa probe``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from efa.predictors import Predictor
from efa.probes.kinds import ProbeKind
from efa.probes.physics import PHYSICS_UNITS

PROBE_METRIC_UNITS = {
    "energy_mae": "eV",
    "energy_mae_aligned": "eV",
    "forces_mae": "eV/Å",
    "energy_mae_beyond_cutoff": "eV",
    "dissociation_energy_error": "eV",
    "force_sign_flips": "1",
    "force_sign_flips_reference": "1",
    "energy_jumps": "eV",
    "barrier": "eV",
    "barrier_reference": "eV",
    "barrier_error": "eV",
    "barrier_relative_error": "1",
    "profile_correlation": "1",
    "energy_change_error": "eV",
    "far_force_change_reference": "eV/Å",
    "far_force_change_predicted": "eV/Å",
    "far_force_change_error": "eV/Å",
    "far_force_change_relative_error": "1",
    "energy_change_mae": "eV",
    "change_beyond_receptive_field": "eV",
    "reach_distance": "Å",
    "reach_distance_reference": "Å",
    "energy_mae_per_atom": "eV/atom",
    "per_atom_error_growth": "1",
    "size_difference_error": "eV",
    "size_trend_error": "eV",
    "size_trend_reference": "eV",
    "vacuum_slope": "eV/Å",
    "vacuum_slope_reference": "eV/Å",
    "vacuum_slope_error": "eV/Å",
    "far_response_reference": "eV/Å",
    "charged_response_error": "1",
    "neutral_response": "1",
    "neutral_response_reference": "1",
    "neutral_response_error": "1",
    "energy_drift": "eV/atom/ps",
    "energy_drift_reference": "eV/atom/ps",
    "energy_fluctuation": "eV/atom",
    "energy_fluctuation_reference": "eV/atom",
    "time_to_failure": "ps",
    "time_to_failure_reference": "ps",
    "failed_fraction": "1",
    "failed_fraction_reference": "1",
    "relative_energy_drift": "1",
    "relative_energy_drift_reference": "1",
    **PHYSICS_UNITS,
}


def model_grid(models: Sequence[Predictor]) -> tuple[list[str], list[int], dict[str, np.ndarray]]:
    """Sorted model labels and seeds, and the per-model coordinates ``family``, ``cutoff``,
    ``receptive_field``."""
    labels = sorted({model.label for model in models})
    seeds = sorted({model.seed for model in models})
    first = {}
    for model in models:
        first.setdefault(model.label, model)
    coords = {
        "family": np.array([first[label].family for label in labels], dtype=object),
        "cutoff": np.array([first[label].cutoff for label in labels]),
        "receptive_field": np.array([first[label].receptive_field for label in labels]),
    }
    return labels, seeds, coords


def run_variables(
    models: Sequence[Predictor], labels: list[str], seeds: list[int]
) -> dict[str, xr.Variable]:
    """``truncated`` (probe, model, seed): 1 where a run's training stopped on its time limit
    before its step budget, 0 where it did not, nan where there is no run."""
    array = np.full((1, len(labels), len(seeds)), math.nan)
    for model in models:
        array[0, labels.index(model.label), seeds.index(model.seed)] = float(model.truncated)
    return {"truncated": xr.Variable(("probe", "model", "seed"), array, {"units": "1"})}


def metric_variables(
    models: Sequence[Predictor],
    metrics: Mapping[tuple[str, int], Mapping[str, float]],
    labels: list[str],
    seeds: list[int],
) -> dict[str, xr.Variable]:
    """``(probe, model, seed)`` variables from per-model metric mappings (nan where missing)."""
    names = sorted({name for values in metrics.values() for name in values})
    variables = {}
    for name in names:
        array = np.full((1, len(labels), len(seeds)), math.nan)
        for (label, seed), values in metrics.items():
            array[0, labels.index(label), seeds.index(seed)] = values.get(name, math.nan)
        variables[name] = xr.Variable(
            ("probe", "model", "seed"), array, {"units": PROBE_METRIC_UNITS.get(name, "1")}
        )
    return variables


def curve_store(
    label: str,
    kind: ProbeKind,
    reference: xr.Dataset,
    separation: np.ndarray | None,
    models: Sequence[Predictor],
    predictions: Mapping[tuple[str, int], tuple[np.ndarray, np.ndarray]],
    metrics: Mapping[tuple[str, int], Mapping[str, float]],
    attrs: Mapping,
) -> xr.Dataset:
    """Assemble the store of a probe evaluated on the structures of ``reference``.

    Args:
      label: the probe's name in the store.
      kind: probe kind (see the module docstring).
      reference: canonical data set of the probe structures (with ``coordinate``).
      separation: ``(P,)`` fragment gap in Å, or None.
      models: the evaluated models.
      predictions: ``(label, seed) → (energy (P,), forces (P, A, 3))``.
      metrics: ``(label, seed) → {metric: value}``.
      attrs: the probe's attributes; ``coordinate_name`` (the coordinate's long name) is
        read, the options are recorded by :func:`efa.probes.registry.run_probe`.
    """
    labels, seeds, model_coords = model_grid(models)
    points, atoms = reference.sizes["structure"], reference.sizes["atom"]
    energy = np.full((1, len(labels), len(seeds), points), math.nan)
    forces = np.full((1, len(labels), len(seeds), points, atoms, 3), math.nan)
    for (model_label, seed), (model_energy, model_forces) in predictions.items():
        energy[0, labels.index(model_label), seeds.index(seed)] = model_energy
        forces[0, labels.index(model_label), seeds.index(seed)] = model_forces
    units = dict(reference.attrs.get("units", {}))
    charge = (
        reference["total_charge"].values
        if "total_charge" in reference
        else np.zeros(points, np.int32)
    )
    variables = {
        "coordinate": xr.Variable(
            ("probe", "point"),
            reference["coordinate"].values[None],
            {
                "units": units.get("coordinate", "1"),
                "long_name": attrs.get("coordinate_name", "coordinate"),
            },
        ),
        "energy_reference": xr.Variable(
            ("probe", "point"), reference["energy"].values[None], {"units": "eV"}
        ),
        "energy_predicted": xr.Variable(
            ("probe", "model", "seed", "point"), energy, {"units": "eV"}
        ),
        "forces_reference": xr.Variable(
            ("probe", "point", "atom", "xyz"), reference["forces"].values[None], {"units": "eV/Å"}
        ),
        "forces_predicted": xr.Variable(
            ("probe", "model", "seed", "point", "atom", "xyz"), forces, {"units": "eV/Å"}
        ),
        "positions": xr.Variable(
            ("probe", "point", "atom", "xyz"), reference["positions"].values[None], {"units": "Å"}
        ),
        "atomic_numbers": xr.Variable(
            ("probe", "point", "atom"), reference["atomic_numbers"].values[None]
        ),
        "atom_mask": xr.Variable(("probe", "point", "atom"), reference["atom_mask"].values[None]),
        "total_charge": xr.Variable(("probe", "point"), np.asarray(charge)[None], {"units": "e"}),
        **metric_variables(models, metrics, labels, seeds),
        **run_variables(models, labels, seeds),
    }
    if separation is not None:
        variables["separation"] = xr.Variable(("probe", "point"), separation[None], {"units": "Å"})
    return xr.Dataset(
        variables,
        coords=_coords(label, labels, seeds, model_coords, points),
        attrs=_attrs(kind, reference, metrics),
    )


def size_difference_variables(
    models: Sequence[Predictor],
    sizes: np.ndarray,
    reference: np.ndarray,
    predicted: Mapping[tuple[str, int], np.ndarray],
    per: np.ndarray,
) -> dict[str, xr.DataArray]:
    """``difference_reference (probe, size)`` and ``difference_predicted (probe, model, seed,
    size)`` of a finite-size probe: the paired energy difference divided by ``per``."""
    labels, seeds, _ = model_grid(models)
    array = np.full((1, len(labels), len(seeds), len(sizes)), math.nan)
    for (label, seed), values in predicted.items():
        array[0, labels.index(label), seeds.index(seed)] = values / per
    size = {"size": np.asarray(sizes, np.float64)}
    return {
        "difference_reference": xr.DataArray(
            reference[None], dims=("probe", "size"), coords=size, attrs={"units": "eV"}
        ),
        "difference_predicted": xr.DataArray(
            array, dims=("probe", "model", "seed", "size"), coords=size, attrs={"units": "eV"}
        ),
    }


def response_variables(
    models: Sequence[Predictor],
    distances: np.ndarray,
    groups: Sequence[str],
    reference: np.ndarray,
    predicted: Mapping[tuple[str, int], np.ndarray],
) -> dict[str, xr.DataArray]:
    """``response_reference (probe, fragment, distance)`` and ``response_predicted (probe,
    model, seed, fragment, distance)`` of the far-fragment probe: the mean force change on the
    molecule (eV/Å) per far-atom group (``charged``, ``neutral``) and distance (Å)."""
    labels, seeds, _ = model_grid(models)
    array = np.full((1, len(labels), len(seeds), len(groups), len(distances)), math.nan)
    for (label, seed), values in predicted.items():
        array[0, labels.index(label), seeds.index(seed)] = values
    coords = {
        "fragment": np.array(groups, dtype=object),
        "distance": np.asarray(distances, np.float64),
    }
    return {
        "response_reference": xr.DataArray(
            reference[None],
            dims=("probe", "fragment", "distance"),
            coords=coords,
            attrs={"units": "eV/Å"},
        ),
        "response_predicted": xr.DataArray(
            array,
            dims=("probe", "model", "seed", "fragment", "distance"),
            coords=coords,
            attrs={"units": "eV/Å"},
        ),
    }


def dynamics_store(
    label: str,
    models: Sequence[Predictor],
    time_ps: np.ndarray,
    deviations: Mapping[tuple[str, int], np.ndarray],
    reference: np.ndarray | None,
    metrics: Mapping[tuple[str, int], Mapping[str, float]],
    attrs: Mapping,
) -> xr.Dataset:
    """Store of the NVE probe (:mod:`efa.probes.dynamics`): ``energy_deviation`` (probe, model,
    seed, trajectory, point) eV/atom of every model, ``energy_deviation_reference`` (probe,
    trajectory, point) of the reference level of theory (nan if none), the time (ps) as
    ``coordinate`` and the metrics per (model, seed)."""
    labels, seeds, model_coords = model_grid(models)
    trajectories, points = next(iter(deviations.values())).shape
    array = np.full((1, len(labels), len(seeds), trajectories, points), math.nan)
    for (model_label, seed), values in deviations.items():
        array[0, labels.index(model_label), seeds.index(seed)] = values
    if reference is None:
        reference = np.full((trajectories, points), math.nan)
    variables = {
        "coordinate": xr.Variable(
            ("probe", "point"), np.asarray(time_ps)[None], {"units": "ps", "long_name": "time"}
        ),
        "energy_deviation": xr.Variable(
            ("probe", "model", "seed", "trajectory", "point"), array, {"units": "eV/atom"}
        ),
        "energy_deviation_reference": xr.Variable(
            ("probe", "trajectory", "point"), reference[None], {"units": "eV/atom"}
        ),
        **metric_variables(models, metrics, labels, seeds),
        **run_variables(models, labels, seeds),
    }
    return xr.Dataset(
        variables,
        coords=_coords(label, labels, seeds, model_coords, points),
        attrs={
            "kind": ProbeKind.DYNAMICS,
            "curve": "energy_deviation",
            "reference": str(attrs.get("reference", "")),
            "level_of_theory": str(attrs.get("level_of_theory", "")),
            "metrics": sorted({n for m in metrics.values() for n in m}),
        },
    )


def size_scan_store(
    label: str,
    models: Sequence[Predictor],
    sizes: Sequence[int],
    values: Mapping[tuple[str, int, int], Mapping[str, float]],
    metrics: Mapping[tuple[str, int], Mapping[str, float]],
    attrs: Mapping,
) -> xr.Dataset:
    """Store of a probe whose points are system sizes: ``values[(label, seed, size)]`` holds
    per-size errors (``energy_mae_per_atom``, ``forces_mae``) with dims (probe, model, seed,
    point)."""
    labels, seeds, model_coords = model_grid(models)
    sizes = sorted(sizes)
    names = sorted({name for entry in values.values() for name in entry})
    variables = {
        "coordinate": xr.Variable(
            ("probe", "point"),
            np.asarray(sizes, np.float64)[None],
            {"units": "atoms", "long_name": "number of atoms"},
        ),
    }
    for name in names:
        array = np.full((1, len(labels), len(seeds), len(sizes)), math.nan)
        for (model_label, seed, size), entry in values.items():
            array[0, labels.index(model_label), seeds.index(seed), sizes.index(size)] = entry[name]
        variables[name] = xr.Variable(
            ("probe", "model", "seed", "point"), array, {"units": PROBE_METRIC_UNITS.get(name, "1")}
        )
    variables.update(metric_variables(models, metrics, labels, seeds))
    variables.update(run_variables(models, labels, seeds))
    return xr.Dataset(
        variables,
        coords=_coords(label, labels, seeds, model_coords, len(sizes)),
        attrs={
            "kind": ProbeKind.SIZE_SCAN,
            "reference": "each run's test split",
            "metrics": sorted({n for m in metrics.values() for n in m}),
            "options": json.dumps(dict(attrs), sort_keys=True, default=str),
        },
    )


def checks_store(
    label: str,
    models: Sequence[Predictor],
    metrics: Mapping[tuple[str, int], Mapping[str, float]],
    reasons: Mapping[str, Mapping[str, str]],
    names: Sequence[str],
    attrs: Mapping,
) -> xr.Dataset:
    """Store of a probe of checks without a reference (kind ``physics``): the metrics
    ``names`` per (model, seed), nan where a model cannot take one, and ``not_applicable``
    (probe, model, metric_name): the reason (``reasons[model label][metric]``), ``""`` where
    it can."""
    labels, seeds, model_coords = model_grid(models)
    filled = {
        key: {name: values.get(name, math.nan) for name in names} for key, values in metrics.items()
    }
    table = np.array(
        [[reasons.get(model, {}).get(name, "") for name in names] for model in labels], dtype=object
    )
    variables = {
        **metric_variables(models, filled, labels, seeds),
        **run_variables(models, labels, seeds),
        "not_applicable": xr.Variable(("probe", "model", "metric_name"), table[None]),
    }
    coords = _coords(label, labels, seeds, model_coords, None)
    coords["metric_name"] = np.array(list(names), dtype=object)
    return xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "kind": ProbeKind.PHYSICS,
            "reference": str(attrs.get("reference", "")),
            "reference_source": str(attrs.get("reference_source", "")),
            "level_of_theory": "",
            "metrics": list(names),
        },
    )


def _coords(label, labels, seeds, model_coords, points: int | None) -> dict:
    """Coordinates of a probe store (no ``point`` where ``points`` is None)."""
    coords = {
        "probe": np.array([label], dtype=object),
        "model": np.array(labels, dtype=object),
        "seed": np.asarray(seeds, np.int64),
        **{name: ("model", values) for name, values in model_coords.items()},
    }
    if points is not None:
        coords["point"] = np.arange(points)
    return coords


def _attrs(kind: ProbeKind, reference: xr.Dataset, metrics) -> dict:
    """A probe store's attributes but ``options``, which
    :func:`efa.probes.registry.run_probe` records."""
    return {
        "kind": kind,
        "reference": str(reference.attrs.get("name", reference.attrs.get("source", ""))),
        "reference_source": str(reference.attrs.get("source", "")),
        "level_of_theory": str(reference.attrs.get("level_of_theory", "")),
        "metrics": sorted({name for values in metrics.values() for name in values}),
    }
