"""The size-extrapolation probe: models evaluated on data sets of growing size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from efa.data.generators.analytic import nacl_cluster
from efa.data.store import write_dataset
from efa.errors import ConfigError
from efa.predictors import Predictor
from efa.probes import run_probe


def _write(root, name, atoms, diameter):
    dataset = nacl_cluster(6, seed=atoms, diameter=diameter, num_atoms=atoms, min_distance=1.8)
    dataset.attrs.update(name=name, license="CC0-1.0", citation="test data")
    write_dataset(dataset, root / f"{name}.zarr")


def _offset(power: int):
    """The exact labels plus an error of 0.01·N^power eV per structure of N atoms."""

    def energy_forces(structures):
        atoms = structures.atom_mask.sum(axis=1)
        return structures.energy + 0.01 * atoms**power, structures.forces

    return energy_forces


def test_per_atom_error_against_size_reads_off_how_the_error_grows(tmp_path):
    _write(tmp_path, "small", 8, 7.0)
    _write(tmp_path, "large", 16, 9.0)
    models = [
        Predictor("efa", 0, "efa", 5.0, math.inf, _offset(1)),
        Predictor("local", 0, "local", 5.0, 10.0, _offset(2)),
    ]
    store = run_probe(
        "size_extrapolation",
        models,
        datasets=("small", "large"),
        datasets_root=str(tmp_path),
        num_structures=4,
    )
    probe = store.isel(probe=0, seed=0)
    assert store.attrs["kind"] == "size_scan"
    np.testing.assert_allclose(probe["coordinate"].values, [8, 16])
    # 0.01·N per structure is 0.01 eV/atom at every size; 0.01·N² grows with N.
    np.testing.assert_allclose(probe["energy_mae_per_atom"].sel(model="efa").values, 0.01)
    np.testing.assert_allclose(probe["energy_mae_per_atom"].sel(model="local").values, [0.08, 0.16])
    assert float(probe["per_atom_error_growth"].sel(model="efa")) == pytest.approx(1.0)
    assert float(probe["per_atom_error_growth"].sel(model="local")) == pytest.approx(2.0)


def test_size_extrapolation_needs_its_data_sets():
    model = Predictor("efa", 0, "efa", 5.0, math.inf, _offset(1))
    with pytest.raises(ConfigError, match="needs --datasets"):
        run_probe("size_extrapolation", [model])
