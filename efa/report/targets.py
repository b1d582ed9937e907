"""Quality targets of the suite (docs/science.md, "Probes"), measured from the result stores.

Models are paired by family (``efa`` vs ``local``, a coordinate of every probe store).
Conservative pairing: the EFA side uses the *worst* EFA run (model and training seed), the local
side the *best* local run, so that a target holds for every pair of runs, not only on average.
Only the targets of the probes in the report are judged (a configuration without a torsion probe
has no torsion targets); a target whose models are missing from its probe store is reported as
not measured and counts as not met.
A target judged on a run whose training stopped on its time limit before its step budget
(``truncated``) is reported as not met, with the runs named: its value would depend on the speed
of the machine.

1. every probe store holds a finite reference and a finite prediction for each of its models;
2. two atoms: energy MAE beyond the cutoff ≥ 10× lower for EFA than local;
3. GFN2-xTB cumulene torsion: EFA barrier within 25 % of the reference;
4. GFN2-xTB cumulene torsion: local barrier off by more than 75 %;
5. charge transfer: EFA far-end force change error < 30 % of the change;
6. charge transfer: local misses it (error ≥ 70 % of the change);
7. periodic charged vacancy (``nacl_supercell``): local misses the size dependence of its
   energy (trend error ≥ 50 % of the reference's change from the smallest to the largest cell);
8. periodic charged vacancy: EFA follows it (trend error < 25 %);
9. periodic charged slab (``nacl_slab``): the local energy is flat (≤ 1 µeV) beyond the local
   receptive field, where the reference keeps changing (the slope of a charged sheet);
10. periodic charged slab: EFA's slope against the vacuum width within 25 % of the reference's;
11. far fragment: EFA moves the molecule's forces by the Coulomb amount when a far ion moves
    (``charged_response_error`` < 30 %);
12. far fragment: local misses that response (error ≥ 70 %);
13. far fragment: EFA does not respond to a far neutral atom (``neutral_response_error`` < 10 %
    of the ion's response): real, not spurious, long range;
14. NVE dynamics (``nve``): EFA conserves energy, ``energy_drift`` < 1 meV/atom/ps;
15. NVE dynamics: no EFA trajectory fails (``failed_fraction`` = 0);
16. SN2 (the ``sn2_scan`` reaction scan): energy MAE where the free ion is beyond the cutoff of
    every atom ≥ 3× lower for EFA than local;
17. SN2: EFA's scan has no jumps beyond the reference's (``energy_jumps``, the excess total
    variation of the predicted curve, ≤ 0).
18. depth (from the test metrics, for every experiment whose models are labelled
    ``<family>_T<k>``, the paper's 3D clusters): the shallowest EFA model has a lower test force
    RMSE than the local model at every depth (smallest ratio local / EFA > 1);
19. size scan (``nacl_size``): EFA's per-atom energy error is flat in the cluster size
    (``per_atom_error_growth``, largest over smallest size, ≤ 2);
20. size scan: at the largest size EFA's per-atom energy error is at most half the local
    model's (worst EFA run against best local run), so that a flat error means a learned one:
    two models that learned nothing are flat too.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from efa.probes.labels import GFN2_LEVEL, TWO_ATOM_LEVEL


@dataclasses.dataclass(frozen=True)
class Target:
    """A target's description, its measured value (nan if not measured) and whether it is met."""

    description: str
    value: float
    met: bool
    detail: str = ""
    truncated: tuple[str, ...] = ()

    def line(self) -> str:
        """``[met] description: measured … (detail)``; truncated runs are named."""
        if self.truncated:
            status = "NOT met: truncated runs"
        else:
            status = (
                "met" if self.met else ("NOT MEASURED" if math.isnan(self.value) else "NOT met")
            )
        notes = [self.detail] if self.detail else []
        if self.truncated:
            notes.append(
                "judged on runs stopped by their time limit before their step budget: "
                + ", ".join(self.truncated)
            )
        detail = f" ({'; '.join(notes)})" if notes else ""
        return f"[{status}] {self.description}: measured {self.value:.3g}{detail}"


def truncated_runs(
    store: xr.Dataset | None, families: Sequence[str] = ("efa", "local")
) -> tuple[str, ...]:
    """``model/seed<k>`` of every run of ``families`` in a probe store that was truncated."""
    if store is None or "truncated" not in store:
        return ()
    probe = store.isel(probe=0)
    names = []
    for model, family in zip(probe["model"].values, probe["family"].values):
        if family not in families:
            continue
        for seed in probe["seed"].values:
            if probe["truncated"].sel(model=model, seed=seed).item() == 1:
                names.append(f"{model}/seed{int(seed)}")
    return tuple(names)


def _judged(target: Target, store: xr.Dataset | None, families: Sequence[str]) -> Target:
    """``target``, not met if any run it was judged on was truncated."""
    runs = truncated_runs(store, families)
    if not runs:
        return target
    return dataclasses.replace(target, met=False, truncated=runs)


def targets_line(results: Sequence[bool]) -> str:
    """The closing line of every benchmark and of the report: ``targets met: K/N``."""
    return f"targets met: {sum(results)}/{len(results)}"


def family_values(store: xr.Dataset, metric: str, family: str) -> np.ndarray:
    """``metric`` of every run (model × seed) of ``family``, finite values only."""
    probe = store.isel(probe=0)
    models = [m for m, f in zip(probe["model"].values, probe["family"].values) if f == family]
    values = probe[metric].sel(model=models).values.ravel()
    return values[np.isfinite(values)]


def _find(
    stores: Sequence[xr.Dataset], predicate: Callable[[xr.Dataset], bool]
) -> xr.Dataset | None:
    return next((store for store in stores if predicate(store)), None)


def _complete(store: xr.Dataset) -> bool:
    probe = store.isel(probe=0)
    if "energy_predicted" not in probe:
        curve = probe[store.attrs.get("curve", "energy_mae_per_atom")].values
        per_model = np.isfinite(curve).reshape(curve.shape[0], -1).any(axis=1)
        return bool(np.all(per_model))
    reference_ok = bool(np.all(np.isfinite(probe["energy_reference"].values)))
    per_model = np.any(np.all(np.isfinite(probe["energy_predicted"].values), axis=-1), axis=-1)
    return reference_ok and bool(np.all(per_model))


def _beyond_cutoff_ratio(store: xr.Dataset, description: str, bound: float) -> Target:
    """``min(local) / max(EFA)`` of ``energy_mae_beyond_cutoff`` over the runs of a
    dissociation store, met at ``bound`` or more."""
    efa = family_values(store, "energy_mae_beyond_cutoff", "efa")
    local = family_values(store, "energy_mae_beyond_cutoff", "local")
    measured = len(efa) and len(local) and np.max(efa) > 0
    ratio = float(np.min(local) / np.max(efa)) if measured else math.nan
    return _judged(
        Target(
            description,
            ratio,
            ratio >= bound,
            f"EFA {np.max(efa):.3g} eV, local {np.min(local):.3g} eV" if measured else "",
        ),
        store,
        ("efa", "local"),
    )


def evaluate_targets(
    stores: Sequence[xr.Dataset], metrics: xr.Dataset | None = None
) -> list[Target]:
    """Measure the targets listed in the module docstring on the probe stores and, for the
    depth target, on the combined test metrics (dims experiment, model, seed)."""
    targets = _depth_targets(metrics) if metrics is not None else []
    if not stores:
        return targets
    complete = [_complete(store) for store in stores]
    targets.append(
        Target(
            "probe stores hold reference and prediction for every model",
            float(sum(complete)) if stores else math.nan,
            bool(stores) and all(complete),
            f"{sum(complete)} of {len(stores)} stores complete",
        )
    )

    two_atoms = _find(
        stores,
        lambda s: (
            s.attrs.get("kind") == "dissociation"
            and s.attrs.get("level_of_theory") == TWO_ATOM_LEVEL
        ),
    )
    if two_atoms is not None:
        targets.append(
            _beyond_cutoff_ratio(
                two_atoms, "two atoms: energy MAE beyond cutoff, local / EFA >= 10", 10
            )
        )

    torsion = _find(
        stores,
        lambda s: (
            s.attrs.get("kind") == "torsion"
            and s.attrs.get("level_of_theory", "").startswith(GFN2_LEVEL.split(" ")[0])
        ),
    )
    for family, bound, text in (("efa", 0.25, "within 25 %"), ("local", 0.75, "off by > 75 %")):
        if torsion is None:
            break
        values = family_values(torsion, "barrier_relative_error", family)
        value = float((np.max if family == "efa" else np.min)(values)) if len(values) else math.nan
        met = value < bound if family == "efa" else value > bound
        targets.append(
            _judged(
                Target(
                    f"GFN2-xTB torsion: {family} barrier {text} of the reference (relative error)",
                    value,
                    bool(met),
                ),
                torsion,
                (family,),
            )
        )

    transfer = _find(stores, lambda s: s.attrs.get("kind") == "charge_transfer")
    for family, bound, text in (("efa", 0.3, "< 30 %"), ("local", 0.7, ">= 70 %")):
        if transfer is None:
            break
        values = family_values(transfer, "far_force_change_relative_error", family)
        value = float((np.max if family == "efa" else np.min)(values)) if len(values) else math.nan
        met = value < bound if family == "efa" else value >= bound
        targets.append(
            _judged(
                Target(
                    f"charge transfer: {family} far-end force change error {text} of the change",
                    value,
                    bool(met),
                ),
                transfer,
                (family,),
            )
        )
    targets += _periodic_targets(stores)
    targets += _far_fragment_targets(stores)
    targets += _dynamics_targets(stores)
    targets += _sn2_targets(stores)
    targets += _size_scan_targets(stores)
    return targets


#: Test metric of the depth target (the paper's figure shows the force RMSE against depth).
DEPTH_METRIC = "forces_rmse"
#: Largest growth of EFA's per-atom energy error over a size scan that counts as flat.
MAX_ERROR_GROWTH = 2.0
#: Smallest ratio local / EFA of the per-atom energy error at the largest size of a size scan.
MIN_LOCAL_OVER_EFA_AT_LARGEST = 2.0


def _depth_targets(metrics: xr.Dataset) -> list[Target]:
    """Target 18 (module docstring): per experiment with ``efa_T<k>`` and ``local_T<k>`` models,
    ``min_T min_seeds(local_T) / max_seeds(EFA at its smallest depth)``, met above 1."""
    from efa.report.figures import DEPTH_LABEL

    if DEPTH_METRIC not in metrics:
        return []
    targets = []
    for experiment in metrics["experiment"].values:
        runs = metrics.sel(experiment=experiment)
        depths: dict[str, dict[int, str]] = {}
        for model in runs["model"].values:
            match = DEPTH_LABEL.match(str(model))
            values = runs[DEPTH_METRIC].sel(model=model).values
            if match and np.isfinite(values).any():
                depths.setdefault(match["family"], {})[int(match["depth"])] = str(model)
        if "efa" not in depths or "local" not in depths:
            continue
        efa_model = depths["efa"][min(depths["efa"])]
        efa = float(np.nanmax(runs[DEPTH_METRIC].sel(model=efa_model).values))
        ratios = {
            depth: float(np.nanmin(runs[DEPTH_METRIC].sel(model=model).values)) / efa
            for depth, model in sorted(depths["local"].items())
        }
        value = min(ratios.values())
        truncated = tuple(
            f"{model}/seed{int(seed)}"
            for model in [efa_model, *depths["local"].values()]
            for seed in runs["seed"].values
            if "truncated" in runs and runs["truncated"].sel(model=model, seed=seed).item() == 1
        )
        targets.append(
            Target(
                f"depth ({experiment}): {efa_model} test force RMSE below local at every depth "
                "(smallest local / EFA)",
                value,
                bool(value > 1),
                ", ".join(f"T={depth}: {ratio:.3g}" for depth, ratio in ratios.items()),
                truncated,
            )
        )
    return targets


def _size_scan_targets(stores: Sequence[xr.Dataset]) -> list[Target]:
    """Target 19 (module docstring) of the ``nacl_size`` probe."""
    store = _find(
        stores,
        lambda s: (
            s.attrs.get("kind") == "size_scan"
            and "datasets" not in json.loads(s.attrs.get("options", "{}"))
        ),
    )  # size_extrapolation, the other size scan, names the data sets it predicts
    if store is None:
        return []
    growth = family_values(store, "per_atom_error_growth", "efa")
    local = family_values(store, "per_atom_error_growth", "local")
    worst = float(np.max(growth)) if len(growth) else math.nan
    targets = [
        _judged(
            Target(
                "size scan: efa per-atom energy error flat in the cluster size (largest / "
                "smallest size <= 2)",
                worst,
                bool(worst <= MAX_ERROR_GROWTH),
                f"local {np.min(local):.3g}" if len(local) else "",
            ),
            store,
            ("efa",),
        )
    ]
    errors = {
        family: family_values(store.isel(point=-1), "energy_mae_per_atom", family)
        for family in ("efa", "local")
    }
    if len(errors["local"]):
        efa = float(np.max(errors["efa"])) if len(errors["efa"]) else math.nan
        ratio = float(np.min(errors["local"])) / efa
        size = int(store["coordinate"].isel(probe=0, point=-1))
        targets.append(
            _judged(
                Target(
                    f"size scan: at {size} atoms efa per-atom energy error at most half the "
                    "local model's (local / efa >= 2)",
                    ratio,
                    bool(ratio >= MIN_LOCAL_OVER_EFA_AT_LARGEST),
                    f"efa {efa:.3g}, local {np.min(errors['local']):.3g} eV/atom",
                ),
                store,
                ("efa", "local"),
            )
        )
    return targets


#: The GFN2-xTB reaction scan of the default suite's SN2 probe.
SN2_SCAN = "sn2_scan"


def _sn2_targets(stores: Sequence[xr.Dataset]) -> list[Target]:
    """Targets 16–17 (module docstring) of the SN2 scan."""
    store = _find(
        stores,
        lambda s: s.attrs.get("kind") == "dissociation" and s.attrs.get("reference") == SN2_SCAN,
    )
    if store is None:
        return []
    jumps = family_values(store, "energy_jumps", "efa")
    worst_jumps = float(np.max(jumps)) if len(jumps) else math.nan
    return [
        _beyond_cutoff_ratio(
            store, "SN2 scan: energy MAE with the ion beyond the cutoff, local / EFA >= 3", 3
        ),
        _judged(
            Target(
                "SN2 scan: efa has no jumps beyond the reference's (excess total variation <= 0)",
                worst_jumps,
                bool(worst_jumps <= 0),
            ),
            store,
            ("efa",),
        ),
    ]


#: Largest EFA energy drift (eV/atom/ps) that counts as conserving energy.
MAX_ENERGY_DRIFT = 1e-3


def _dynamics_targets(stores: Sequence[xr.Dataset]) -> list[Target]:
    """Targets 14–15 (module docstring) of the NVE probe."""
    store = _find(stores, lambda s: s.attrs.get("kind") == "dynamics")
    if store is None:
        return []
    drift = family_values(store, "energy_drift", "efa")
    failed = family_values(store, "failed_fraction", "efa")
    local = family_values(store, "energy_drift", "local")
    worst_drift = float(np.max(drift)) if len(drift) else math.nan
    worst_failed = float(np.max(failed)) if len(failed) else math.nan
    return [
        _judged(
            Target(
                "NVE dynamics: efa conserves energy (drift < 1 meV/atom/ps)",
                worst_drift,
                bool(worst_drift < MAX_ENERGY_DRIFT),
                f"local {np.max(local):.3g} eV/atom/ps" if len(local) else "",
            ),
            store,
            ("efa",),
        ),
        _judged(
            Target(
                "NVE dynamics: no efa trajectory fails (fraction failed)",
                worst_failed,
                bool(worst_failed == 0),
            ),
            store,
            ("efa",),
        ),
    ]


def _far_fragment_targets(stores: Sequence[xr.Dataset]) -> list[Target]:
    """Targets 11–13 (module docstring) of the far-fragment probe."""
    store = _find(stores, lambda s: s.attrs.get("kind") == "far_fragment")
    if store is None:
        return []
    targets = []
    for family, metric, bound, text in (
        ("efa", "charged_response_error", 0.3, "follows a far ion's Coulomb pull (error < 30 %)"),
        ("local", "charged_response_error", 0.7, "misses a far ion's pull (error >= 70 %)"),
        (
            "efa",
            "neutral_response_error",
            0.1,
            "ignores a far neutral atom (spurious response < 10 % of the ion's)",
        ),
    ):
        values = family_values(store, metric, family)
        worst = np.max if (family == "efa") else np.min
        value = float(worst(values)) if len(values) else math.nan
        met = value < bound if family == "efa" else value >= bound
        targets.append(
            _judged(Target(f"far fragment: {family} {text}", value, bool(met)), store, (family,))
        )
    return targets


def _relative(store: xr.Dataset, metric: str, reference: str, family: str) -> np.ndarray:
    """``metric / |reference|`` of every run of ``family`` (the reference is one value per
    probe, repeated for every model)."""
    scale = np.abs(store[reference].values)
    scale = float(np.nanmax(scale)) if np.isfinite(scale).any() else math.nan
    return family_values(store, metric, family) / scale


def _periodic_targets(stores: Sequence[xr.Dataset]) -> list[Target]:
    """Targets 7–10 (module docstring) of the periodic probes in ``stores``."""
    targets = []
    supercell = _find(
        stores,
        lambda s: (
            s.attrs.get("kind") == "finite_size"
            and "vacancy" in str(s.attrs.get("difference_name", ""))
        ),
    )
    for family, bound, text in (("local", 0.5, ">= 50 %"), ("efa", 0.25, "< 25 %")):
        if supercell is None:
            break
        values = _relative(supercell, "size_trend_error", "size_trend_reference", family)
        value = (
            float((np.min if family == "local" else np.max)(values)) if len(values) else math.nan
        )
        met = value >= bound if family == "local" else value < bound
        targets.append(
            _judged(
                Target(
                    f"periodic charged vacancy: {family} error of the energy's size dependence "
                    f"{text} of the reference's",
                    value,
                    bool(met),
                ),
                supercell,
                (family,),
            )
        )
    slab = _find(stores, lambda s: s.attrs.get("kind") == "vacuum")
    if slab is not None:
        local = family_values(slab, "change_beyond_receptive_field", "local")
        slope = slab.isel(probe=0)["vacuum_slope_reference"].values
        slope = float(np.nanmax(np.abs(slope))) if np.isfinite(slope).any() else math.nan
        value = float(np.max(local)) if len(local) else math.nan
        targets.append(
            _judged(
                Target(
                    "periodic charged slab: local energy flat (<= 1e-6 eV) beyond its receptive "
                    "field while the reference rises with the vacuum",
                    value,
                    bool(value <= 1e-6 and slope > 0.01),
                    f"reference slope {slope:.3g} eV/Å",
                ),
                slab,
                ("local",),
            )
        )
        values = _relative(slab, "vacuum_slope_error", "vacuum_slope_reference", "efa")
        value = float(np.max(values)) if len(values) else math.nan
        targets.append(
            _judged(
                Target(
                    "periodic charged slab: EFA slope against the vacuum within 25 % of the "
                    "reference's",
                    value,
                    bool(value < 0.25),
                ),
                slab,
                ("efa",),
            )
        )
    return targets
