"""The built-in models on periodic cells: extensive energies, forces that agree with finite
differences, and translation invariance, in float64."""

import functools

import jax
import numpy as np
import pytest

from efa.data.generators.nacl_crystal import rock_salt
from efa.data.packing import BucketShape, pack, reciprocal_options
from efa.data.pairs import count_pairs, count_reciprocal
from efa.models.registry import build_model
from tests.builders import padded_structures

COMMON = dict(features=8, num_iterations=2, max_degree=1, cutoff=4.0, num_basis=8)
MODELS = {
    "local": COMMON,
    "efa": dict(COMMON, qk_features=4, v_features=4, max_length=12.0, envelope_width=0.3),
}
# the same EFA evaluated on an FFT mesh: 10 points along the 5.64 Å cell, 20 along its supercell
MODELS["efa_mesh"] = dict(MODELS["efa"], mesh_spacing=0.6)
#: Relative change of the energy under a translation: zero up to rounding for the direct sums,
#: the interpolation error for the mesh.
TRANSLATION_TOLERANCE = {"local": 1e-10, "efa": 1e-10, "efa_mesh": 1e-6}
#: Supercell energy ratio against 8: exact for the direct sums; on the mesh the primitive cell's
#: Nyquist plane (half its own, an ordinary mode of the supercell's) differs (measured: 3e-9).
SUPERCELL_TOLERANCE = {"local": 1e-9, "efa": 1e-9, "efa_mesh": 1e-8}


def cells(repeats_list, rattle=0.1, seed=0):
    """Rattled rock-salt cells; the supercells repeat the rattled primitive cell exactly."""
    rng = np.random.default_rng(seed)
    base, numbers, cell = rock_salt(1, 5.64)
    base = base + rng.normal(scale=rattle, size=base.shape)
    out = []
    for repeats in repeats_list:
        shifts = np.stack(np.meshgrid(*[np.arange(repeats)] * 3, indexing="ij"), -1)
        shifts = shifts.reshape(-1, 3) @ cell
        out.append(
            (
                np.concatenate([base + s for s in shifts]),
                np.tile(numbers, len(shifts)),
                cell * repeats,
            )
        )
    return out


def structures_of(items):
    """``[(positions, numbers, cell), …]`` as periodic :class:`Structures`."""
    positions, numbers, cell = zip(*items)
    return padded_structures(positions, numbers, cells=cell)


def batch_of(model, structures, spare_pairs=0, shape=None):
    cutoff = getattr(model, "reciprocal_cutoff", None)
    shape = shape or BucketShape(
        structures.atom_mask.shape[1],
        int(count_pairs(structures, model.cutoff).max()) + spare_pairs,
        int(count_reciprocal(structures, cutoff).max()) if cutoff else 0,
    )
    count = len(structures.energy)
    return pack(structures, shape, count, model.cutoff, np.float64, **reciprocal_options(model))


@pytest.mark.parametrize(
    "name",
    [
        # the direct reciprocal sum's supercell at the layer level: tests/nn/test_periodic.py
        pytest.param(name, marks=pytest.mark.extended) if name == "efa" else name
        for name in sorted(MODELS)
    ],
)
def test_a_supercell_has_eight_times_the_energy_of_its_cell(name, x64):
    model = build_model(name.removesuffix("_mesh"), MODELS[name])
    structures = structures_of(cells([1, 2]))
    batch = batch_of(model, structures)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)  # eager e3x runs op by op
    energy = np.asarray(jax.jit(model.apply)(params, batch))
    assert energy[1] / energy[0] == pytest.approx(8.0, rel=SUPERCELL_TOLERANCE[name])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_periodic_forces_equal_finite_differences_and_translation_changes_nothing(name, x64):
    model = build_model(name.removesuffix("_mesh"), MODELS[name])
    ((positions, numbers, cell),) = cells([1], seed=3)
    base = structures_of([(positions, numbers, cell)])
    batch = batch_of(model, base, spare_pairs=32)  # one shape for the displaced cells too
    params = jax.jit(model.init)(jax.random.PRNGKey(1), batch)
    apply = jax.jit(model.apply)

    def energy(r):
        moved = structures_of([(r, numbers, cell)])
        return float(apply(params, batch_of(model, moved, shape=BucketShape(*batch_shape)))[0])

    batch_shape = (
        8,
        batch.pair_mask.shape[0],
        0 if batch.reciprocal is None else batch.reciprocal.shape[1],
    )

    gradient = jax.jit(jax.grad(lambda r: model.apply(params, batch._replace(positions=r))[0]))(
        batch.positions
    )[: len(numbers)]
    h = 1e-5
    for atom, axis in [(0, 0), (5, 2)]:
        step = np.zeros_like(positions)
        step[atom, axis] = h
        numeric = (energy(positions + step) - energy(positions - step)) / (2 * h)
        assert float(gradient[atom, axis]) == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    shifted = energy(positions + np.array([1.3, -0.4, 2.2]))
    assert shifted == pytest.approx(energy(positions), rel=TRANSLATION_TOLERANCE[name])


@pytest.mark.parametrize("name", ["efa", "local"])  # the mesh's stress: tests/nn/test_mesh.py
def test_stress_equals_finite_differences_of_the_strained_energy(name, x64):
    from efa.train.objective import predict_stress, strained

    model = build_model(name.removesuffix("_mesh"), MODELS[name])
    batch = batch_of(model, structures_of(cells([1], seed=7)))
    params = jax.jit(model.init)(jax.random.PRNGKey(2), batch)
    stress = np.asarray(jax.jit(functools.partial(predict_stress, model))(params, batch))[0]
    apply = jax.jit(model.apply)
    volume = abs(np.linalg.det(batch.cell[0]))
    h = 1e-5
    for a, b in [(0, 0), (1, 2), (2, 1)]:
        step = np.zeros((1, 3, 3))
        step[0, a, b] = h
        plus = apply(params, strained(batch, step))[0]
        minus = apply(params, strained(batch, -step))[0]
        numeric = float(plus - minus) / (2 * h * volume)
        assert stress[a, b] == pytest.approx(numeric, rel=1e-6, abs=1e-10)
