"""Per-element reference energies: exact recovery, single compositions, the prediction path."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from efa.data.packing import BucketShape, pack
from efa.errors import EfaError
from efa.runs.config import config_from_mapping
from efa.train.loop import Trainer
from efa.train.objective import predict
from efa.train.reference import (
    element_counts,
    element_energies_from_json,
    element_energies_to_json,
    fit_element_energies,
)
from efa.train.trained_model import load_trained
from tests.builders import padded_structures


def structures_of(compositions, energies):
    """Structures of the given element lists (atoms 1.5 Å apart on a line) and energies."""
    positions = [np.outer(np.arange(len(z)), [1.5, 0.0, 0.0]) for z in compositions]
    return padded_structures(positions, compositions)._replace(energy=np.asarray(energies, float))


def test_counts_ignore_padding():
    structures = structures_of([[6, 1, 1], [6, 6, 1, 1, 1, 1]], [0.0, 0.0])
    counts = element_counts(structures.atomic_numbers, structures.atom_mask)
    assert counts.shape == (2, 119)
    assert counts[0, [0, 1, 6]].tolist() == [0, 2, 1]
    assert counts[1, [0, 1, 6]].tolist() == [0, 4, 2]


def test_mixed_compositions_recover_the_element_energies_exactly():
    mu = {1: -13.5, 6: -57.25, 8: -120.0}
    rng = np.random.default_rng(0)
    compositions = [
        [6] * rng.integers(1, 12) + [1] * rng.integers(0, 6) + [8] * rng.integers(0, 3)
        for _ in range(40)
    ]
    energies = [sum(mu[z] for z in comp) for comp in compositions]
    fitted = fit_element_energies(structures_of(compositions, energies))
    np.testing.assert_allclose(fitted[[1, 6, 8]], [-13.5, -57.25, -120.0], rtol=1e-12)
    assert np.count_nonzero(fitted) == 3  # absent elements stay 0


def test_single_composition_reproduces_its_mean_energy():
    compositions = [[1, 2]] * 5
    energies = [-1.0, -2.0, -3.0, -4.0, -5.0]
    fitted = fit_element_energies(structures_of(compositions, energies))
    np.testing.assert_allclose(fitted[1] + fitted[2], -3.0, rtol=1e-12)


def test_json_round_trip_and_bad_keys():
    energies = np.zeros(119)
    energies[[1, 6]] = -13.5, -57.25
    mapping = json.loads(json.dumps(element_energies_to_json(energies)))
    assert mapping == {"1": -13.5, "6": -57.25}
    np.testing.assert_array_equal(element_energies_from_json(mapping, "m.json"), energies)
    with pytest.raises(EfaError, match=r"m.json: element_energies key 'C'"):
        element_energies_from_json({"C": 1.0}, "m.json")
    with pytest.raises(EfaError, match=r"m.json: element_energies\['6'\] = nan"):
        element_energies_from_json({"6": float("nan")}, "m.json")


def test_prediction_adds_the_reference_of_every_real_atom():
    structures = structures_of([[6, 1, 1], [6, 6, 1, 1, 1, 1]], [0.0, 0.0])
    batch = pack(structures, BucketShape(8, 64), 3, cutoff=2.0)
    energies = np.zeros(119)
    energies[[1, 6]] = -13.5, -57.25

    class Zero:  # a model predicting no energy at all
        def apply(self, params, batch):
            return jnp.zeros(batch.num_structures) + 0.0 * batch.positions.sum()

    prediction = predict(Zero(), {}, batch, energies)
    np.testing.assert_allclose(
        np.asarray(prediction.energy)[:2], [-57.25 - 27.0, -114.5 - 54.0], rtol=1e-6
    )
    assert float(prediction.energy[2]) == 0.0  # empty structure slot


def test_run_records_and_reloads_its_reference_energies(base_config):
    config = config_from_mapping(dict(base_config, max_steps=10, valid_every=10))
    trainer = Trainer(config)
    trainer.run()
    recorded = json.loads(trainer.paths.model.read_text())["element_energies"]
    assert set(recorded) == {"1", "2"}  # the two-atom set: Z = 1 and 2
    np.testing.assert_array_equal(
        load_trained(config.run_dir()).element_energies, trainer.element_energies
    )
    # a resumed run keeps the references it began with, even if they were edited since
    info = json.loads(trainer.paths.model.read_text())
    info["element_energies"] = {"1": 1.0, "2": 2.0}
    trainer.paths.model.write_text(json.dumps(info))
    assert Trainer(config).element_energies[[1, 2]].tolist() == [1.0, 2.0]
    del info["element_energies"]
    trainer.paths.model.write_text(json.dumps(info))
    with pytest.raises(EfaError, match=r"model.json: no 'element_energies'.*older efa-bench"):
        load_trained(config.run_dir())
