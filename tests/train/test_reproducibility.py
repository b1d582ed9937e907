"""Reproducible runs: bitwise-identical results, steps decide, provenance, data checked on
resume."""

import json

import jax
import numpy as np
import pytest
import xarray as xr

from efa.data.store import open_dataset
from efa.errors import DataError
from efa.evaluate import write_evaluation
from efa.provenance import KEY_PACKAGES, dataset_sha256
from efa.report.tables import TIMING_METRICS
from efa.runs.config import config_from_mapping
from efa.train import checkpoints
from efa.train.loop import Trainer
from efa.train.trained_model import load_trained
from tests.builders import write_two_atom_store
from tests.train.conftest import base_configuration


def _leaves(run_dir):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(load_trained(run_dir).params)]


@pytest.fixture(scope="module")
def finished_run(datasets_root, tmp_path_factory):
    """``(summary, run directory, configuration)`` of one run of the tests' base configuration
    (seed 0, 30 steps), trained once for the tests below that only read it."""
    root = tmp_path_factory.mktemp("reproducibility")
    config = config_from_mapping(base_configuration(datasets_root, root))
    return Trainer(config, root / "run").run(), root / "run", config


def test_same_configuration_gives_bitwise_identical_parameters_and_metrics(finished_run, tmp_path):
    first, first_dir, config = finished_run
    runs = [first_dir, tmp_path / "second"]
    summaries = [first, Trainer(config, runs[1]).run()]
    for first, second in zip(_leaves(runs[0]), _leaves(runs[1])):
        assert first.dtype == second.dtype
        assert first.tobytes() == second.tobytes()
    stores = [write_evaluation(run)[1] for run in runs]
    for name in stores[0].data_vars:
        if name not in TIMING_METRICS:  # times, kept apart from the quality numbers
            assert stores[0][name].values.tobytes() == stores[1][name].values.tobytes(), name
    predictions = [xr.open_zarr(run / "predictions_test.zarr", consolidated=False) for run in runs]
    assert predictions[0].energy_predicted.values.tobytes() == (
        predictions[1].energy_predicted.values.tobytes()
    )
    assert summaries[0]["best_valid_loss"] == summaries[1]["best_valid_loss"]
    assert summaries[0]["provenance"] == summaries[1]["provenance"]


def test_another_seed_gives_other_parameters(base_config, finished_run, tmp_path):
    """The determinism test above can fail: a changed seed changes the parameters."""
    first, first_dir, _ = finished_run
    other = Trainer(config_from_mapping({**base_config, "seed": 1}), tmp_path / "seed1").run()
    assert first["best_valid_loss"] != other["best_valid_loss"]
    assert any(
        a.tobytes() != b.tobytes() for a, b in zip(_leaves(first_dir), _leaves(tmp_path / "seed1"))
    )


def test_run_stops_on_steps_and_a_time_limit_marks_it_truncated(
    base_config, finished_run, tmp_path
):
    complete = finished_run[0]
    assert complete["status"] == "complete" and complete["stop_reason"] == "max_steps"
    assert complete["truncated"] is False and complete["steps"] == complete["max_steps"] == 30

    limited = config_from_mapping({**base_config, "max_time_s": 1e-9})
    summary = Trainer(limited, tmp_path / "limited").run()
    assert summary["status"] == "truncated" and summary["stop_reason"] == "max_time_s"
    assert summary["truncated"] is True and summary["steps"] < 30
    on_disk = json.loads((tmp_path / "limited" / "summary.json").read_text())
    assert on_disk["truncated"] is True
    metrics = write_evaluation(tmp_path / "limited")[1]
    assert metrics["truncated"].item() == 1.0
    # the same limit again: nothing more to do; no limit: it resumes and completes
    assert Trainer(limited, tmp_path / "limited").run()["steps"] == summary["steps"]
    unlimited = config_from_mapping({**base_config, "max_time_s": None})
    resumed = Trainer(unlimited, tmp_path / "limited").run()
    assert resumed["status"] == "complete" and resumed["truncated"] is False
    assert resumed["steps"] == 30


def test_summary_and_stores_record_provenance(base_config, finished_run, tmp_path):
    summary, run_dir, _ = finished_run
    provenance = summary["provenance"]
    assert set(provenance) == {
        "efa_bench",
        "python",
        "packages",
        "devices",
        "config_sha256",
        "datasets",
    }
    assert set(provenance["packages"]) == set(KEY_PACKAGES)
    assert provenance["packages"]["jax"] == jax.__version__
    assert provenance["devices"] == {
        "platform": jax.devices()[0].platform,
        "kind": jax.devices()[0].device_kind,
        "count": 1,
    }
    digest = dataset_sha256(open_dataset("two_atoms", base_config["datasets_root"]))
    assert provenance["datasets"] == {"two_atoms": digest}
    assert len(provenance["config_sha256"]) == 64
    metrics = write_evaluation(run_dir)[1]
    assert json.loads(metrics.attrs["provenance"]) == provenance
    # the compilation of the session (initialisation, step, validation), kept with the times
    assert summary["compile_s"] > 0 and summary["compiled_programs"] >= 3
    assert metrics["compile_s"].item() == summary["compile_s"]
    other = Trainer(config_from_mapping({**base_config, "seed": 3}), tmp_path / "other").run()
    assert other["provenance"]["config_sha256"] != provenance["config_sha256"]


@pytest.fixture
def own_datasets(tmp_path):
    """A data set root of this test only (the test rebuilds its store)."""
    root = tmp_path / "datasets"
    write_two_atom_store(root, 160)
    return root


def _rebuild(root, seed):
    write_two_atom_store(root, 160, seed)


def test_resume_onto_a_rebuilt_data_set_is_refused(base_config, own_datasets, tmp_path):
    data = {**base_config, "datasets_root": str(own_datasets)}
    run = tmp_path / "run"
    truncated = Trainer(config_from_mapping({**data, "max_time_s": 1e-9}), run).run()
    assert truncated["status"] == "truncated" and checkpoints.latest_step(run / "checkpoints")
    before = json.loads((run / "data.json").read_text())["dataset_sha256"]

    _rebuild(own_datasets, seed=1)  # same name and size, other structures
    after = dataset_sha256(open_dataset("two_atoms", own_datasets))
    assert after != before
    with pytest.raises(DataError, match=rf"changed since the run started.*{before}.*{after}"):
        Trainer(config_from_mapping(data), run).run()
    with pytest.raises(DataError, match="cannot evaluate"):
        write_evaluation(run)

    _rebuild(own_datasets, seed=0)  # the data as it was: the run resumes
    assert Trainer(config_from_mapping(data), run).run()["status"] == "complete"


def test_a_run_without_a_data_record_is_refused(base_config, tmp_path):
    run = tmp_path / "run"
    Trainer(config_from_mapping({**base_config, "max_time_s": 1e-9}), run).run()
    (run / "data.json").unlink()
    with pytest.raises(DataError, match="data.json: missing"):
        Trainer(config_from_mapping(base_config), run).run()
