"""Physics checks that need no labels: laws every force field must obey, for any model.

Each check compares a model with itself on transformed copies of a structure ``x`` (``N``
atoms, positions ``r_i``, total charge ``q``); the value of a metric is its worst case over the
structures taken.

===============================  =======  =====================================================
metric                           unit     definition
===============================  =======  =====================================================
``invariance_energy_error``      eV/atom  ``max_g |E(g·x) − E(x)| / N`` over rotations,
                                          a translation and a permutation of the atoms ``g``
``equivariance_force_error``     eV/Å     ``max_g max_i |F_π(i)(g·x) − R F_i(x)|``
``force_consistency_error``      eV/Å     ``max |F_ia + (E(r + h e_ia) − E(r − h e_ia)) / 2h|``
                                          over sampled atoms ``i`` and directions ``a``
``stress_consistency_error``     eV/Å³    ``max |σ_ab − (E(ε_ab = +h) − E(ε_ab = −h)) / 2hV|``
                                          (symmetric strain ``ε``, cell and positions
                                          strained together; cells periodic in 3 directions)
``path_work_error``              eV       ``max_k |E_k+1 − E_k + ½ (F_k + F_k+1)·(r_k+1 − r_k)|``
                                          along a straight path ``r(t) = r + t d`` (molecules:
                                          a dilation about the centroid, ``d = r − r̄``; cells:
                                          random unit displacements): energy and forces agree
                                          step by step, no jump
``ghost_atom_energy``            eV       ``|E(x + g) − E(x) − E(g)|`` with one neutral atom
                                          ``g`` (the lightest element of ``x``) placed
                                          ``ghost_distance`` beyond the structure (molecules)
``ghost_atom_force``             eV/Å     ``max_i ‖F_i(x + g) − F_i(x)‖`` over the atoms of
                                          ``x`` (ml-peg's locality metric: the largest
                                          force change caused by far atoms)
``extensivity_error``            eV/atom  ``|E(x ⊕ x_d) − 2E(x) − k q²/|d|| / 2N`` (ml-peg's
                                          ``E(A+B) − E(A) − E(B)`` per atom): two copies
                                          ``|d| = extent + copy_distance`` apart (molecules),
                                          ``k = 14.3996 eV·Å``
``coulomb_far_field_error``      1        ``|ΔE − k q² (1/|d|₁ − 1/|d|₂)| / |k q² (…)|`` with
                                          ``ΔE = E(x ⊕ x_d₁) − E(x ⊕ x_d₂)``, ``|d|₂ = 2|d|₁``
                                          (charged molecules, models that take the charge)
``supercell_error``              eV/atom  ``|E(2×2×2 supercell) / 8N − E(x) / N|``
                                          (cells periodic in 3 directions)
===============================  =======  =====================================================

Two identical charge distributions displaced by ``d`` interact as ``k q²/|d|`` plus terms in
``1/|d|³`` (the dipole terms of first order cancel), so the Coulomb checks hold for any shape.
A check a model cannot take gets no value and a reason (:func:`not_applicable_reason`):
structures it was not made for (periodic cells, elements it does not cover), a charge it does not
take, relative energies where an absolute energy difference is compared, a stress it does not
give.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from efa.data.generators.analytic import COULOMB_EV_ANGSTROM
from efa.data.schema import pad_atoms
from efa.data.structures import Structures
from efa.predictors import Predictor

#: The metrics of the physics checks, in the order of the module docstring.
PHYSICS_METRICS = (
    "invariance_energy_error",
    "equivariance_force_error",
    "force_consistency_error",
    "stress_consistency_error",
    "path_work_error",
    "ghost_atom_energy",
    "ghost_atom_force",
    "extensivity_error",
    "coulomb_far_field_error",
    "supercell_error",
)

#: Units of :data:`PHYSICS_METRICS`.
PHYSICS_UNITS = {
    "invariance_energy_error": "eV/atom",
    "equivariance_force_error": "eV/Å",
    "force_consistency_error": "eV/Å",
    "stress_consistency_error": "eV/Å³",
    "path_work_error": "eV",
    "ghost_atom_energy": "eV",
    "ghost_atom_force": "eV/Å",
    "extensivity_error": "eV/atom",
    "coulomb_far_field_error": "1",
    "supercell_error": "eV/atom",
}


@dataclasses.dataclass(frozen=True)
class Frame:
    """One structure without padding: ``numbers (N,)``, ``positions (N, 3)`` Å, total
    ``charge`` e, ``cell (3, 3)`` and ``pbc (3,)`` of a periodic cell (else None), the
    per-atom input ``dipoles (N, 3)`` if the data set has it."""

    numbers: np.ndarray
    positions: np.ndarray
    charge: int
    cell: np.ndarray | None = None
    pbc: np.ndarray | None = None
    dipoles: np.ndarray | None = None

    @property
    def periodic(self) -> bool:
        return self.pbc is not None and bool(np.any(self.pbc))

    @property
    def fully_periodic(self) -> bool:
        return self.pbc is not None and bool(np.all(self.pbc))

    def moved(self, positions: np.ndarray, cell: np.ndarray | None = None) -> Frame:
        return dataclasses.replace(
            self, positions=positions, cell=self.cell if cell is None else cell
        )


def frames(structures: Structures) -> list[Frame]:
    """The structures of ``structures`` as :class:`Frame` s (padding removed)."""
    result = []
    for index, mask in enumerate(structures.atom_mask):
        periodic = structures.pbc is not None and bool(structures.pbc[index].any())
        result.append(
            Frame(
                numbers=structures.atomic_numbers[index][mask],
                positions=structures.positions[index][mask],
                charge=int(structures.total_charge[index]),
                cell=structures.cell[index] if periodic else None,
                pbc=structures.pbc[index] if periodic else None,
                dipoles=None
                if structures.atomic_dipoles is None
                else structures.atomic_dipoles[index][mask],
            )
        )
    return result


def stack(batch: Sequence[Frame]) -> Structures:
    """Frames of one kind (all molecules or all periodic cells) as padded
    :class:`Structures` without labels."""
    count = len(batch)
    masks = pad_atoms([np.ones(len(frame.numbers), bool) for frame in batch], False)
    periodic = batch[0].periodic
    with_dipoles = any(frame.dipoles is not None for frame in batch)
    return Structures(
        positions=pad_atoms([frame.positions for frame in batch]),
        atomic_numbers=pad_atoms([frame.numbers for frame in batch]).astype(np.int32),
        atom_mask=masks,
        energy=np.zeros(count),
        forces=np.zeros((count, masks.shape[1], 3)),
        total_charge=np.array([frame.charge for frame in batch], np.int32),
        atomic_dipoles=pad_atoms(
            [
                np.zeros((len(frame.numbers), 3)) if frame.dipoles is None else frame.dipoles
                for frame in batch
            ]
        )
        if with_dipoles
        else None,
        cell=np.stack([frame.cell for frame in batch]) if periodic else None,
        pbc=np.stack([frame.pbc for frame in batch]) if periodic else None,
    )


@dataclasses.dataclass(frozen=True)
class CheckSettings:
    """The options of the checks (probe ``physics``): ``num_rotations`` random rotations,
    ``num_displacements`` finite-difference displacements of step ``fd_step`` Å (and strain
    step ``strain_step``), ``path_points`` points of the work path, ``ghost_distance`` and
    ``copy_distance`` in Å, ``seed`` of the random choices."""

    num_rotations: int = 3
    num_displacements: int = 6
    fd_step: float = 0.01
    strain_step: float = 0.001
    path_points: int = 41
    ghost_distance: float = 20.0
    copy_distance: float = 15.0
    seed: int = 0


def _extent(frame: Frame) -> float:
    return float(np.ptp(frame.positions[:, 0])) if len(frame.numbers) else 0.0


def _joined(*frames_: Frame) -> Frame:
    """Molecules side by side as one molecule (charges add)."""
    return Frame(
        numbers=np.concatenate([f.numbers for f in frames_]),
        positions=np.concatenate([f.positions for f in frames_]),
        charge=sum(f.charge for f in frames_),
        dipoles=None
        if all(f.dipoles is None for f in frames_)
        else np.concatenate(
            [np.zeros((len(f.numbers), 3)) if f.dipoles is None else f.dipoles for f in frames_]
        ),
    )


def _shifted(frame: Frame, offset: np.ndarray) -> Frame:
    return frame.moved(frame.positions + offset)


def _ghost(frame: Frame, distance: float) -> tuple[Frame, Frame]:
    """The lightest element of ``frame`` as one neutral atom ``distance`` Å beyond the
    structure along z, and ``frame`` with it added."""
    element = int(frame.numbers.min())
    centre = frame.positions.mean(axis=0)
    position = np.array([centre[0], centre[1], frame.positions[:, 2].max() + distance])
    ghost = Frame(numbers=np.array([element]), positions=position[None], charge=0)
    return ghost, _joined(frame, ghost)


def _supercell(frame: Frame) -> Frame:
    """The 2×2×2 supercell of a periodic cell (``cell`` rows are the lattice vectors)."""
    shifts = np.array([(i, j, k) for i in range(2) for j in range(2) for k in range(2)], float)
    offsets = shifts @ frame.cell
    positions = (frame.positions[None] + offsets[:, None]).reshape(-1, 3)
    return Frame(
        numbers=np.tile(frame.numbers, 8),
        positions=positions,
        charge=8 * frame.charge,
        cell=2 * frame.cell,
        pbc=frame.pbc,
        dipoles=None if frame.dipoles is None else np.tile(frame.dipoles, (8, 1)),
    )


@dataclasses.dataclass(frozen=True)
class Plan:
    """The frames one structure's checks evaluate, by role."""

    base: Frame
    transformed: list[tuple[Frame, np.ndarray, np.ndarray]]  # (frame, rotation, permutation)
    displaced: list[tuple[int, int, Frame, Frame]]  # (atom, axis, +h, −h)
    strained: list[tuple[int, int, Frame, Frame]]  # (a, b, +h, −h)
    path: list[Frame]
    ghost: tuple[Frame, Frame] | None  # (ghost alone, structure with ghost)
    copies: tuple[Frame, Frame, float, float] | None  # (near pair, far pair, |d|₁, |d|₂)
    supercell: Frame | None

    def frames(self) -> list[Frame]:
        result = [self.base, *(f for f, _, _ in self.transformed)]
        for _, _, plus, minus in (*self.displaced, *self.strained):
            result += [plus, minus]
        result += self.path
        if self.ghost is not None:
            result += list(self.ghost)
        if self.copies is not None:
            result += list(self.copies[:2])
        if self.supercell is not None:
            result.append(self.supercell)
        return result


def plan_checks(frame: Frame, settings: CheckSettings, index: int) -> Plan:
    """The frames of every check of structure ``index`` (random choices seeded by
    ``settings.seed`` and ``index``)."""
    rng = np.random.default_rng([settings.seed, index])
    count = len(frame.numbers)
    transformed = []
    identity = np.arange(count)
    rotations = Rotation.random(settings.num_rotations, rng=rng).as_matrix()
    centre = frame.positions.mean(axis=0)
    for rotation in rotations:
        positions = (frame.positions - centre) @ rotation.T + centre
        cell = None if frame.cell is None else frame.cell @ rotation.T
        moved = frame.moved(positions, cell)
        if frame.dipoles is not None:
            moved = dataclasses.replace(moved, dipoles=frame.dipoles @ rotation.T)
        transformed.append((moved, rotation, identity))
    translation = rng.normal(size=3) * 3.0
    transformed.append((_shifted(frame, translation), np.eye(3), identity))
    permutation = rng.permutation(count)
    permuted = dataclasses.replace(
        frame,
        numbers=frame.numbers[permutation],
        positions=frame.positions[permutation],
        dipoles=None if frame.dipoles is None else frame.dipoles[permutation],
    )
    transformed.append((permuted, np.eye(3), permutation))

    displaced = []
    for atom, axis in zip(
        rng.integers(0, count, settings.num_displacements),
        rng.integers(0, 3, settings.num_displacements),
        strict=True,
    ):
        step = np.zeros_like(frame.positions)
        step[atom, axis] = settings.fd_step
        displaced.append(
            (
                int(atom),
                int(axis),
                frame.moved(frame.positions + step),
                frame.moved(frame.positions - step),
            )
        )
    strained = []
    if frame.fully_periodic:
        for a, b in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)):
            pair = []
            for sign in (1.0, -1.0):
                strain = np.eye(3)
                strain[a, b] += sign * settings.strain_step / (1 if a == b else 2)
                strain[b, a] = strain[a, b]
                pair.append(frame.moved(frame.positions @ strain, frame.cell @ strain))
            strained.append((a, b, *pair))

    if frame.periodic:
        direction = rng.normal(size=frame.positions.shape)
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        times = np.linspace(0.0, 0.3, settings.path_points)
    else:
        direction = frame.positions - centre
        times = np.linspace(-0.05, 0.5, settings.path_points)
    path = [frame.moved(frame.positions + t * direction) for t in times]

    ghost = copies = supercell = None
    if frame.periodic:
        supercell = _supercell(frame) if frame.fully_periodic else None
    else:
        ghost = _ghost(frame, settings.ghost_distance)
        near = _extent(frame) + settings.copy_distance
        far = 2 * near
        copies = (
            _joined(frame, _shifted(frame, np.array([near, 0.0, 0.0]))),
            _joined(frame, _shifted(frame, np.array([far, 0.0, 0.0]))),
            near,
            far,
        )
    return Plan(frame, transformed, displaced, strained, path, ghost, copies, supercell)


def evaluate_frames(model: Predictor, batch: Sequence[Frame]) -> list[tuple[float, np.ndarray]]:
    """Energy (eV) and forces ``(N, 3)`` (eV/Å) of every frame; molecules and periodic cells are
    predicted apart."""
    results: list[tuple[float, np.ndarray] | None] = [None] * len(batch)
    for periodic in (False, True):
        indices = [i for i, frame in enumerate(batch) if frame.periodic == periodic]
        if not indices:
            continue
        energy, forces = model.predict(stack([batch[i] for i in indices]))
        for row, i in enumerate(indices):
            results[i] = (float(energy[row]), forces[row, : len(batch[i].numbers)])
    return results


def not_applicable_reason(model: Predictor, frame: Frame, metric: str) -> str:
    """Why ``model`` cannot take check ``metric`` on ``frame`` (``""`` if it can)."""
    capabilities = model.capabilities
    structure = capabilities.lacks(periodic=frame.periodic, elements=frame.numbers)
    if structure:
        return structure
    molecular = (
        "ghost_atom_energy",
        "ghost_atom_force",
        "extensivity_error",
        "coulomb_far_field_error",
    )
    if metric in molecular and frame.periodic:
        return "the structures are periodic cells"
    if metric in ("stress_consistency_error", "supercell_error") and not frame.fully_periodic:
        return "the structures are not periodic in 3 directions"
    if metric == "coulomb_far_field_error" and frame.charge == 0:
        return "the structures are neutral"
    needs = {
        "stress_consistency_error": {"stress": True},
        "ghost_atom_energy": {"absolute_energy": True},
        "extensivity_error": {"absolute_energy": True, "total_charge": frame.charge != 0},
        "coulomb_far_field_error": {"total_charge": True},
        "supercell_error": {"absolute_energy": True},
    }.get(metric, {})
    return capabilities.lacks(**needs)


def check_values(
    model: Predictor,
    plan: Plan,
    settings: CheckSettings,
    predicted: Mapping[int, tuple[float, np.ndarray]],
) -> dict[str, float]:
    """The metrics of one structure's checks; ``predicted`` maps ``id(frame)`` of every frame
    of ``plan`` to the model's energy and forces. The checks the model cannot take (see
    :func:`not_applicable_reason`) are left out."""

    def energy(frame: Frame) -> float:
        return predicted[id(frame)][0]

    def forces(frame: Frame) -> np.ndarray:
        return predicted[id(frame)][1]

    base = plan.base
    count = len(base.numbers)
    values = {
        "invariance_energy_error": max(
            abs(energy(frame) - energy(base)) / count for frame, _, _ in plan.transformed
        ),
        "equivariance_force_error": max(
            float(np.abs(forces(frame) - (forces(base) @ rotation.T)[permutation]).max())
            for frame, rotation, permutation in plan.transformed
        ),
        "force_consistency_error": max(
            abs(forces(base)[atom, axis] + (energy(plus) - energy(minus)) / (2 * settings.fd_step))
            for atom, axis, plus, minus in plan.displaced
        ),
    }
    steps = [
        energy(after)
        - energy(before)
        + 0.5
        * float(np.sum((forces(before) + forces(after)) * (after.positions - before.positions)))
        for before, after in zip(plan.path[:-1], plan.path[1:])
    ]
    values["path_work_error"] = max(abs(step) for step in steps)
    if plan.strained and model.capabilities.stress:
        stress = model.predict_stress(stack([base]))[0]
        volume = abs(float(np.linalg.det(base.cell)))
        values["stress_consistency_error"] = max(
            abs(stress[a, b] - (energy(plus) - energy(minus)) / (2 * settings.strain_step * volume))
            for a, b, plus, minus in plan.strained
        )
    if plan.ghost is not None:
        alone, joined = plan.ghost
        values["ghost_atom_energy"] = abs(energy(joined) - energy(base) - energy(alone))
        change = forces(joined)[:count] - forces(base)
        values["ghost_atom_force"] = float(np.linalg.norm(change, axis=1).max())
    if plan.copies is not None:
        near, far, near_distance, far_distance = plan.copies
        coulomb = COULOMB_EV_ANGSTROM * base.charge**2
        values["extensivity_error"] = abs(
            energy(far) - 2 * energy(base) - coulomb / far_distance
        ) / (2 * count)
        if base.charge:
            expected = coulomb * (1 / near_distance - 1 / far_distance)
            values["coulomb_far_field_error"] = abs(energy(near) - energy(far) - expected) / abs(
                expected
            )
    if plan.supercell is not None:
        values["supercell_error"] = abs(energy(plan.supercell) / (8 * count) - energy(base) / count)
    return {
        name: value
        for name, value in values.items()
        if not not_applicable_reason(model, base, name)
    }


def physics_checks(
    model: Predictor, structures: Sequence[Frame], settings: CheckSettings
) -> tuple[dict[str, float], dict[str, str]]:
    """The worst case of every check over ``structures`` for ``model``, and per metric without a
    value the reason it is not applicable (the first structure's)."""
    plans = [plan_checks(frame, settings, index) for index, frame in enumerate(structures)]
    usable = [
        plan
        for plan in plans
        if not model.capabilities.lacks(periodic=plan.base.periodic, elements=plan.base.numbers)
    ]
    batch = [frame for plan in usable for frame in plan.frames()]
    predicted = dict(zip(map(id, batch), evaluate_frames(model, batch))) if batch else {}
    per_structure: dict[str, list[float]] = {}
    for plan in usable:
        for name, value in check_values(model, plan, settings, predicted).items():
            per_structure.setdefault(name, []).append(float(value))
    # nan (a model that gave no finite number) stays nan: the worst case is unknown
    worst = {name: float(np.max(values)) for name, values in per_structure.items()}
    reasons = {
        name: "; ".join(
            sorted({not_applicable_reason(model, plan.base, name) for plan in plans} - {""})
        )
        for name in PHYSICS_METRICS
        if name not in worst
    }
    return worst, reasons
