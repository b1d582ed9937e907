"""The probes: which structures, which reference, which metrics.

Every probe maps models (:class:`~efa.predictors.Predictor`) and its options to a probe store
(:mod:`efa.probes.store`). Reference structures come either from a canonical data set store
(opened, and so validated, by :func:`efa.data.store.open_dataset`) or are built here and labelled
through :func:`efa.probes.labels.label_structures`, which ends in
:func:`efa.data.schema.make_dataset` — the validated path of every data set.

====================  ===============  =======================================================
probe                 kind             structures and reference
====================  ===============  =======================================================
``two_atoms``         dissociation     Z = (1, 2) at r = 1 … 10 Å, analytic E(r)
``sn2``               dissociation     a reaction-coordinate scan store (``sn2_scan``: GFN2-xTB;
                                       ``ref_sn2_F_I`` for PhysNet-trained models)
``pull_apart``        dissociation     one structure of a data set, a fragment pulled away
                                       rigidly, labelled at the data set's level of theory
``torsion``           torsion          a cumulene torsion scan store (``cumulene_torsion``:
                                       GFN2-xTB; ``ref_cumulene_profile``)
``charge_transfer``   charge_transfer  pairs C₁₀H₂ / C₁₀H₃⁺ (``carbon_chain_probe``)
``reach``             reach            a fragment moved out to 40 Å (default: the two atoms)
``nacl_size``         size_scan        each run's own test split (NaCl clusters of growing size)
====================  ===============  =======================================================
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from efa.data.batching import Structures
from efa.data.store import open_dataset
from efa.errors import ConfigError
from efa.probes import metrics as m
from efa.probes.geometry import (
    fragment_gap,
    fragment_mask,
    isolation_distance,
    pull_apart,
    terminal_torsion_deg,
)
from efa.probes.labels import TWO_ATOM_LEVEL, TWO_ATOM_NUMBERS, label_structures
from efa.predictors import Predictor, check_unique
from efa.probes.store import curve_store, size_scan_store


@dataclasses.dataclass(frozen=True)
class Probe:
    """A probe: its kind, a one-line description, accepted options with defaults, and the
    function ``(models, options) → store``."""

    name: str
    kind: str
    description: str
    defaults: Mapping[str, Any]
    run: Callable[[Sequence[Predictor], Mapping[str, Any]], xr.Dataset]


# ----------------------------------------------------------------------------------------------
# Reference structures


def two_atom_pairs(distances: np.ndarray, coordinate_name: str, source: str) -> xr.Dataset:
    """Pairs Z = (1, 2) on the z axis at ``distances`` (Å), labelled with the analytic E(r)."""
    positions = np.zeros((distances.size, 2, 3))
    positions[:, 1, 2] = distances
    return label_structures(
        [TWO_ATOM_NUMBERS] * distances.size, list(positions), np.zeros(distances.size, int),
        TWO_ATOM_LEVEL, _probe_attrs(source, "Å"), coordinate=distances, source=source,
    )


def pulled_apart_structures(
    reference: xr.Dataset, structure: int, fragment: Sequence[int], gaps: np.ndarray, source: str
) -> tuple[xr.Dataset, np.ndarray]:
    """Structure ``structure`` of ``reference`` with ``fragment`` pulled to the gaps (Å), labelled
    at the reference's level of theory; returns the data set and the fragment mask."""
    count = reference.sizes["structure"]
    if not 0 <= structure < count:
        raise ConfigError(f"--structure {structure}: expected an index in 0..{count - 1} of {source}")
    mask = np.asarray(reference["atom_mask"].values[structure])
    numbers = np.asarray(reference["atomic_numbers"].values[structure])[mask]
    positions = np.asarray(reference["positions"].values[structure])[mask]
    moving = fragment_mask(numbers.size, fragment, "--fragment")
    scan = pull_apart(positions, moving, gaps)
    charge = int(reference["total_charge"].values[structure]) if "total_charge" in reference else 0
    parameters = reference.attrs.get("parameters", {})
    dataset = label_structures(
        [numbers] * gaps.size, list(scan), [charge] * gaps.size,
        str(reference.attrs.get("level_of_theory", "")), _probe_attrs(source, "Å"),
        coordinate=gaps,
        electronic_temperature=float(parameters.get("electronic_temperature", 300.0)),
        source=source,
    )
    return dataset, moving


def _probe_attrs(source: str, coordinate_units: str) -> dict:
    return {
        "name": source,
        "description": f"probe structures ({source})",
        "source": source,
        "units": {"coordinate": coordinate_units},
    }


def _open_reference(options: Mapping[str, Any]) -> xr.Dataset:
    return open_dataset(options["reference"], options["datasets_root"])


# ----------------------------------------------------------------------------------------------
# Evaluation


def _predict_all(models: Sequence[Predictor], reference: xr.Dataset):
    check_unique(models)
    structures = Structures.from_dataset(reference)
    return structures, {(model.label, model.seed): model.predict(structures) for model in models}


def dissociation_probe(
    name: str, models: Sequence[Predictor], reference: xr.Dataset, separation: np.ndarray,
    options: Mapping[str, Any], coordinate_name: str,
) -> xr.Dataset:
    """Energies, forces and dissociation metrics of every model along ``reference``."""
    structures, predictions = _predict_all(models, reference)
    coordinate = reference["coordinate"].values
    has_forces = bool(np.any(structures.forces))
    reference_path = (
        m.path_forces(structures.forces, structures.positions, coordinate) if has_forces else None
    )
    metrics = {}
    for model in models:
        energy, forces = predictions[(model.label, model.seed)]
        metrics[(model.label, model.seed)] = {
            **m.energy_errors(structures.energy, energy),
            "forces_mae": m.forces_mae(structures.forces, forces, structures.atom_mask),
            **m.dissociation_metrics(
                separation, structures.energy, energy, reference_path,
                m.path_forces(forces, structures.positions, coordinate), model.cutoff,
            ),
        }
    return curve_store(
        options["label"] or name, "dissociation", reference, separation, models, predictions,
        metrics, {**options, "coordinate_name": coordinate_name},
    )


def run_two_atoms(models, options):
    distances = np.linspace(options["min_gap"], options["max_gap"], options["num_points"])
    reference = two_atom_pairs(distances, "distance", "two_atoms probe")
    return dissociation_probe("two_atoms", models, reference, distances, options, "distance r")


def run_sn2(models, options):
    reference = _open_reference(options)
    if "coordinate" not in reference:
        raise ConfigError(
            f"--reference {options['reference']}: the data set has no 'coordinate'; expected a "
            "reaction-coordinate scan such as sn2_scan or ref_sn2_F_I"
        )
    separation = isolation_distance(reference["positions"].values, reference["atom_mask"].values)
    return dissociation_probe(
        "sn2", models, reference, separation, options, "reaction coordinate d(C–I) − d(C–F)"
    )


def run_pull_apart(models, options):
    source = options["reference"]
    gaps = np.linspace(options["min_gap"], options["max_gap"], options["num_points"])
    reference, moving = pulled_apart_structures(
        _open_reference(options), options["structure"], options["fragment"], gaps, str(source)
    )
    separation = fragment_gap(reference["positions"].values, moving)
    return dissociation_probe("pull_apart", models, reference, separation, options, "fragment gap")


def run_torsion(models, options):
    reference = _open_reference(options)
    if "coordinate" not in reference:
        angle = terminal_torsion_deg(reference["positions"].values, reference["atomic_numbers"].values)
        reference = reference.assign(coordinate=("structure", angle))
        reference.attrs["units"] = {**reference.attrs["units"], "coordinate": "deg"}
    structures, predictions = _predict_all(models, reference)
    metrics = {
        key: {
            **m.energy_errors(structures.energy, energy),
            "forces_mae": m.forces_mae(structures.forces, forces, structures.atom_mask),
            **m.torsion_metrics(structures.energy, energy),
        }
        for key, (energy, forces) in predictions.items()
    }
    return curve_store(
        options["label"] or "torsion", "torsion", reference, None, models, predictions, metrics,
        {**options, "coordinate_name": "terminal CH2 torsion"},
    )


def charge_transfer_pairs(
    reference: xr.Dataset, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(K,)`` of the neutral and ``(K,)`` of the protonated member of every pair.

    Pairs come from the variable ``pair`` (pair index per structure); within a pair the member
    with the lower ``total_charge`` is the neutral one.
    """
    for name in ("pair", "total_charge"):
        if name not in reference:
            raise ConfigError(
                f"--reference {source}: the data set has no {name!r}; expected pairs like "
                "carbon_chain_probe (variables 'pair' and 'total_charge')"
            )
    pair = reference["pair"].values
    charge = reference["total_charge"].values
    neutral, cation = [], []
    for k in np.unique(pair):
        members = np.flatnonzero(pair == k)
        if members.size != 2 or charge[members[0]] == charge[members[1]]:
            raise ConfigError(
                f"--reference {source}: pair {k} has {members.size} structures with charges "
                f"{charge[members].tolist()}; expected two structures of different charge"
            )
        low, high = members[np.argsort(charge[members])]
        neutral.append(low)
        cation.append(high)
    return np.array(neutral), np.array(cation)


def pair_changes(
    energy: np.ndarray, forces: np.ndarray, neutral: np.ndarray, cation: np.ndarray,
    far_atoms: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """``ΔE (K,) = E[cation] − E[neutral]`` and far-end ``ΔF (K, F, 3)``."""
    far = np.asarray(list(far_atoms))
    return energy[cation] - energy[neutral], forces[cation][:, far] - forces[neutral][:, far]


def run_charge_transfer(models, options):
    reference = _open_reference(options)
    neutral, cation = charge_transfer_pairs(reference, str(options["reference"]))
    far_atoms = list(options["far_atoms"])
    atoms = int(reference["atom_mask"].values.sum(axis=1).min())
    if not far_atoms or min(far_atoms) < 0 or max(far_atoms) >= atoms:
        raise ConfigError(f"--far-atoms {far_atoms}: expected atom indices in 0..{atoms - 1}")
    reference = reference.assign(coordinate=("structure", reference["pair"].values.astype(float)))
    reference.attrs["units"] = {**reference.attrs["units"], "coordinate": "1"}
    structures, predictions = _predict_all(models, reference)
    energy_change, force_change = pair_changes(
        structures.energy, structures.forces, neutral, cation, far_atoms
    )
    metrics = {}
    for key, (energy, forces) in predictions.items():
        predicted_energy_change, predicted_force_change = pair_changes(
            energy, forces, neutral, cation, far_atoms
        )
        metrics[key] = {
            **m.energy_errors(structures.energy, energy),
            "forces_mae": m.forces_mae(structures.forces, forces, structures.atom_mask),
            **m.charge_transfer_metrics(
                energy_change, predicted_energy_change, force_change, predicted_force_change
            ),
        }
    return curve_store(
        options["label"] or "charge_transfer", "charge_transfer", reference, None, models,
        predictions, metrics, {**options, "coordinate_name": "pair"},
    )


def run_reach(models, options):
    gaps = np.linspace(options["min_gap"], options["max_gap"], options["num_points"])
    if options["reference"] is None:
        reference = two_atom_pairs(gaps, "distance", "reach probe (two atoms)")
        separation = gaps
    else:
        reference, moving = pulled_apart_structures(
            _open_reference(options), options["structure"], options["fragment"], gaps,
            str(options["reference"]),
        )
        separation = fragment_gap(reference["positions"].values, moving)
    structures, predictions = _predict_all(models, reference)
    metrics = {
        (model.label, model.seed): {
            **m.energy_errors(structures.energy, predictions[(model.label, model.seed)][0]),
            **m.reach_metrics(
                separation, structures.energy, predictions[(model.label, model.seed)][0],
                model.receptive_field,
            ),
        }
        for model in models
    }
    return curve_store(
        options["label"] or "reach", "reach", reference, separation, models, predictions, metrics,
        {**options, "coordinate_name": "fragment gap"},
    )


# ----------------------------------------------------------------------------------------------
# Per-atom error against system size


def size_scan(
    entries: Sequence[tuple[Predictor, Structures]], label: str = "nacl_size",
    options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Per-atom energy MAE and force MAE of each model on test structures of growing size.

    ``entries`` pairs a model with its test structures (one size per entry: the rounded mean atom
    count). Per size: ``energy_mae_per_atom = mean_s |Ê_s − E_s| / n_s`` (eV/atom) and
    ``forces_mae``. Metric ``per_atom_error_growth``: per-atom MAE at the largest size divided by
    that at the smallest (1 for an error flat in N).
    """
    values: dict[tuple[str, int, int], dict[str, float]] = {}
    sources: dict[tuple[str, int, int], str] = {}
    for model, structures in entries:
        size = int(round(float(structures.num_atoms.mean())))
        key = (model.label, model.seed, size)
        if key in values:
            raise ConfigError(
                f"--run {model.source}: model {model.label!r} seed {model.seed} on {size}-atom "
                f"structures was already given by --run {sources[key]}"
            )
        energy, forces = model.predict(structures)
        values[key] = {
            "energy_mae_per_atom": float(np.mean(np.abs(energy - structures.energy) / structures.num_atoms)),
            "forces_mae": m.forces_mae(structures.forces, forces, structures.atom_mask),
        }
        sources[key] = model.source
    metrics = {}
    for label_seed in {(k[0], k[1]) for k in values}:
        sizes = sorted(size for (a, b, size) in values if (a, b) == label_seed)
        first, last = (values[(*label_seed, s)]["energy_mae_per_atom"] for s in (sizes[0], sizes[-1]))
        metrics[label_seed] = {"per_atom_error_growth": last / first if first > 0 else math.nan}
    models = [model for model, _ in entries]
    return size_scan_store(
        label, models, sorted({k[2] for k in values}), values, metrics, dict(options or {})
    )


def run_test_structures(run_dir: str | Path, split: str = "test") -> Structures:
    """The structures of ``split`` of the data set a run was trained on (checked to be the data
    it was trained on, :func:`efa.train.data_record.load_run_split`)."""
    from efa.train.data_record import load_run_split

    structures, _, _ = load_run_split(run_dir, split, "probe")
    return structures


# ----------------------------------------------------------------------------------------------
# Registry

_COMMON = {"label": None}
_FROM_DATA = {"datasets_root": "datasets"}

PROBES: dict[str, Probe] = {
    probe.name: probe
    for probe in (
        Probe("two_atoms", "dissociation", "two-atom dissociation curve, analytic reference",
              {**_COMMON, "num_points": 181, "min_gap": 1.0, "max_gap": 10.0}, run_two_atoms),
        Probe("sn2", "dissociation", "SN2 reaction-coordinate scan (free ion leaving)",
              {**_COMMON, **_FROM_DATA, "reference": "sn2_scan"}, run_sn2),
        Probe("pull_apart", "dissociation",
              "pull a fragment of one structure of a data set away, labelled at its level of theory",
              {**_COMMON, **_FROM_DATA, "reference": None, "structure": 0, "fragment": None,
               "num_points": 41, "min_gap": 1.5, "max_gap": 12.0}, run_pull_apart),
        Probe("torsion", "torsion", "cumulene terminal CH2 torsion scan",
              {**_COMMON, **_FROM_DATA, "reference": "cumulene_torsion"}, run_torsion),
        Probe("charge_transfer", "charge_transfer",
              "C10H2 vs C10H3+: change of energy and far-end forces on protonation",
              {**_COMMON, **_FROM_DATA, "reference": "carbon_chain_probe", "far_atoms": (9, 10)},
              run_charge_transfer),
        Probe("reach", "reach", "move a fragment out to 40 Å and record the energy change",
              {**_COMMON, **_FROM_DATA, "reference": None, "structure": 0, "fragment": None,
               "num_points": 157, "min_gap": 1.0, "max_gap": 40.0}, run_reach),
    )
}
#: The size-scan probe takes runs (each evaluated on its own test split), not one structure set.
SIZE_SCAN_PROBES = {"nacl_size": "per-atom energy error vs cluster size (each run's test split)"}


def probe_options(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults of probe ``name`` updated with the options given (not None); unknown options and
    missing required ones raise :class:`ConfigError` naming the option."""
    probe = PROBES[name]
    options = dict(probe.defaults)
    for key, value in given.items():
        if value is None:
            continue
        if key not in probe.defaults:
            raise ConfigError(
                f"--{key.replace('_', '-')}: not an option of probe {name!r}; its options: "
                + ", ".join(f"--{k.replace('_', '-')}" for k in sorted(probe.defaults))
            )
        _check_type(key, value, probe.defaults[key])
        options[key] = value
    if name == "pull_apart" and (options["reference"] is None or options["fragment"] is None):
        raise ConfigError("probe 'pull_apart' needs --reference DATASET and --fragment I,J,…")
    if name == "reach" and (options["reference"] is None) != (options["fragment"] is None):
        raise ConfigError("probe 'reach': give both --reference and --fragment, or neither (two atoms)")
    if "num_points" in options and options["num_points"] < 2:
        raise ConfigError(f"--num-points {options['num_points']}: expected at least 2")
    if "min_gap" in options and not 0 < options["min_gap"] < options["max_gap"]:
        raise ConfigError(
            f"--min-gap {options['min_gap']} / --max-gap {options['max_gap']}: expected "
            "0 < min < max (Å)"
        )
    return options


def _check_type(key: str, value: Any, default: Any) -> None:
    """An option of the type of its default: an integer, or a finite number (Å)."""
    option = f"--{key.replace('_', '-')} {value!r}"
    if isinstance(default, bool) or default is None:
        return
    if isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{option}: expected an integer")
    if isinstance(default, float) and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    ):
        raise ConfigError(f"{option}: expected a finite number")


def run_probe(name: str, models: Sequence[Predictor], **given) -> xr.Dataset:
    """Evaluate probe ``name`` (a key of :data:`PROBES`) for ``models``; return its store."""
    if name not in PROBES:
        raise ConfigError(f"probe {name!r}: unknown; expected one of {', '.join(all_probe_names())}")
    options = probe_options(name, given)
    dataset = PROBES[name].run(models, options)
    dataset.attrs["options"] = json.dumps(options, sort_keys=True, default=str)
    return dataset


def all_probe_names() -> list[str]:
    """Every probe name accepted by ``efa probe``."""
    return [*PROBES, *SIZE_SCAN_PROBES]
