"""The training loss against a NumPy evaluation of its formula, with total and per-atom energy
errors, on a padded batch of structures of different sizes."""

import functools

import jax
import numpy as np
import pytest

from efa.data.generators import nacl_crystal
from efa.data.packing import BucketShape, pack
from efa.data.pairs import count_pairs
from efa.data.structures import Structures
from efa.models.registry import build_model
from efa.runs.config import config_from_mapping
from efa.train.log import TrainingLog
from efa.train.loop import Trainer
from efa.train.objective import LossWeights, error_sums, loss_from_sums, predict

OPTIONS = {"features": 8, "cutoff": 4.0, "num_basis": 8}


@pytest.fixture(scope="module")
def structures():
    """Rock-salt cells, some with vacancies, so that the structures differ in size."""
    return Structures.from_dataset(nacl_crystal(6, seed=3, defects="mixed"))


def test_loss_matches_its_formula_with_total_and_per_atom_energy_errors(structures, x64):
    model = build_model("local", OPTIONS)
    shape = BucketShape(
        structures.atom_mask.shape[1] + 3, int(count_pairs(structures, 4.0).max()), 0
    )
    # two empty structure slots and padding atoms must not enter the loss
    batch = pack(structures, shape, len(structures.energy) + 2, 4.0, np.float64)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)  # eager e3x runs op by op
    element_energies = np.zeros(119)
    element_energies[[11, 17]] = [-1.5, 2.0]
    prediction = jax.jit(functools.partial(predict, model))(params, batch, element_energies)
    sums = error_sums(prediction, batch)

    counts = structures.atom_mask.sum(axis=1)
    assert len(set(counts)) > 1
    real = len(counts)
    energy_error = np.asarray(prediction.energy)[:real] - structures.energy
    forces = np.asarray(prediction.forces)
    segments = np.asarray(batch.segment_ids)
    forces_term = np.mean(
        [
            np.sum((forces[segments == s] - np.asarray(batch.forces)[segments == s]) ** 2)
            / (3 * counts[s])
            for s in range(real)
        ]
    )
    for per_atom in (False, True):
        errors = energy_error / counts if per_atom else energy_error
        expected = 0.3 * np.mean(errors**2) + 0.7 * forces_term
        loss = loss_from_sums(sums, LossWeights(0.3, 0.7, energy_per_atom=per_atom))
        assert float(loss) == pytest.approx(expected, rel=1e-12)
    # for cells of ~8 ions the per-atom term is far smaller than the total one
    total = loss_from_sums(sums, LossWeights(1.0, 0.0))
    assert float(loss_from_sums(sums, LossWeights(1.0, 0.0, energy_per_atom=True))) < float(total)


def test_run_configuration_gives_the_loss_weights():
    config = config_from_mapping({"dataset": "x", "energy_loss": "per_atom"})
    assert LossWeights.of(config) == LossWeights(0.01, 0.99, 0.0, energy_per_atom=True)
    assert LossWeights.of(config_from_mapping({"dataset": "x"})).energy_per_atom is False


def test_training_uses_the_energy_loss(base_config):
    """On two-atom structures ``(ΔE/2)²`` is ``ΔE²/4``: a per-atom run with 4 times the energy
    weight follows the total-energy run (were ``energy_loss`` ignored, its 4 times larger energy
    term would give other losses)."""

    def validation_losses(label, **settings):
        config = config_from_mapping(
            {**base_config, "max_steps": 10, "valid_every": 5, "label": label, **settings}
        )
        Trainer(config).run()
        records = TrainingLog(config.run_dir() / "train_log.jsonl").records()
        return np.array([r["loss"] for r in records if r["event"] == "valid"])

    total = validation_losses("total", energy_weight=0.1, forces_weight=0.9)
    scaled = validation_losses(
        "scaled", energy_loss="per_atom", energy_weight=0.4, forces_weight=0.9
    )
    np.testing.assert_allclose(scaled, total, rtol=1e-4)
