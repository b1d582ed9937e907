"""Fixtures for training tests: a tiny two-atom data set and a tiny run configuration."""

import json

import pytest

from tests.builders import write_two_atom_store

#: A model small enough to compile in seconds (no EFA: these tests are about the training loop).
TINY_MODEL = {"features": 8, "num_iterations": 1, "max_degree": 0, "num_basis": 8}


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory):
    """Directory holding ``two_atoms.zarr`` with 160 structures."""
    root = tmp_path_factory.mktemp("datasets")
    write_two_atom_store(root, 160)
    return root


@pytest.fixture
def base_config(datasets_root, tmp_path):
    """A valid run configuration as a mapping (runs go under ``tmp_path``)."""
    return base_configuration(datasets_root, tmp_path)


def base_configuration(datasets_root, directory) -> dict:
    """The tests' run configuration: the tiny model on :func:`datasets_root`'s two-atom set for
    30 steps, with runs under ``directory/runs``."""
    return {
        "experiment": "test",
        "dataset": "two_atoms",
        "datasets_root": str(datasets_root),
        "model": "local",
        "model_options": dict(TINY_MODEL),
        "splits": {"train": 96, "valid": 32, "test": 32},
        "batch_size": 16,
        "max_steps": 30,
        "valid_every": 10,
        "log_every": 5,
        "output_root": str(directory / "runs"),
    }


@pytest.fixture
def config_file(base_config, tmp_path):
    """Write a configuration mapping to ``tmp_path/<name>.json`` and return the path."""

    def write(data, name="run"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        return path

    return write


@pytest.fixture(scope="session")
def compilation_cache(tmp_path_factory):
    """Environment for ``efa`` subprocesses sharing one persistent JAX compilation cache."""
    cache = tmp_path_factory.mktemp("jax_cache")
    return {
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PLATFORMS": "cpu",
    }
