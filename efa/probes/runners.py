"""How each probe evaluates models: ``(models, options) → probe store``
(:mod:`efa.probes.store`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from efa.data.structures import Structures
from efa.errors import ConfigError
from efa.predictors import Predictor, check_unique
from efa.probes import metrics as m
from efa.probes.geometry import (
    fragment_gap,
    isolation_distance,
    terminal_torsion_deg,
)
from efa.probes.kinds import ProbeKind
from efa.probes.references import (
    charge_transfer_pairs,
    far_fragment_scans,
    open_reference,
    pair_changes,
    pulled_apart_structures,
    two_atom_pairs,
)
from efa.probes.store import (
    checks_store,
    curve_store,
    dynamics_store,
    response_variables,
    size_difference_variables,
)


def _predict_all(models: Sequence[Predictor], reference: xr.Dataset):
    check_unique(models)
    structures = Structures.from_dataset(reference)
    return structures, {(model.label, model.seed): model.predict(structures) for model in models}


def dissociation_probe(
    name: str,
    models: Sequence[Predictor],
    reference: xr.Dataset,
    separation: np.ndarray,
    options: Mapping[str, Any],
    coordinate_name: str,
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
                separation,
                structures.energy,
                energy,
                reference_path,
                m.path_forces(forces, structures.positions, coordinate),
                model.cutoff,
            ),
        }
    return curve_store(
        options["label"] or name,
        ProbeKind.DISSOCIATION,
        reference,
        separation,
        models,
        predictions,
        metrics,
        {**options, "coordinate_name": coordinate_name},
    )


def run_two_atoms(models, options):
    distances = np.linspace(options["min_gap"], options["max_gap"], options["num_points"])
    reference = two_atom_pairs(distances, "distance", "two_atoms probe")
    return dissociation_probe("two_atoms", models, reference, distances, options, "distance r")


def run_sn2(models, options):
    reference = open_reference(options)
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
        open_reference(options), options["structure"], options["fragment"], gaps, str(source)
    )
    separation = fragment_gap(reference["positions"].values, moving)
    return dissociation_probe("pull_apart", models, reference, separation, options, "fragment gap")


def run_torsion(models, options):
    reference = open_reference(options)
    if "coordinate" not in reference:
        angle = terminal_torsion_deg(
            reference["positions"].values, reference["atomic_numbers"].values
        )
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
        options["label"] or "torsion",
        ProbeKind.TORSION,
        reference,
        None,
        models,
        predictions,
        metrics,
        {**options, "coordinate_name": "terminal CH2 torsion"},
    )


def run_charge_transfer(models, options):
    reference = open_reference(options)
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
        options["label"] or "charge_transfer",
        ProbeKind.CHARGE_TRANSFER,
        reference,
        None,
        models,
        predictions,
        metrics,
        {**options, "coordinate_name": "pair"},
    )


#: Atoms of the molecule (Na⁺Cl⁻Na⁺) in every far-fragment structure; the far atom is last.
FAR_FRAGMENT_MOLECULE = slice(0, 3)
FAR_FRAGMENT_GROUPS = ("charged", "neutral")


def _scan_force_changes(forces: np.ndarray, scans: int) -> np.ndarray:
    """Forces ``(K·P, A, 3)`` of ``K`` scans → the change on the molecule ``(K, P, 3, 3)``
    against each scan's last point."""
    molecule = forces[:, FAR_FRAGMENT_MOLECULE].reshape(scans, -1, 3, 3)
    return molecule - molecule[:, -1:]


def run_far_fragment(models, options):
    distances = np.linspace(options["min_distance"], options["max_distance"], options["num_points"])
    reference = far_fragment_scans(
        options["num_molecules"], distances, options["seed"], "far_fragment probe"
    )
    structures, predictions = _predict_all(models, reference)
    scans = reference.sizes["structure"] // distances.size
    groups = reference["group"].values.astype(str).reshape(scans, -1)[:, 0]
    charged = groups == "charged"

    def mean_response(change: np.ndarray) -> np.ndarray:  # (groups, P)
        size = np.linalg.norm(change.reshape(scans, distances.size, -1), axis=-1)
        return np.stack([size[groups == group].mean(axis=0) for group in FAR_FRAGMENT_GROUPS])

    reference_change = _scan_force_changes(structures.forces, scans)
    metrics, responses = {}, {}
    for key, (energy, forces) in predictions.items():
        change = _scan_force_changes(forces, scans)
        responses[key] = mean_response(change)
        metrics[key] = {
            **m.energy_errors(structures.energy, energy),
            "forces_mae": m.forces_mae(structures.forces, forces, structures.atom_mask),
            **m.far_fragment_metrics(reference_change, change, charged),
        }
    store = curve_store(
        options["label"] or "far_fragment",
        ProbeKind.FAR_FRAGMENT,
        reference,
        None,
        models,
        predictions,
        metrics,
        {**options, "coordinate_name": "distance of the far atom from the pair's centre"},
    )
    return store.assign(
        response_variables(
            models, distances, FAR_FRAGMENT_GROUPS, mean_response(reference_change), responses
        )
    )


def _reach_metrics(models, structures, predictions, separation) -> dict:
    """Energy errors and :func:`efa.probes.metrics.reach_metrics` of every model along
    ``separation`` (Å)."""
    return {
        (model.label, model.seed): {
            **m.energy_errors(structures.energy, predictions[(model.label, model.seed)][0]),
            **m.reach_metrics(
                separation,
                structures.energy,
                predictions[(model.label, model.seed)][0],
                model.receptive_field,
            ),
        }
        for model in models
    }


def run_reach(models, options):
    gaps = np.linspace(options["min_gap"], options["max_gap"], options["num_points"])
    if options["reference"] is None:
        reference = two_atom_pairs(gaps, "distance", "reach probe (two atoms)")
        separation = gaps
    else:
        reference, moving = pulled_apart_structures(
            open_reference(options),
            options["structure"],
            options["fragment"],
            gaps,
            str(options["reference"]),
        )
        separation = fragment_gap(reference["positions"].values, moving)
    structures, predictions = _predict_all(models, reference)
    metrics = _reach_metrics(models, structures, predictions, separation)
    return curve_store(
        options["label"] or "reach",
        ProbeKind.REACH,
        reference,
        separation,
        models,
        predictions,
        metrics,
        {**options, "coordinate_name": "fragment gap"},
    )


def _finite_size_probe(name, models, reference, options, first, second, per, description):
    """A probe over sizes that pairs the structures of groups ``first`` and ``second``
    (:func:`efa.probes.metrics.paired_differences`); ``per(sizes)`` divides the difference."""
    structures, predictions = _predict_all(models, reference)
    size = reference["coordinate"].values
    groups = reference["group"].values.astype(str)
    sizes, difference = m.paired_differences(structures.energy, size, groups, first, second)
    differences, metrics = {}, {}
    for key, (energy, forces) in predictions.items():
        _, differences[key] = m.paired_differences(energy, size, groups, first, second)
        metrics[key] = {
            **m.energy_errors(structures.energy, energy),
            "forces_mae": m.forces_mae(structures.forces, forces, structures.atom_mask),
            **m.finite_size_metrics(difference, differences[key], per(sizes)),
        }
    store = curve_store(
        options["label"] or name,
        ProbeKind.FINITE_SIZE,
        reference,
        None,
        models,
        predictions,
        metrics,
        options,
    )
    return store.assign(
        size_difference_variables(models, sizes, difference / per(sizes), differences, per(sizes))
    ).assign_attrs(difference_name=description)


def run_nacl_supercell(models, options):
    from efa.probes.crystal import vacancy_supercells

    repeats = range(1, options["max_repeats"] + 1)
    reference = vacancy_supercells(repeats, options["lattice_constant"])
    return _finite_size_probe(
        "nacl_supercell",
        models,
        reference,
        {**options, "coordinate_name": "supercell L (L×L×L conventional cells)"},
        "vacancy",
        "perfect",
        np.ones_like,
        "charged Cl vacancy energy E(vacancy) − E(perfect) (eV)",
    )


def run_nacl_cutout(models, options):
    from efa.probes.crystal import cluster_cutouts

    edges = range(2, 2 * options["max_edge_pairs"] + 1, 2)
    reference = cluster_cutouts(edges, options["lattice_constant"])
    return _finite_size_probe(
        "nacl_cutout",
        models,
        reference,
        {**options, "coordinate_name": "ions in the cube"},
        "cluster",
        "cell",
        lambda ions: ions / 2,
        "cut-out energy per ion pair (E(cluster) − E(periodic cell)) / pairs (eV)",
    )


def run_nacl_slab(models, options):
    from efa.probes.crystal import charged_slabs

    widths = np.linspace(0.0, options["max_vacuum"], options["num_points"])
    reference, _ = charged_slabs(options["layers"], widths, options["lattice_constant"])
    structures, predictions = _predict_all(models, reference)
    metrics = _reach_metrics(models, structures, predictions, widths)
    for key, (energy, _) in predictions.items():
        metrics[key].update(m.vacuum_metrics(widths, structures.energy, energy))
    return curve_store(
        options["label"] or "nacl_slab",
        ProbeKind.VACUUM,
        reference,
        widths,
        models,
        predictions,
        metrics,
        {**options, "coordinate_name": "vacuum width"},
    )


def _starting_structures(reference: xr.Dataset, count: int) -> list[tuple]:
    """``count`` structures spread evenly over ``reference`` as ``(ase.Atoms, total charge)``."""
    from efa.data.atoms import to_atoms

    structures = Structures.from_dataset(reference)
    total = len(structures.energy)
    if not 1 <= count <= total:
        raise ConfigError(
            f"--num-trajectories {count}: expected 1 to {total} (the data set's size)"
        )
    if structures.periodic.any():
        raise ConfigError("probe 'nve': periodic cells are not supported yet; expected molecules")
    picked = []
    for index in np.linspace(0, total - 1, count).round().astype(int):
        picked.append((to_atoms(structures, index), int(structures.total_charge[index])))
    return picked


def _labeller(reference: xr.Dataset, source: str) -> Predictor | None:
    """The reference level of theory of ``reference`` as a predictor, or None if no labeller
    exists for it (:func:`efa.probes.labels.label_structures`)."""
    from efa.probes.labels import has_labeller, label_structures

    level = str(reference.attrs.get("level_of_theory", ""))
    if not has_labeller(level):
        return None

    def energy_forces(structures: Structures):
        mask = structures.atom_mask
        labelled = label_structures(
            [z[m] for z, m in zip(structures.atomic_numbers, mask)],
            [r[m] for r, m in zip(structures.positions, mask)],
            structures.total_charge,
            level,
            {"description": source, "source": source},
            source=source,
        )
        return labelled["energy"].values, labelled["forces"].values

    return Predictor("reference", 0, "reference", math.inf, math.nan, energy_forces, compiled=False)


def run_nve(models, options):
    from efa.probes.dynamics import nve_metrics, run_nve_trajectories

    check_unique(models)
    reference = open_reference(options)
    structures = _starting_structures(reference, options["num_trajectories"])
    steps, every, step_fs = options["steps"], options["sample_every"], options["timestep_fs"]
    time_ps = np.arange(steps // every + 1) * every * step_fs / 1000
    settings = dict(
        temperature_k=options["temperature_k"],
        timestep_fs=step_fs,
        steps=steps,
        sample_every=every,
        seed=options["seed"],
        failure_energy=options["failure_energy"],
    )
    duration = steps * step_fs / 1000
    labeller = (
        _labeller(reference, str(options["reference"])) if options["with_reference"] else None
    )
    reference_metrics, reference_deviation = {}, None
    if labeller is not None:
        reference_deviation, kinetic, failures = run_nve_trajectories(
            labeller, structures, **settings
        )
        reference_metrics = {
            f"{name}_reference": value
            for name, value in nve_metrics(
                time_ps, reference_deviation, failures, duration, kinetic
            ).items()
        }
    deviations, metrics = {}, {}
    for model in models:
        key = (model.label, model.seed)
        deviations[key], kinetic, failures = run_nve_trajectories(model, structures, **settings)
        metrics[key] = {
            **nve_metrics(time_ps, deviations[key], failures, duration, kinetic),
            **reference_metrics,
        }
    return dynamics_store(
        options["label"] or "nve",
        models,
        time_ps,
        deviations,
        reference_deviation,
        metrics,
        {
            **options,
            "level_of_theory": reference.attrs.get("level_of_theory", ""),
            "coordinate_name": "time",
        },
    )


def run_size_extrapolation(models, options):
    """Every model on the first ``num_structures`` structures of each data set of ``datasets``
    (:func:`efa.probes.size_scan.size_scan`); name data sets the models were not trained on."""
    from efa.data.store import open_dataset
    from efa.probes.size_scan import size_scan

    check_unique(models)
    entries = []
    for name in options["datasets"]:
        structures = Structures.from_dataset(open_dataset(name, options["datasets_root"]))
        count = min(options["num_structures"], len(structures.energy))
        entries += [(model, structures.select(np.arange(count))) for model in models]
    return size_scan(entries, options["label"] or "size_extrapolation", options)


def run_physics(models, options):
    """The physics checks (:mod:`efa.probes.physics`) of every model on ``num_structures``
    structures spread evenly over the data set ``reference`` (its labels are not used)."""
    from efa.probes.physics import PHYSICS_METRICS, CheckSettings, frames, physics_checks

    check_unique(models)
    reference = open_reference(options)
    structures = Structures.from_dataset(reference)
    total = len(structures.energy)
    if not 1 <= options["num_structures"] <= total:
        raise ConfigError(
            f"--num-structures {options['num_structures']}: expected 1 to {total} (the size of "
            f"data set {options['reference']!r})"
        )
    picked = np.linspace(0, total - 1, options["num_structures"]).round().astype(int)
    taken = frames(structures.select(picked))
    settings = CheckSettings(
        **{field: options[field] for field in CheckSettings.__dataclass_fields__}
    )
    metrics, reasons = {}, {}
    for model in models:
        metrics[(model.label, model.seed)], reasons[model.label] = physics_checks(
            model, taken, settings
        )
    return checks_store(
        options["label"] or "physics",
        models,
        metrics,
        reasons,
        PHYSICS_METRICS,
        {
            "reference": reference.attrs.get("name", options["reference"]),
            "reference_source": reference.attrs.get("source", ""),
        },
    )
