"""The NVE probe: energy conservation and failure of ASE velocity Verlet driven by a model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from efa.data.generators.analytic import far_fragment
from efa.data.store import write_dataset
from efa.errors import ConfigError
from efa.predictors import Predictor
from efa.probes import run_probe
from efa.probes.dynamics import nve_metrics
from efa.report.figures import probe_figure
from tests.declared_targets import evaluate_declared as evaluate_targets
from tests.probes.test_far_fragment import _potential

OPTIONS = dict(reference="start", num_trajectories=2, steps=200, sample_every=10)


def test_nve_metrics_read_slope_scatter_and_failures():
    time = np.linspace(0.0, 1.0, 11)
    deviation = np.stack([0.002 + 0.01 * time, -0.03 * time])
    deviation[1, 6:] = math.nan  # the second trajectory failed at 0.55 ps
    metrics = nve_metrics(time, deviation, np.array([math.nan, 0.55]), 1.0)
    assert metrics["energy_drift"] == pytest.approx(0.02)
    assert metrics["energy_fluctuation"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["time_to_failure"] == pytest.approx((1.0 + 0.55) / 2)
    assert metrics["failed_fraction"] == 0.5
    assert "relative_energy_drift" not in metrics  # no kinetic energies given
    # kinetic energy per atom swinging ±0.01 about its mean: spread 0.01 eV/atom
    kinetic = 0.04 + 0.01 * np.tile([1.0, -1.0], (2, 6))[:, :11]
    metrics = nve_metrics(time, deviation, np.array([math.nan, 0.55]), 1.0, kinetic)
    spread = [np.std(kinetic[0]), np.std(kinetic[1][:6])]
    drift_over_span = [0.01 * 1.0, 0.03 * 0.5]  # |slope| × span of the kept samples
    assert metrics["relative_energy_drift"] == pytest.approx(
        np.mean(np.divide(drift_over_span, spread))
    )


def _start(tmp_path):
    dataset = far_fragment(6, seed=1, min_distance=6.0, max_distance=8.0)
    dataset.attrs.update(name="start", license="CC0-1.0", citation="test data")
    write_dataset(dataset, tmp_path / "start.zarr")
    return {**OPTIONS, "datasets_root": str(tmp_path)}


def _non_conservative(structures):
    """Exact energies, forces scaled by 1.3: not the gradient of the energy."""
    energy, forces = _potential()(structures)
    return energy, 1.3 * forces


def test_exact_forces_conserve_energy_and_match_the_reference_trajectory(tmp_path):
    models = [
        Predictor("efa", 0, "efa", 5.0, math.inf, _potential()),
        Predictor("local", 0, "local", 5.0, 10.0, _non_conservative),
    ]
    store = run_probe("nve", models, **_start(tmp_path), temperature_k=300.0)
    probe = store.isel(probe=0, seed=0)
    exact, scaled = probe.sel(model="efa"), probe.sel(model="local")
    # The exact potential as a model runs the very trajectories of the reference labeller.
    np.testing.assert_allclose(
        exact["energy_deviation"].values, probe["energy_deviation_reference"].values, atol=1e-12
    )
    assert float(exact["failed_fraction"]) == 0.0
    assert float(exact["time_to_failure"]) == pytest.approx(200 * 0.5e-3)
    # Velocity Verlet with 0.5 fs conserves the exact energy to well below 1 meV/atom/ps;
    # forces that are not −∇E pump energy in.
    assert float(exact["energy_drift"]) < 1e-3
    assert float(scaled["energy_drift"]) > 10 * float(exact["energy_drift"])
    assert float(exact["energy_drift_reference"]) == pytest.approx(float(exact["energy_drift"]))
    assert store.attrs["kind"] == "dynamics"
    probe_figure(store)  # draws
    targets = evaluate_targets([store])
    assert targets[0].met  # the store is complete
    assert [t.met for t in targets if t.spec.description.startswith("NVE")] == [True, True]


def test_a_model_that_blows_up_fails_at_once(tmp_path):
    def exploding(structures):
        energy, forces = _potential()(structures)
        return energy + np.nan, forces

    models = [Predictor("efa", 0, "efa", 5.0, math.inf, exploding)]
    store = run_probe("nve", models, **_start(tmp_path), with_reference=False)
    probe = store.isel(probe=0, seed=0).sel(model="efa")
    assert float(probe["failed_fraction"]) == 1.0
    assert float(probe["time_to_failure"]) == pytest.approx(0.5e-3)
    assert np.isnan(store["energy_deviation_reference"].values).all()
    nve = [t for t in evaluate_targets([store]) if t.spec.description.startswith("NVE")]
    assert [t.met for t in nve] == [False, False] and nve[1].value == 1.0


@pytest.mark.parametrize(
    "options, message",
    [
        ({"reference": None}, "needs --reference"),
        ({"num_trajectories": 0}, "--num-trajectories 0"),
        ({"timestep_fs": 0.0}, "--timestep-fs 0.0"),
        ({"sample_every": 500}, "--sample-every 500"),
        ({"num_trajectories": 7}, "--num-trajectories 7: expected 1 to 6"),
    ],
)
def test_bad_nve_options_name_the_option(tmp_path, options, message):
    models = [Predictor("efa", 0, "efa", 5.0, math.inf, _potential())]
    with pytest.raises(ConfigError, match=message):
        run_probe("nve", models, **{**_start(tmp_path), **options})
