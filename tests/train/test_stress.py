"""Stress in the training objective and in evaluation: one gradient gives energies, forces and
stress; the loss adds ``w_S·MSE(σ)``; a run trained with it reports stress errors; a trained
periodic model is extensive."""

import functools
import math

import jax
import numpy as np
import pytest

from efa.data.generators import nacl_crystal
from efa.data.packing import BucketShape, pack
from efa.data.pairs import count_pairs, count_reciprocal
from efa.data.store import write_dataset
from efa.data.structures import Structures
from efa.errors import ConfigError
from efa.models.registry import build_model
from efa.runs.config import config_from_mapping
from efa.train.loop import Trainer
from efa.train.objective import LossWeights, error_sums, loss_from_sums, predict

EFA_OPTIONS = dict(
    features=8,
    num_iterations=1,
    max_degree=0,
    num_basis=8,
    cutoff=4.0,
    qk_features=4,
    v_features=4,
    max_length=12.0,
    envelope_width=0.3,
)
# one degree-1 iteration: vector features pass through the strain, and it compiles quickly
LOCAL_OPTIONS = {
    **{key: EFA_OPTIONS[key] for key in ("features", "cutoff", "num_basis")},
    "num_iterations": 1,
    "max_degree": 1,
}
MODELS = {"local": LOCAL_OPTIONS, "efa": EFA_OPTIONS}


def cell_batch(model, structures, dtype=np.float64):
    reciprocal = getattr(model, "reciprocal_cutoff", None)
    shape = BucketShape(
        structures.atom_mask.shape[1],
        int(count_pairs(structures, model.cutoff).max()),
        int(count_reciprocal(structures, reciprocal).max()) if reciprocal else 0,
    )
    return pack(structures, shape, len(structures.energy), model.cutoff, dtype, reciprocal)


@pytest.fixture(scope="module")
def cells():
    """Six rattled, strained, partly charged rock-salt cells with Ewald labels (stress too)."""
    return nacl_crystal(6, seed=1, rattle=0.15, defects="mixed")


@pytest.mark.parametrize(
    # predict's strain derivative is the same for both models; EFA compiles for long in float64
    "name",
    ["local", pytest.param("efa", marks=pytest.mark.extended)],
)
def test_asking_for_the_stress_leaves_energies_and_forces_unchanged(name, cells, x64):
    model = build_model(name, MODELS[name])
    structures = Structures.from_dataset(cells)
    batch = cell_batch(model, structures)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)  # eager e3x runs op by op
    references = np.zeros(119)
    compiled = jax.jit(functools.partial(predict, model), static_argnames="stress")
    plain = compiled(params, batch, references)
    with_stress = compiled(params, batch, references, stress=True)
    np.testing.assert_allclose(with_stress.energy, plain.energy, rtol=1e-12)
    np.testing.assert_allclose(with_stress.forces, plain.forces, rtol=1e-9, atol=1e-12)
    # the stress itself against finite differences of the strained energy:
    # tests/models/test_periodic_models.py (predict_stress is predict with stress=True)


def test_loss_adds_the_mean_squared_stress_error(cells, x64):
    model = build_model("local", LOCAL_OPTIONS)
    structures = Structures.from_dataset(cells)
    batch = cell_batch(model, structures)
    params = jax.jit(model.init)(jax.random.PRNGKey(1), batch)
    compiled = jax.jit(functools.partial(predict, model), static_argnames="stress")
    prediction = compiled(params, batch, np.zeros(119), stress=True)
    sums = error_sums(prediction, batch)
    stress_error = np.asarray(prediction.stress) - structures.stress
    expected = np.mean(np.sum(stress_error**2, axis=(1, 2)) / 9)
    without = float(loss_from_sums(sums, LossWeights(0.01, 0.99)))
    assert float(loss_from_sums(sums, LossWeights(0.01, 0.99, 50.0))) == pytest.approx(
        without + 50.0 * expected, rel=1e-10
    )
    assert float(sums.stress_abs) / (9 * float(sums.num_stress)) == pytest.approx(
        np.mean(np.abs(stress_error)), rel=1e-10
    )


@pytest.fixture(scope="module")
def stress_run(tmp_path_factory, cells):
    """An EFA model trained with a stress term for a few steps."""
    root = tmp_path_factory.mktemp("stress")
    dataset = cells.copy()
    dataset.attrs.update(name="cells", license="MIT", citation="test data")
    write_dataset(dataset, root / "cells.zarr")
    config = config_from_mapping(
        {
            "dataset": str(root / "cells.zarr"),
            "model": "efa",
            "model_options": EFA_OPTIONS,
            "splits": {"train": 3, "valid": 1, "test": 2},
            "batch_size": 3,
            "max_steps": 4,
            "valid_every": 2,
            "stress_weight": 100.0,
            "output_root": str(root / "runs"),
        }
    )
    summary = Trainer(config).run()
    return config.run_dir(), summary


def test_a_run_with_stress_weight_reports_stress_errors(stress_run):
    from efa.evaluate import evaluate_run

    run_dir, summary = stress_run
    assert summary["status"] == "complete"
    assert math.isfinite(summary["final_valid"]["stress_mae"])
    metrics, predictions, _ = evaluate_run(run_dir)
    delta = predictions["stress_predicted"].values - predictions["stress_reference"].values
    assert float(metrics["stress_mae"].values.item()) == pytest.approx(np.mean(np.abs(delta)))
    assert float(metrics["stress_mae"].values.item()) > 0


def test_a_trained_periodic_model_is_extensive(stress_run):
    """A 2×2×2 supercell of a rattled, charged cell: 8 times the energy (trained parameters,
    evaluated in float64)."""
    from efa.data.generators.nacl_crystal import rock_salt
    from efa.train.trained_model import load_trained
    from tests.builders import padded_structures

    trained = load_trained(stress_run[0])
    base, numbers, cell = rock_salt(1, 5.64)
    base = base + np.random.default_rng(4).normal(scale=0.1, size=base.shape)
    base, numbers = base[1:], numbers[1:]  # a Na vacancy: charge -1
    shifts = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3) @ cell
    supercell = np.concatenate([base + s for s in shifts])
    structures = padded_structures(
        [base, supercell], [numbers, np.tile(numbers, 8)], charges=[-1, -8], cells=[cell, 2 * cell]
    )
    with jax.enable_x64(True):
        params = jax.tree.map(lambda array: np.asarray(array, np.float64), trained.params)
        batch = cell_batch(trained.model, structures)
        energy = np.asarray(trained.model.apply(params, batch))
    assert energy[1] / energy[0] == pytest.approx(8.0, rel=1e-6)


def test_stress_weight_needs_stress_labels(tmp_path):
    from tests.builders import write_two_atom_store

    write_two_atom_store(tmp_path, 8)
    config = config_from_mapping(
        {
            "dataset": str(tmp_path / "two_atoms.zarr"),
            "splits": {"train": 4, "valid": 2, "test": 2},
            "stress_weight": 1.0,
            "output_root": str(tmp_path / "runs"),
        }
    )
    with pytest.raises(ConfigError, match="stress_weight=1.0: data set .* has no stress labels"):
        Trainer(config)
