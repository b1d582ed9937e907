"""Symmetry, gradient and padding properties of the built-in energy models (float64)."""

import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efa.data.packing import BucketShape, pack
from efa.errors import ConfigError
from efa.models import build_model
from efa.testing import (
    ContractModel,
    check_model_contract,
    check_receptive_field,
    check_symmetry,
    random_molecule,
    random_rotation,
)
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


@pytest.mark.parametrize("name", sorted(MODELS))
def test_built_in_models_keep_the_model_contract(name):
    """Symmetry, gradient, padding and receptive field (efa.testing, the public checks)."""
    model_name, options = MODELS[name]
    model = check_model_contract(model_name, options)
    expected = math.inf if name == "efa" else COMMON["num_iterations"] * CUTOFF
    assert model.model.receptive_field == expected


def test_contract_checks_catch_a_broken_model(x64):
    """The checks can fail: an energy that depends on absolute positions breaks symmetry, and a
    global model that declares a finite receptive field breaks that check."""
    rng = np.random.default_rng(0)
    model = ContractModel("local", COMMON)
    real = model.energy_forces
    model.energy_forces = lambda positions, numbers: (
        real(positions, numbers)[0] + sum(p[0, 0] for p in positions),
        real(positions, numbers)[1],
    )
    with pytest.raises(AssertionError, match="energy changes under rotation and translation"):
        check_symmetry(model, rng)
    efa = ContractModel("efa", MODELS["efa"][1])
    efa.model = types.SimpleNamespace(receptive_field=6.0)  # EFA sees everything, claims 6 Å
    with pytest.raises(AssertionError, match="declared receptive_field=6.0"):
        check_receptive_field(efa, rng)


def test_receptive_field_check_catches_an_under_declared_local_model(x64):
    """A local model with T = 2 interactions sees T·r_c along a chain of atoms; declaring only
    r_c fails the check, declaring T·r_c passes it."""
    rng = np.random.default_rng(0)
    local = ContractModel("local", COMMON)
    true_reach = local.model.receptive_field
    assert true_reach == 2 * CUTOFF
    check_receptive_field(local, rng)
    local.model = types.SimpleNamespace(receptive_field=CUTOFF)  # one hop declared, two seen
    with pytest.raises(AssertionError, match="sees farther than it declares"):
        check_receptive_field(local, rng)


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
    with pytest.raises(ConfigError, match=r"mesh_spacing=3.0: .* resolves the largest shell"):
        build_model("efa", {"mesh_spacing": 3.0})  # largest shell π/10 + 0.6 = 0.91 1/Å
    with pytest.raises(ConfigError, match="mesh_order=5: expected 4, 6 or 8"):
        build_model("efa", {"mesh_spacing": 1.0, "mesh_order": 5})
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
    energy, forces, _ = energy_forces(positions, dipoles)
    rotation = random_rotation(rng)
    moved_energy, moved_forces, _ = energy_forces(positions @ rotation.T, dipoles @ rotation.T)
    np.testing.assert_allclose(moved_energy, energy, rtol=1e-9)
    np.testing.assert_allclose(moved_forces, forces @ rotation.T, rtol=1e-7, atol=1e-10)
    assert abs(energy_forces(positions, -dipoles).energy[0] - energy[0]) > 1e-8
    with pytest.raises(ConfigError, match="use_atomic_dipoles=True needs max_degree >= 1"):
        build_model("local", dict(COMMON, max_degree=0, use_atomic_dipoles=True))


@pytest.mark.parametrize(
    # the chunked pair loop is the message passing both models share
    "name",
    ["local", pytest.param("efa", marks=pytest.mark.extended)],
)
def test_pair_chunks_give_the_same_parameters_energy_and_forces(name, x64):
    """Large structures pass their pairs in chunks (scan + remat): same parameters, same result."""
    model_name, options = MODELS[name]
    rng = np.random.default_rng(7)
    batch = pack(
        padded_structures(*zip(random_molecule(rng, 12))),
        BucketShape(12, 132),
        1,
        CUTOFF,
        dtype=np.float64,
    )
    whole = build_model(model_name, options)
    # 132 pairs, at most 20 at once: 7 equal chunks of 19 pairs, 1 padding pair
    chunked = build_model(model_name, dict(options, pair_chunk_size=20))
    params = jax.jit(whole.init)(jax.random.PRNGKey(0), batch)
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
    chunked_params = jax.jit(chunked.init)(jax.random.PRNGKey(0), batch)
    assert jax.tree.structure(chunked_params) == jax.tree.structure(params)
    expected = jax.jit(lambda p: predict(whole, p, batch, NO_REFERENCES))(params)
    result = jax.jit(lambda p: predict(chunked, p, batch, NO_REFERENCES))(params)
    np.testing.assert_allclose(result.energy, expected.energy, rtol=1e-12)
    np.testing.assert_allclose(result.forces, expected.forces, rtol=1e-10, atol=1e-12)
