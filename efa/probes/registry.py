"""The probes by name, their options with defaults and checks, and :func:`run_probe`.

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
``far_fragment``      far_fragment     Na⁺Cl⁻Na⁺ with a far Na⁺, Cl⁻ or neutral Ar moved
                                       along a ray, exact Coulomb + Born labels
``reach``             reach            a fragment moved out to 40 Å (default: the two atoms)
``physics``           physics          label-free checks of any model on structures of a data
                                       set (symmetry, gradients, locality, extensivity)
``nve``               dynamics         NVE molecular dynamics from structures of a data set
                                       (ASE velocity Verlet, float64), the reference level of
                                       theory where a labeller exists
``size_extrapolation``  size_scan      every model on the first structures of other data sets
                                       (larger systems than it was trained on)
``nacl_size``         size_scan        each run's own test split (NaCl clusters of growing size)
``nacl_supercell``    finite_size      rock-salt L×L×L supercells with and without a charged Cl
                                       vacancy, exact Ewald energies
``nacl_slab``         vacuum           a charged NaCl slab against the vacuum between its
                                       periodic images, exact Ewald energies
``nacl_cutout``       finite_size      neutral rock-salt cubes as clusters (direct sum) and as
                                       the periodic cells they tile (Ewald)
====================  ===============  =======================================================
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import xarray as xr

from efa.errors import ConfigError
from efa.option_types import fits_type
from efa.predictors import Predictor
from efa.probes.kinds import ProbeKind
from efa.probes.physics import PHYSICS_METRICS
from efa.probes.runners import (
    run_charge_transfer,
    run_far_fragment,
    run_nacl_cutout,
    run_nacl_slab,
    run_nacl_supercell,
    run_nve,
    run_physics,
    run_pull_apart,
    run_reach,
    run_size_extrapolation,
    run_sn2,
    run_torsion,
    run_two_atoms,
)


@dataclasses.dataclass(frozen=True)
class Probe:
    """A probe: its kind, a one-line description, accepted options with defaults, the function
    ``(models, options) → store``, the metrics its store holds per (model, seed) (targets may
    name these), and an optional check of the options taken together (raising
    :class:`ConfigError`)."""

    name: str
    kind: ProbeKind
    description: str
    defaults: Mapping[str, Any]
    run: Callable[[Sequence[Predictor], Mapping[str, Any]], xr.Dataset]
    metrics: tuple[str, ...]
    check: Callable[[Mapping[str, Any]], None] | None = None


#: Metrics of every probe evaluated on labelled structures.
_ERRORS = ("energy_mae", "energy_mae_aligned", "forces_mae")
_DISSOCIATION = (
    *_ERRORS,
    "energy_mae_beyond_cutoff",
    "dissociation_energy_error",
    "force_sign_flips",
    "force_sign_flips_reference",
    "energy_jumps",
)
_REACH = (
    "energy_mae",
    "energy_mae_aligned",
    "energy_change_mae",
    "change_beyond_receptive_field",
    "reach_distance",
    "reach_distance_reference",
)
_FINITE_SIZE = (*_ERRORS, "size_difference_error", "size_trend_error", "size_trend_reference")
_NVE = tuple(
    f"{name}{suffix}"
    for name in (
        "energy_drift",
        "energy_fluctuation",
        "time_to_failure",
        "failed_fraction",
        "relative_energy_drift",
    )
    for suffix in ("", "_reference")
)


def _reference_and_fragment(options: Mapping[str, Any]) -> None:
    if options["reference"] is None or options["fragment"] is None:
        raise ConfigError("probe 'pull_apart' needs --reference DATASET and --fragment I,J,…")


def _both_or_neither(options: Mapping[str, Any]) -> None:
    if (options["reference"] is None) != (options["fragment"] is None):
        raise ConfigError(
            "probe 'reach': give both --reference and --fragment, or neither (two atoms)"
        )


def _far_fragment_options(options: Mapping[str, Any]) -> None:
    if options["num_molecules"] < 1:
        raise ConfigError(f"--num-molecules {options['num_molecules']}: expected at least 1")
    if not 3.0 < options["min_distance"] < options["max_distance"]:
        raise ConfigError(
            f"--min-distance {options['min_distance']} / --max-distance "
            f"{options['max_distance']}: expected 3 < min < max (Å; the molecule reaches 2.8 Å "
            "from its centre)"
        )


def _nve_options(options: Mapping[str, Any]) -> None:
    if options["reference"] is None:
        raise ConfigError("probe 'nve': needs --reference DATASET (the starting structures)")
    for key in ("num_trajectories", "steps", "sample_every"):
        if options[key] < 1:
            raise ConfigError(f"--{key.replace('_', '-')} {options[key]}: expected at least 1")
    for key in ("temperature_k", "timestep_fs", "failure_energy"):
        if not options[key] > 0:
            raise ConfigError(f"--{key.replace('_', '-')} {options[key]}: expected a value > 0")
    if options["sample_every"] > options["steps"]:
        raise ConfigError(
            f"--sample-every {options['sample_every']}: expected at most --steps {options['steps']}"
        )


def _physics_options(options: Mapping[str, Any]) -> None:
    if options["reference"] is None:
        raise ConfigError("probe 'physics': needs --reference DATASET (the structures to check)")
    for key in ("num_structures", "num_rotations", "num_displacements"):
        if options[key] < 1:
            raise ConfigError(f"--{key.replace('_', '-')} {options[key]}: expected at least 1")
    if options["path_points"] < 2:
        raise ConfigError(f"--path-points {options['path_points']}: expected at least 2")
    for key in ("fd_step", "strain_step", "ghost_distance", "copy_distance"):
        if not 0 < options[key] < math.inf:
            raise ConfigError(
                f"--{key.replace('_', '-')} {options[key]}: expected a finite value > 0"
            )


def _size_extrapolation_options(options: Mapping[str, Any]) -> None:
    if not options["datasets"]:
        raise ConfigError(
            "probe 'size_extrapolation': needs --datasets NAME,NAME,… (data sets of growing size)"
        )
    if options["num_structures"] < 1:
        raise ConfigError(f"--num-structures {options['num_structures']}: expected at least 1")


def _at_least(key: str, minimum: int) -> Callable[[Mapping[str, Any]], None]:
    def check(options: Mapping[str, Any]) -> None:
        if options[key] < minimum:
            raise ConfigError(
                f"--{key.replace('_', '-')} {options[key]}: expected at least {minimum}"
            )

    return check


_COMMON = {"label": None}

_FROM_DATA = {"datasets_root": "datasets"}

PROBES: dict[str, Probe] = {
    probe.name: probe
    for probe in (
        Probe(
            "two_atoms",
            ProbeKind.DISSOCIATION,
            "two-atom dissociation curve, analytic reference",
            {**_COMMON, "num_points": 181, "min_gap": 1.0, "max_gap": 10.0},
            run_two_atoms,
            _DISSOCIATION,
        ),
        Probe(
            "sn2",
            ProbeKind.DISSOCIATION,
            "SN2 reaction-coordinate scan (free ion leaving)",
            {**_COMMON, **_FROM_DATA, "reference": "sn2_scan"},
            run_sn2,
            _DISSOCIATION,
        ),
        Probe(
            "pull_apart",
            ProbeKind.DISSOCIATION,
            "pull a fragment of one structure of a data set away, labelled at its level of theory",
            {
                **_COMMON,
                **_FROM_DATA,
                "reference": None,
                "structure": 0,
                "fragment": None,
                "num_points": 41,
                "min_gap": 1.5,
                "max_gap": 12.0,
            },
            run_pull_apart,
            _DISSOCIATION,
            _reference_and_fragment,
        ),
        Probe(
            "torsion",
            ProbeKind.TORSION,
            "cumulene terminal CH2 torsion scan",
            {**_COMMON, **_FROM_DATA, "reference": "cumulene_torsion"},
            run_torsion,
            (
                *_ERRORS,
                "barrier",
                "barrier_reference",
                "barrier_error",
                "barrier_relative_error",
                "profile_correlation",
            ),
        ),
        Probe(
            "charge_transfer",
            ProbeKind.CHARGE_TRANSFER,
            "C10H2 vs C10H3+: change of energy and far-end forces on protonation",
            {**_COMMON, **_FROM_DATA, "reference": "carbon_chain_probe", "far_atoms": (9, 10)},
            run_charge_transfer,
            (
                *_ERRORS,
                "energy_change_error",
                "far_force_change_reference",
                "far_force_change_predicted",
                "far_force_change_error",
                "far_force_change_relative_error",
            ),
        ),
        Probe(
            "far_fragment",
            ProbeKind.FAR_FRAGMENT,
            "a far ion must move a molecule's forces by the Coulomb amount, a far neutral atom not",
            {
                **_COMMON,
                "num_molecules": 8,
                "num_points": 11,
                "min_distance": 10.0,
                "max_distance": 15.0,
                "seed": 0,
            },
            run_far_fragment,
            (
                *_ERRORS,
                "far_response_reference",
                "charged_response_error",
                "neutral_response",
                "neutral_response_reference",
                "neutral_response_error",
            ),
            _far_fragment_options,
        ),
        Probe(
            "reach",
            ProbeKind.REACH,
            "move a fragment out to 40 Å and record the energy change",
            {
                **_COMMON,
                **_FROM_DATA,
                "reference": None,
                "structure": 0,
                "fragment": None,
                "num_points": 157,
                "min_gap": 1.0,
                "max_gap": 40.0,
            },
            run_reach,
            _REACH,
            _both_or_neither,
        ),
        Probe(
            "nve",
            ProbeKind.DYNAMICS,
            "NVE molecular dynamics: energy drift per atom and ps, time to failure",
            {
                **_COMMON,
                **_FROM_DATA,
                "reference": None,
                "num_trajectories": 4,
                "temperature_k": 300.0,
                "timestep_fs": 0.5,
                "steps": 2000,
                "sample_every": 10,
                "failure_energy": 0.1,
                "seed": 0,
                "with_reference": True,
            },
            run_nve,
            _NVE,
            _nve_options,
        ),
        Probe(
            "physics",
            ProbeKind.PHYSICS,
            "laws any force field must obey, no labels needed: symmetry, forces and stress as "
            "gradients, smooth paths, no response to far neutral atoms, extensivity, Coulomb "
            "far field",
            {
                **_COMMON,
                **_FROM_DATA,
                "reference": None,
                "num_structures": 4,
                "num_rotations": 3,
                "num_displacements": 6,
                "fd_step": 0.01,
                "strain_step": 0.001,
                "path_points": 41,
                "ghost_distance": 20.0,
                "copy_distance": 15.0,
                "seed": 0,
            },
            run_physics,
            PHYSICS_METRICS,
            _physics_options,
        ),
        Probe(
            "size_extrapolation",
            ProbeKind.SIZE_SCAN,
            "per-atom error on larger systems than the training set's (data sets by name)",
            {**_COMMON, **_FROM_DATA, "datasets": None, "num_structures": 50},
            run_size_extrapolation,
            ("per_atom_error_growth", "energy_mae_per_atom", "forces_mae"),
            _size_extrapolation_options,
        ),
        Probe(
            "nacl_supercell",
            ProbeKind.FINITE_SIZE,
            "charged vacancy in growing rock-salt supercells (extensivity, 1/L convergence)",
            {**_COMMON, "max_repeats": 3, "lattice_constant": 5.64},
            run_nacl_supercell,
            _FINITE_SIZE,
            _at_least("max_repeats", 2),
        ),
        Probe(
            "nacl_slab",
            ProbeKind.VACUUM,
            "charged NaCl slab: energy against the vacuum width between its images",
            {
                **_COMMON,
                "layers": 2,
                "max_vacuum": 24.0,
                "num_points": 13,
                "lattice_constant": 5.64,
            },
            run_nacl_slab,
            (*_REACH, "vacuum_slope", "vacuum_slope_reference", "vacuum_slope_error"),
            _at_least("layers", 1),
        ),
        Probe(
            "nacl_cutout",
            ProbeKind.FINITE_SIZE,
            "neutral rock-salt cubes: cluster cut-out against the periodic cell",
            {**_COMMON, "max_edge_pairs": 3, "lattice_constant": 5.64},
            run_nacl_cutout,
            _FINITE_SIZE,
            _at_least("max_edge_pairs", 2),
        ),
    )
}

#: The size-scan probe takes runs (each evaluated on its own test split), not one structure set.
SIZE_SCAN_PROBES = {"nacl_size": "per-atom energy error vs cluster size (each run's test split)"}
#: Metrics of the size-scan probe's store (``energy_mae_per_atom`` and ``forces_mae`` per point).
SIZE_SCAN_METRICS = ("per_atom_error_growth", "energy_mae_per_atom", "forces_mae")


def probe_metrics(name: str) -> tuple[str, ...]:
    """The metrics of probe ``name``'s store (:data:`PROBES` or :data:`SIZE_SCAN_PROBES`)."""
    return SIZE_SCAN_METRICS if name in SIZE_SCAN_PROBES else PROBES[name].metrics


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
    if probe.check is not None:
        probe.check(options)
    if "num_points" in options and options["num_points"] < 2:
        raise ConfigError(f"--num-points {options['num_points']}: expected at least 2")
    for key in ("lattice_constant", "max_vacuum"):
        if key in options and not options[key] > 0:
            raise ConfigError(
                f"--{key.replace('_', '-')} {options[key]}: expected a length > 0 (Å)"
            )
    if "min_gap" in options and not 0 < options["min_gap"] < options["max_gap"]:
        raise ConfigError(
            f"--min-gap {options['min_gap']} / --max-gap {options['max_gap']}: expected "
            "0 < min < max (Å)"
        )
    return options


def _check_type(key: str, value: Any, default: Any) -> None:
    """An option of the type of its default: an integer, or a finite number (Å)."""
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return
    hint, what = (int, "an integer") if isinstance(default, int) else (float, "a finite number")
    if not fits_type(value, hint):
        raise ConfigError(f"--{key.replace('_', '-')} {value!r}: expected {what}")


def run_probe(name: str, models: Sequence[Predictor], **given) -> xr.Dataset:
    """Evaluate probe ``name`` (a key of :data:`PROBES`) for ``models``; return its store."""
    if name not in PROBES:
        raise ConfigError(
            f"probe {name!r}: unknown; expected one of {', '.join(all_probe_names())}"
        )
    options = probe_options(name, given)
    dataset = PROBES[name].run(models, options)
    dataset.attrs["options"] = json.dumps(options, sort_keys=True, default=str)
    return dataset


def probe_option_names() -> list[str]:
    """Every option of any probe (each is an ``efa probe`` argument)."""
    return sorted({key for probe in PROBES.values() for key in probe.defaults})


def all_probe_names() -> list[str]:
    """Every probe name accepted by ``efa probe``."""
    return [*PROBES, *SIZE_SCAN_PROBES]
