"""Symmetry, gradient and padding properties of the built-in energy models (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efa.data.batching import BucketShape, pack
from efa.errors import ConfigError
from efa.models import build_model
from efa.train.objective import predict
from efa.train.reference import zero_element_energies
from tests.builders import padded_structures

CUTOFF = 3.0
NO_REFERENCES = zero_element_energies()
COMMON = dict(features=8, num_iterations=2, max_degree=1, cutoff=CUTOFF, num_basis=8)
MODELS = {
    "local": ("local", COMMON),
    "efa": ("efa", dict(COMMON, qk_features=4, v_features=4, efa_max_degree=1, max_length=12.0)),
}


def random_molecule(rng, count):
    """``count`` atoms in a 3 Å box (some pairs beyond the cutoff), elements 1/6/8."""
    return rng.uniform(0, 3.0, (count, 3)), rng.choice([1, 6, 8], count)


def random_rotation(rng):
    """Random orthogonal matrix with determinant −1 or +1 (rotation, possibly with reflection)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


@pytest.fixture(scope="module", params=sorted(MODELS))
def predictor(request):
    name, options = MODELS[request.param]
    model = build_model(name, options)
    rng = np.random.default_rng(1)
    batch = pack(
        padded_structures(*zip(random_molecule(rng, 5))), BucketShape(5, 20), 1, CUTOFF,
        dtype=np.float64,
    )
    with jax.enable_x64(True):
        params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
        params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
    return jax.jit(lambda batch: predict(model, params, batch, NO_REFERENCES))


#: One padded shape for every evaluation, so each model compiles once.
SHAPE, SLOTS = BucketShape(8, 64), 3


def energy_forces(predictor, structs):
    """Energies ``(S,)`` and forces ``(S, A, 3)`` of up to three structures."""
    count, atoms = structs.atom_mask.shape
    prediction = predictor(pack(structs, SHAPE, SLOTS, CUTOFF, dtype=np.float64))
    forces = np.asarray(prediction.forces).reshape(SLOTS, SHAPE.max_atoms, 3)
    return np.asarray(prediction.energy)[:count], forces[:count, :atoms]


def test_invariance_and_equivariance(predictor, x64):
    rng = np.random.default_rng(2)
    positions, numbers = random_molecule(rng, 6)
    energy, forces = energy_forces(predictor, padded_structures([positions], [numbers]))
    assert np.all(np.isfinite(energy)) and np.abs(forces).max() > 0

    rotation, shift = random_rotation(rng), rng.normal(size=3) * 5.0
    moved = positions @ rotation.T + shift
    energy_moved, forces_moved = energy_forces(predictor, padded_structures([moved], [numbers]))
    np.testing.assert_allclose(energy_moved, energy, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(forces_moved[0], forces[0] @ rotation.T, rtol=1e-6, atol=1e-8)

    order = rng.permutation(6)
    energy_perm, forces_perm = energy_forces(
        predictor, padded_structures([positions[order]], [numbers[order]])
    )
    np.testing.assert_allclose(energy_perm, energy, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(forces_perm[0], forces[0][order], rtol=1e-9, atol=1e-12)


def test_forces_are_negative_energy_gradient(predictor, x64):
    positions, numbers = random_molecule(np.random.default_rng(3), 5)
    _, forces = energy_forces(predictor, padded_structures([positions], [numbers]))
    step = 1e-5
    for atom, axis in [(0, 0), (2, 1), (4, 2)]:
        shifted = [positions.copy(), positions.copy()]
        shifted[0][atom, axis] += step
        shifted[1][atom, axis] -= step
        energies, _ = energy_forces(predictor, padded_structures(shifted, [numbers, numbers]))
        numeric = -(energies[0] - energies[1]) / (2 * step)
        np.testing.assert_allclose(forces[0, atom, axis], numeric, rtol=1e-6, atol=1e-8)


def test_padding_and_batch_neighbours_do_not_change_energy(predictor, x64):
    rng = np.random.default_rng(4)
    first, second = random_molecule(rng, 4), random_molecule(rng, 6)
    alone, forces_alone = energy_forces(predictor, padded_structures([first[0]], [first[1]]))
    together, forces_together = energy_forces(
        predictor, padded_structures([first[0], second[0]], [first[1], second[1]])
    )
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-10)
    np.testing.assert_allclose(forces_together[0, :4], forces_alone[0], rtol=1e-9, atol=1e-12)
    assert np.all(forces_together[0, 4:] == 0.0)  # padding atoms get no force


def test_total_charge_embedding_separates_charge_states(x64):
    positions = np.array([[0.0, 0.0, 0.0], [2.6, 0.0, 0.0], [1.3, 2.2, 0.0]])  # Ag3 triangle
    triangle = padded_structures([positions] * 2, [[47] * 3] * 2, charges=[1, -1])
    for use_charge in (False, True):
        options = dict(COMMON, num_iterations=1, max_degree=0, use_total_charge=use_charge)
        model = build_model("local", options)
        batch = pack(triangle, BucketShape(3, 8), 2, CUTOFF, dtype=np.float64)
        params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
        energy = np.asarray(jax.jit(model.apply)(params, batch))
        assert (abs(energy[0] - energy[1]) > 1e-6) == use_charge


def test_registry_errors_name_the_problem():
    with pytest.raises(ConfigError, match="model_options.featurez"):
        build_model("local", {"featurez": 8})
    with pytest.raises(ConfigError, match="built-in name"):
        build_model("no_such_model")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_package.models'"):
        build_model("no_such_package.models:Model")
    with pytest.raises(ConfigError, match="efa_layers contains 5"):
        build_model("efa", {"efa_layers": [5]})
    with pytest.raises(ConfigError, match="pair_chunk_size=0: expected > 0"):
        build_model("local", {"pair_chunk_size": 0})
    assert build_model("efa.models.mpnn:LocalModel", {"features": 4}).features == 4


def test_atomic_dipole_input_is_equivariant(x64):
    rng = np.random.default_rng(5)
    positions, numbers = random_molecule(rng, 4)
    dipoles = rng.normal(size=(4, 3))
    model = build_model("local", dict(COMMON, num_iterations=1, use_atomic_dipoles=True))

    def energy_forces(positions, dipoles):
        molecule = padded_structures([positions], [numbers])._replace(atomic_dipoles=dipoles[None])
        batch = pack(molecule, BucketShape(4, 16), 1, CUTOFF, dtype=np.float64)
        return predictor(params, batch)

    predictor = jax.jit(lambda params, batch: predict(model, params, batch, NO_REFERENCES))

    molecule = padded_structures([positions], [numbers])
    batch = pack(molecule, BucketShape(4, 16), 1, CUTOFF, np.float64)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
    energy, forces = energy_forces(positions, dipoles)
    rotation = random_rotation(rng)
    moved_energy, moved_forces = energy_forces(positions @ rotation.T, dipoles @ rotation.T)
    np.testing.assert_allclose(moved_energy, energy, rtol=1e-9)
    np.testing.assert_allclose(moved_forces, forces @ rotation.T, rtol=1e-7, atol=1e-10)
    assert abs(energy_forces(positions, -dipoles).energy[0] - energy[0]) > 1e-8
    with pytest.raises(ConfigError, match="use_atomic_dipoles=True needs max_degree >= 1"):
        build_model("local", dict(COMMON, max_degree=0, use_atomic_dipoles=True))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pair_chunks_give_the_same_parameters_energy_and_forces(name, x64):
    """Large structures pass their pairs in chunks (scan + remat): same parameters, same result."""
    model_name, options = MODELS[name]
    rng = np.random.default_rng(7)
    batch = pack(
        padded_structures(*zip(random_molecule(rng, 12))), BucketShape(12, 132), 1, CUTOFF,
        dtype=np.float64,
    )
    whole = build_model(model_name, options)
    # 132 pairs, at most 20 at once: 7 equal chunks of 19 pairs, 1 padding pair
    chunked = build_model(model_name, dict(options, pair_chunk_size=20))
    params = jax.jit(whole.init)(jax.random.PRNGKey(0), batch)
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
    chunked_params = jax.jit(chunked.init)(jax.random.PRNGKey(0), batch)
    assert jax.tree.structure(chunked_params) == jax.tree.structure(params)
    expected = predict(whole, params, batch, NO_REFERENCES)
    result = jax.jit(lambda p: predict(chunked, p, batch, NO_REFERENCES))(params)
    np.testing.assert_allclose(result.energy, expected.energy, rtol=1e-12)
    np.testing.assert_allclose(result.forces, expected.forces, rtol=1e-10, atol=1e-12)
