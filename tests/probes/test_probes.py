"""Each probe on analytic cases whose answers are known in closed form."""

import math

import numpy as np
import pytest

from efa.data.generators.analytic import two_atoms
from efa.data.generators.cumulene import cumulene_geometry
from efa.data.store import write_dataset
from efa.errors import ConfigError
from efa.probes import Predictor, run_probe, size_scan
from efa.probes.geometry import fragment_gap, pull_apart, terminal_torsion_deg
from efa.probes.labels import two_atom_energy
from efa.probes.metrics import REACH_TOLERANCE_EV
from tests.probes import analytic as a


def test_two_atom_potential_matches_the_data_set_generator():
    dataset = two_atoms(50, seed=3)
    r = np.linalg.norm(np.diff(dataset["positions"].values, axis=1)[:, 0], axis=-1)
    np.testing.assert_allclose(two_atom_energy(r), dataset["energy"].values, rtol=1e-12)


def test_two_atom_dissociation_closed_form():
    store = run_probe("two_atoms", a.pair_models(), num_points=37)
    r = store["coordinate"].values[0]
    exact, local = (store.sel(model=m, seed=0).isel(probe=0) for m in ("efa", "local"))
    for name in (
        "energy_mae",
        "energy_mae_beyond_cutoff",
        "forces_mae",
        "dissociation_energy_error",
        "energy_jumps",
    ):
        assert exact[name].item() == pytest.approx(0.0, abs=1e-12), name
    beyond = r > a.CUTOFF
    expected = np.mean(np.abs(two_atom_energy(r[beyond]) - two_atom_energy(a.CUTOFF)))
    assert local["energy_mae_beyond_cutoff"].item() == pytest.approx(expected, rel=1e-12)
    # D = E(far) − min E: the truncated curve ends at E(r_c) instead of E(10 Å).
    assert local["dissociation_energy_error"].item() == pytest.approx(
        two_atom_energy(a.CUTOFF) - two_atom_energy(10.0), rel=1e-9
    )
    # Monotone after its minimum: the truncated curve lacks the reference's rise beyond r_c.
    assert local["energy_jumps"].item() == pytest.approx(
        two_atom_energy(a.CUTOFF) - two_atom_energy(10.0), rel=1e-9
    )
    # One sign change of the bond force (at the minimum, r = 12^(1/11) Å) for both.
    assert exact["force_sign_flips"].item() == exact["force_sign_flips_reference"].item() == 1
    assert local["force_sign_flips"].item() == 1
    np.testing.assert_allclose(store["energy_reference"].values[0], two_atom_energy(r))
    assert store.attrs["kind"] == "dissociation"
    assert list(store["family"].values) == ["efa", "local"]


def test_reach_is_exactly_flat_beyond_the_receptive_field_of_a_local_model():
    store = run_probe("reach", a.pair_models(), num_points=79, min_gap=1.0, max_gap=40.0)
    gaps = store["separation"].values[0]
    local = store.sel(model="local", seed=0).isel(probe=0)
    assert local["change_beyond_receptive_field"].item() == 0.0
    energy = local["energy_predicted"].values
    assert np.all(energy[gaps > 2 * a.CUTOFF] == energy[-1])
    assert local["reach_distance"].item() <= a.CUTOFF
    exact = store.sel(model="efa", seed=0).isel(probe=0)
    assert math.isnan(exact["change_beyond_receptive_field"].item())  # R = inf: no such points
    varying = np.abs(two_atom_energy(gaps) - two_atom_energy(40.0)) > REACH_TOLERANCE_EV
    assert (
        exact["reach_distance"].item()
        == exact["reach_distance_reference"].item()
        == gaps[varying].max()
    )
    assert exact["energy_change_mae"].item() == pytest.approx(0.0, abs=1e-12)


def test_pull_apart_keeps_fragments_rigid_and_reaches_each_gap():
    rng = np.random.default_rng(0)
    positions = rng.normal(size=(5, 3))
    moving = np.array([False, False, True, True, False])
    gaps = np.array([2.0, 3.5, 10.0, 40.0])
    scan = pull_apart(positions, moving, gaps)
    np.testing.assert_allclose(fragment_gap(scan, moving), gaps, atol=1e-9)
    for part in (moving, ~moving):
        inner = scan[:, part, None] - scan[:, None, part]
        np.testing.assert_allclose(inner, np.broadcast_to(inner[0], inner.shape), atol=1e-12)
    np.testing.assert_array_equal(
        scan[:, ~moving], np.broadcast_to(positions[~moving], scan[:, ~moving].shape)
    )


def test_pull_apart_probe_labels_at_the_data_set_level_of_theory(tmp_path):
    dataset = two_atoms(4, seed=1)
    dataset.attrs.update(name="pairs", license="CC0-1.0", citation="test data")
    write_dataset(dataset, tmp_path / "pairs.zarr")
    store = run_probe(
        "pull_apart",
        a.pair_models(),
        reference=str(tmp_path / "pairs.zarr"),
        structure=2,
        fragment=(1,),
        num_points=10,
        min_gap=1.5,
        max_gap=9.0,
    )
    gaps = np.linspace(1.5, 9.0, 10)
    np.testing.assert_allclose(store["separation"].values[0], gaps, atol=1e-9)
    np.testing.assert_allclose(
        store["energy_reference"].values[0], two_atom_energy(gaps), rtol=1e-8
    )
    assert store["energy_mae"].sel(model="efa").item() == pytest.approx(0.0, abs=1e-9)


def test_torsion_angle_and_probe_closed_form(tmp_path):
    angles = np.linspace(90.0, 0.0, 13)
    positions = np.stack([cumulene_geometry(9, phi)[1] for phi in angles])
    numbers = np.stack([cumulene_geometry(9, phi)[0] for phi in angles])
    np.testing.assert_allclose(terminal_torsion_deg(positions, numbers), angles, atol=1e-9)

    write_dataset(a.torsion_reference(angles), tmp_path / "scan.zarr")
    models = [a.torsion_model("efa", "efa", 0.9), a.torsion_model("local", "local", 0.0)]
    store = run_probe("torsion", models, reference=str(tmp_path / "scan.zarr"))
    efa, local = (store.sel(model=m, seed=0).isel(probe=0) for m in ("efa", "local"))
    assert efa["barrier_reference"].item() == pytest.approx(a.BARRIER)
    assert efa["barrier"].item() == pytest.approx(0.9 * a.BARRIER)
    assert efa["barrier_relative_error"].item() == pytest.approx(0.1)
    assert efa["profile_correlation"].item() == pytest.approx(1.0)
    assert local["barrier_relative_error"].item() == pytest.approx(1.0)
    assert local["profile_correlation"].item() == 0.0  # a flat prediction carries no profile
    assert math.isnan(efa["forces_mae"].item())  # the synthetic reference has no forces
    np.testing.assert_allclose(store["coordinate"].values[0], angles, atol=1e-9)
    assert store["coordinate"].attrs["units"] == "deg"


def test_charge_transfer_closed_form(tmp_path):
    write_dataset(a.chain_reference(), tmp_path / "pairs.zarr")
    models = [a.chain_model("efa", "efa", 0.8), a.chain_model("local", "local", 0.0)]
    store = run_probe(
        "charge_transfer", models, reference=str(tmp_path / "pairs.zarr"), far_atoms=a.FAR_ATOMS
    )
    efa, local = (store.sel(model=m, seed=0).isel(probe=0) for m in ("efa", "local"))
    size = np.linalg.norm(a.FAR_FORCE_CHANGE)
    assert efa["far_force_change_reference"].item() == pytest.approx(size)
    assert efa["far_force_change_relative_error"].item() == pytest.approx(0.2)
    assert efa["far_force_change_error"].item() == pytest.approx(0.2 * size)
    assert local["far_force_change_relative_error"].item() == pytest.approx(1.0)
    assert local["far_force_change_predicted"].item() == 0.0
    assert efa["energy_change_error"].item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ConfigError, match="--far-atoms"):
        run_probe(
            "charge_transfer", models, reference=str(tmp_path / "pairs.zarr"), far_atoms=(40,)
        )


def test_size_scan_per_atom_error():
    from efa.data.generators.analytic import nacl_cluster
    from efa.data.structures import Structures

    per_atom = -2.0
    model = Predictor(
        "efa",
        1,
        "efa",
        5.0,
        math.inf,
        lambda s: (per_atom * s.num_atoms, np.zeros(s.positions.shape)),
    )
    sets = [
        Structures.from_dataset(nacl_cluster(4, seed=0, diameter=d, num_atoms=n))
        for d, n in ((6.0, 5), (8.0, 11))
    ]
    store = size_scan([(model, s) for s in sets])
    np.testing.assert_array_equal(store["coordinate"].values[0], [5, 11])
    expected = [np.mean(np.abs(per_atom - s.energy / s.num_atoms)) for s in sets]
    np.testing.assert_allclose(store["energy_mae_per_atom"].values[0, 0, 0], expected)
    assert store["per_atom_error_growth"].item() == pytest.approx(expected[1] / expected[0])
    with pytest.raises(ConfigError, match="already given"):
        size_scan([(model, sets[0]), (model, sets[0])])


def test_option_errors_name_the_option():
    models = a.pair_models()
    with pytest.raises(ConfigError, match="--fragment: not an option of probe 'two_atoms'"):
        run_probe("two_atoms", models, fragment=(1,))
    with pytest.raises(ConfigError, match="needs --reference DATASET and --fragment"):
        run_probe("pull_apart", models, reference="x")
    with pytest.raises(ConfigError, match="unknown"):
        run_probe("nope", models)
    with pytest.raises(ConfigError, match="already given"):
        run_probe("two_atoms", models + models[:1], num_points=5)
    with pytest.raises(ConfigError, match="--min-gap"):
        run_probe("two_atoms", models, min_gap=5.0, max_gap=2.0)
