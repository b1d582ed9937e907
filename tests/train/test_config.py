"""Run configuration: loading, overrides and error messages naming the bad key."""

import pytest

from efa.errors import ConfigError
from efa.runs.config import apply_overrides, config_from_mapping, load_config


def test_valid_mapping_and_run_dir(base_config):
    config = config_from_mapping(base_config)
    assert config.run_dir().parts[-3:] == ("test", "local", "seed0")
    assert config_from_mapping(config.to_dict()) == config


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("batch_sise", 4, "unknown key 'batch_sise'"),
        ("batch_size", 0, "batch_size=0: expected a positive integer"),
        ("batch_size", "many", "batch_size='many': expected a positive integer"),
        ("learning_rate", -1.0, "learning_rate=-1.0: expected a finite positive number"),
        ("splits", {"train": 10, "holdout": 3}, "splits.holdout: unknown split"),
        ("splits", {"train": 0}, "splits.train=0: expected a positive integer"),
        ("gradient_clip", "yes", "gradient_clip='yes': expected a finite positive number or null"),
        ("dataset", "", "dataset='': expected a data set name"),
        ("devices", 0, "devices=0: expected a positive integer or null"),
        ("devices", "all", "devices='all': expected a positive integer or null"),
        ("learning_rate", float("inf"), "learning_rate=inf: expected a finite positive number"),
        ("energy_weight", float("nan"), "energy_weight=nan: expected a finite number >= 0"),
        ("max_time_s", float("inf"), "max_time_s=inf: expected a finite positive number"),
        ("splits", "random", "splits='random': expected a mapping like"),
        ("cutoff", 5.0, "cutoff: only a calculator model declares it"),
        ("energy_loss", "atom", "energy_loss='atom': expected one of total, per_atom"),
    ],
)
def test_errors_name_the_key(base_config, key, value, message):
    with pytest.raises(ConfigError, match=message):
        config_from_mapping({**base_config, key: value}, "run.yaml")


def test_file_and_overrides(base_config, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("dataset: two_atoms\nlearning_rate: 1e-3\nmodel_options: {features: 8}\n")
    config = load_config(path, ["model_options.num_iterations=3", "seed=2"])
    assert config.learning_rate == 1e-3 and config.seed == 2
    assert dict(config.model_options) == {"features": 8, "num_iterations": 3}
    assert config.splits["valid"] == 500  # untouched splits keep their defaults
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides({}, ["seed"])
    path.write_text("dataset: [unclosed\n")
    with pytest.raises(ConfigError, match="run.yaml: not valid yaml"):
        load_config(path)
