"""NVE molecular dynamics with each model: energy conservation and time to failure.

Each trajectory starts from one structure of a data set with Maxwell–Boltzmann velocities at
temperature ``T`` (seeded per trajectory, so every model starts from the same state; total
momentum and angular momentum removed) and is integrated by ASE's velocity Verlet in float64 with
time step ``Δt``, the model giving energy and forces (:class:`PredictorCalculator`). With
``E_tot = E_pot + E_kin`` and ``N`` atoms the energy deviation is

    δ(t) = (E_tot(t) − E_tot(0)) / N   (eV/atom).

A conservative, smooth force field conserves ``E_tot`` up to the integrator's ``O(Δt²)`` error;
forces that are not the gradient of the energy, or an energy surface with steps (a cutoff
without a smooth envelope), make it drift or jump. A trajectory *fails* at the first step where
the energy or a force is not finite, two atoms come closer than :data:`MIN_DISTANCE`, or
``|δ|`` exceeds ``failure_energy`` (a model that has left the region it was trained on).

Metrics per model (:func:`nve_metrics`) over ``K`` trajectories, each taken up to its failure:

- ``energy_drift``: mean over trajectories of ``|b|``, the slope of the least-squares line
  ``δ(t) ≈ a + b t`` (eV/atom/ps);
- ``energy_fluctuation``: mean RMS of ``δ`` about that line (eV/atom);
- ``time_to_failure``: mean time of failure, the full duration for a trajectory that did not
  fail (ps);
- ``failed_fraction``: fraction of trajectories that failed;
- ``relative_energy_drift``: mean over trajectories of ``|b| τ / σ_kin``, the drift over the
  trajectory's span ``τ`` against the spread ``σ_kin`` (standard deviation) of its kinetic energy
  per atom: below 1 the drift hides in the thermal exchange between kinetic and potential energy,
  above 1 it does not. It normalises the drift as MLIPAudit does, by the kinetic-energy spread
  (LAMBench reports it in eV/atom/ps, as ``energy_drift``), and it compares across temperatures
  and time steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from jaxtyping import Bool, Float

from efa.predictors import Predictor
from efa.predictors.ase_calculator import PredictorCalculator

#: Two atoms closer than this (Å) end a trajectory as failed.
MIN_DISTANCE = 0.5


def nve_trajectory(
    calculator: Calculator,
    atoms: Atoms,
    temperature_k: float,
    timestep_fs: float,
    steps: int,
    sample_every: int,
    seed: int,
    failure_energy: float,
) -> tuple[Float[np.ndarray, " T"], Float[np.ndarray, " T"], float]:
    """One NVE trajectory: ``δ(t)`` and the kinetic energy per atom (eV/atom) at every
    ``sample_every``-th step (``T = steps // sample_every + 1`` samples, nan after a failure)
    and the failure time in ps (nan if none)."""
    atoms = atoms.copy()
    atoms.calc = calculator
    thermalize_momenta(atoms, temperature_k, rng=np.random.default_rng(seed))
    Stationary(atoms)
    ZeroRotation(atoms)
    dynamics = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    count = len(atoms)
    start = atoms.get_total_energy()
    deviation = np.full(steps // sample_every + 1, math.nan)
    kinetic = np.full(steps // sample_every + 1, math.nan)
    deviation[0] = 0.0
    kinetic[0] = atoms.get_kinetic_energy() / count
    for step in range(1, steps + 1):
        dynamics.run(1)
        value = (atoms.get_total_energy() - start) / count  # non-finite forces make it nan
        distances = atoms.get_all_distances()[np.triu_indices(count, 1)]
        if (
            not math.isfinite(value)
            or (distances.size and distances.min() < MIN_DISTANCE)
            or abs(value) > failure_energy
        ):
            return deviation, kinetic, step * timestep_fs / 1000
        if step % sample_every == 0:
            deviation[step // sample_every] = value
            kinetic[step // sample_every] = atoms.get_kinetic_energy() / count
    return deviation, kinetic, math.nan


def nve_metrics(
    time_ps: Float[np.ndarray, " T"],
    deviation: Float[np.ndarray, "K T"],
    failure_ps: Float[np.ndarray, " K"],
    duration_ps: float,
    kinetic: Float[np.ndarray, "K T"] | None = None,
) -> dict[str, float]:
    """The metrics of the module docstring from ``K`` trajectories sampled at ``time_ps``
    (``deviation`` nan after a failure; ``failure_ps`` nan for a trajectory that did not
    fail; ``kinetic`` the kinetic energy per atom, for ``relative_energy_drift``)."""
    slopes, spreads, relative = [], [], []
    for index, values in enumerate(deviation):
        kept = np.isfinite(values)
        if kept.sum() < 3:
            continue
        slope, intercept = np.polyfit(time_ps[kept], values[kept], 1)
        slopes.append(abs(slope))
        residual = values[kept] - (intercept + slope * time_ps[kept])
        spreads.append(float(np.sqrt(np.mean(residual**2))))
        if kinetic is not None:
            spread = float(np.std(kinetic[index][kept]))
            span = float(np.ptp(time_ps[kept]))
            relative.append(abs(slope) * span / spread if spread > 0 else math.inf)
    failed: Bool[np.ndarray, " K"] = np.isfinite(failure_ps)
    return {
        "energy_drift": float(np.mean(slopes)) if slopes else math.nan,
        "energy_fluctuation": float(np.mean(spreads)) if spreads else math.nan,
        "time_to_failure": float(np.mean(np.where(failed, failure_ps, duration_ps))),
        "failed_fraction": float(failed.mean()),
        **(
            {"relative_energy_drift": float(np.mean(relative)) if relative else math.nan}
            if kinetic is not None
            else {}
        ),
    }


def run_nve_trajectories(
    predictor: Predictor,
    structures: Sequence[tuple[Atoms, int]],
    temperature_k: float,
    timestep_fs: float,
    steps: int,
    sample_every: int,
    seed: int,
    failure_energy: float,
) -> tuple[Float[np.ndarray, "K T"], Float[np.ndarray, "K T"], Float[np.ndarray, " K"]]:
    """:func:`nve_trajectory` of ``predictor`` from every ``(atoms, charge)`` of
    ``structures``, trajectory ``k`` seeded with ``seed + k``: deviations ``(K, T)``, kinetic
    energies per atom ``(K, T)`` and failure times ``(K,)``."""
    runs = [
        nve_trajectory(
            PredictorCalculator(predictor, charge),
            atoms,
            temperature_k,
            timestep_fs,
            steps,
            sample_every,
            seed + index,
            failure_energy,
        )
        for index, (atoms, charge) in enumerate(structures)
    ]
    return (
        np.stack([deviation for deviation, _, _ in runs]),
        np.stack([kinetic for _, kinetic, _ in runs]),
        np.array([time for _, _, time in runs]),
    )
