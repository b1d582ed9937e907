"""GFN2-xTB labels (energy, forces, partial charges; stress of periodic cells) through ``tblite``,
parallel over structures.

Each structure gets one single-point calculation (tblite works in Hartree and Bohr; results are
converted to eV, eV/Å and e). The SCF sometimes fails to converge, notably for ion–molecule
complexes at large separation. A failed structure is retried (:func:`scf_attempts`): first with
other mixer damping and initial guesses and up to 1000 iterations at the same electronic
temperature, then at an electronic temperature of 1000 K. The temperature that was used
is stored per structure (``electronic_temperature``, K), the number of retried structures in
``attrs['scf_retried']``. Structures that fail every attempt are reported on stderr and listed in
``attrs['scf_failed']`` (indices into the generated list); above ``max_failure_fraction`` the
build stops with a :class:`DataError`.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from tqdm import tqdm

from efa.data.schema import make_dataset, pad_atoms
from efa.errors import DataError

#: CODATA 2018's tabulated values, not efa.data.units' (ASE's, derived from other constants:
#: Hartree 27.211386245769308 eV, 8e-12 lower): the suite's xTB-labelled data sets are built
#: with these, and ASE's would change their bits and so every number trained on them.
HARTREE_EV = 27.211386245988
BOHR_ANGSTROM = 0.529177210903
KELVIN_HARTREE = 3.166808578545117e-6
LEVEL_OF_THEORY = "GFN2-xTB (tblite)"
CITATION_XTB = (
    "C. Bannwarth, S. Ehlert, S. Grimme, J. Chem. Theory Comput. 15, 1652 (2019), "
    "doi:10.1021/acs.jctc.8b01176"
)


@dataclass(frozen=True)
class ScfAttempt:
    """One set of SCF settings (``temperature``, ``max-iter``, ``mixer-damping``, ``guess``).

    ``guess`` 0 is a superposition of atomic densities, 1 EEQ charges. The Broyden history is
    capped at :data:`MIXER_MEMORY` vectors so that long SCF runs stay cheap.
    """

    temperature_k: float
    max_iterations: int = 250
    mixer_damping: float = 0.4
    guess: int = 1


MIXER_MEMORY = 250
#: tblite ``accuracy`` (SCF thresholds relative to the default 1.0): 0.01 keeps the force noise
#: from incomplete SCF convergence below ~1e-5 eV/Å (~2e-4 eV/Å at the default).
SCF_ACCURACY = 0.01


def scf_attempts(temperature_k: float) -> list[ScfAttempt]:
    """SCF settings tried in order for a structure at the electronic temperature ``temperature_k``.

    Different mixer damping and initial guesses first (they converge to the same solution, to
    ~1e-6 eV), then up to 1000 iterations, and only last a higher electronic temperature of
    1000 K (which changes the energy where the gap is small, hence recorded per structure).
    """
    attempts = [
        ScfAttempt(temperature_k, mixer_damping=0.4, guess=1),
        ScfAttempt(temperature_k, mixer_damping=0.2, guess=0),
        ScfAttempt(temperature_k, mixer_damping=0.1, guess=1),
        ScfAttempt(temperature_k, max_iterations=1000, mixer_damping=0.05, guess=0),
    ]
    if temperature_k < 1000:
        attempts.append(ScfAttempt(1000.0, max_iterations=1000, mixer_damping=0.2, guess=0))
    return attempts


@dataclass(frozen=True)
class _Job:
    numbers: np.ndarray
    positions: np.ndarray  # (N, 3) Å
    charge: int
    temperature_k: float
    cell: np.ndarray | None = None  # (3, 3) Å, rows are lattice vectors; None: a molecule


def _singlepoint(job: _Job) -> tuple | None:
    """(energy eV, forces (N, 3) eV/Å, charges (N,) e, temperature K, attempt index, stress
    (3, 3) eV/Å³ or None) or None.

    The stress of a periodic cell is tblite's virial (the strain derivative of the energy) over
    the cell volume: ``σ = (1/V) ∂E/∂ε``, the convention of the canonical ``stress``.
    """
    from tblite.exceptions import TBLiteRuntimeError
    from tblite.interface import Calculator

    for index, attempt in enumerate(scf_attempts(job.temperature_k)):
        periodic = {}
        if job.cell is not None:
            periodic = {"lattice": job.cell / BOHR_ANGSTROM, "periodic": np.ones(3, bool)}
        calculator = Calculator(
            "GFN2-xTB",
            job.numbers,
            job.positions / BOHR_ANGSTROM,
            charge=float(job.charge),
            **periodic,
        )
        calculator.set("verbosity", 0)
        calculator.set("accuracy", SCF_ACCURACY)
        calculator.set("temperature", attempt.temperature_k * KELVIN_HARTREE)
        calculator.set("max-iter", attempt.max_iterations)
        calculator.set("mixer-damping", attempt.mixer_damping)
        calculator.set("guess", attempt.guess)
        calculator.set("mixer-memory", MIXER_MEMORY)
        try:
            result = calculator.singlepoint()
        except TBLiteRuntimeError:
            continue
        energy = float(result.get("energy")) * HARTREE_EV
        forces = -np.asarray(result.get("gradient")) * HARTREE_EV / BOHR_ANGSTROM
        stress = None
        if job.cell is not None:
            volume = abs(np.linalg.det(job.cell))
            stress = np.asarray(result.get("virial")) * HARTREE_EV / volume
        charges = np.asarray(result.get("charges"))
        return energy, forces, charges, attempt.temperature_k, index, stress
    return None


def _single_threaded_worker() -> None:
    """Pool initializer: one OpenMP thread per worker process (set before tblite is loaded)."""
    os.environ["OMP_NUM_THREADS"] = "1"


def _label(jobs: Sequence[_Job], workers: int, source: str) -> list:
    """:func:`_singlepoint` of every job, in order, in ``workers`` single-threaded processes."""
    progress = dict(total=len(jobs), desc=f"GFN2-xTB {source}", unit="structure", disable=None)
    context = multiprocessing.get_context("forkserver")
    with context.Pool(workers, initializer=_single_threaded_worker) as pool:
        chunk = max(1, len(jobs) // (8 * workers))
        return list(tqdm(pool.imap(_singlepoint, jobs, chunksize=chunk), **progress))


def available_cores() -> int:
    """Number of CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def xtb_dataset(
    numbers: Sequence[np.ndarray],
    positions: Sequence[np.ndarray],
    total_charge: Sequence[int],
    attrs: Mapping,
    temperature_k: float = 300.0,
    coordinate: Sequence[float] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    max_failure_fraction: float = 0.01,
    workers: int | None = None,
    source: str = "xtb",
    cells: Sequence[np.ndarray] | None = None,
) -> xr.Dataset:
    """Label structures with GFN2-xTB and return a canonical data set.

    Args:
      numbers: per structure (N_s,) atomic numbers.
      positions: per structure (N_s, 3) Å.
      total_charge: per structure total charge in e.
      attrs: data set attrs (from :func:`generator_attrs`); SCF statistics are added.
      temperature_k: electronic temperature of the first SCF attempt.
      coordinate, extra: per-structure arrays passed to :func:`make_dataset` (failed structures
        are removed from them too).
      max_failure_fraction: largest tolerated fraction of structures whose SCF never converged.
      workers: processes; default all available cores (one for fewer than 8 structures).
      cells: per structure the ``(3, 3)`` lattice vectors (Å) of a cell periodic along all
        three of them; the data set then has ``cell``, ``pbc`` and the ``stress`` labels.

    Every structure is labelled in a worker process with one OpenMP thread, also where there is
    one worker, so the labels are bitwise the same whatever the number of workers or cores.
    """
    lattices = [None] * len(numbers) if cells is None else [np.asarray(c, float) for c in cells]
    jobs = [
        _Job(np.asarray(z, np.int32), np.asarray(r, np.float64), int(q), temperature_k, cell)
        for z, r, q, cell in zip(numbers, positions, total_charge, lattices, strict=True)
    ]
    workers = available_cores() if workers is None else workers
    results = _label(jobs, 1 if len(jobs) < 8 else max(1, workers), source)

    failed = [index for index, result in enumerate(results) if result is None]
    if len(failed) > max_failure_fraction * len(jobs):
        raise DataError(
            f"{source}: the GFN2-xTB SCF did not converge for {len(failed)} of {len(jobs)} "
            f"structures (first: {failed[:10]}) after {len(scf_attempts(temperature_k))} attempts "
            f"each; expected at most a fraction {max_failure_fraction}"
        )
    if failed:
        print(
            f"efa: warning: {source}: dropped {len(failed)} of {len(jobs)} structures whose "
            f"GFN2-xTB SCF did not converge: {failed}",
            file=sys.stderr,
        )
    keep = np.array([result is not None for result in results])
    done = [result for result in results if result is not None]

    def kept(array):
        return None if array is None else np.asarray(array)[keep]

    all_attrs = {
        **attrs,
        "level_of_theory": LEVEL_OF_THEORY,
        "scf_retried": int(sum(result[4] > 0 for result in done)),
        "scf_failed": failed,
        "units": {**attrs.get("units", {}), "partial_charges": "e", "electronic_temperature": "K"},
    }
    periodic = {}
    if cells is not None:
        periodic = {
            "cell": np.stack([cell for cell, k in zip(lattices, keep) if k]),
            "pbc": np.ones((len(done), 3), dtype=bool),
            "stress": np.stack([result[5] for result in done]),
        }
    return make_dataset(
        pad_atoms([r for r, k in zip(positions, keep) if k]),
        pad_atoms([z for z, k in zip(numbers, keep) if k]),
        np.array([result[0] for result in done]),
        pad_atoms([result[1] for result in done]),
        total_charge=kept(total_charge),
        coordinate=kept(coordinate),
        extra={
            "partial_charges": pad_atoms([result[2] for result in done]),
            "electronic_temperature": np.array([result[3] for result in done]),
            **{name: kept(array) for name, array in (extra or {}).items()},
        },
        attrs=all_attrs,
        source=source,
        **periodic,
    )
