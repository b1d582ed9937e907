"""The periodic probes: their reference structures against independent oracles, and their
metrics on stand-in models whose answers are known (the reference itself, and a strictly local
model: a constant energy per ion)."""

import math

import numpy as np
import pytest

from efa.data.generators.analytic import COULOMB_EV_ANGSTROM
from efa.data.generators.ewald import coulomb_born_cluster, ewald
from efa.data.structures import Structures
from efa.errors import ConfigError
from efa.predictors import Predictor
from efa.probes.crystal import charged_slabs, cluster_cutouts, vacancy_supercells
from efa.probes.registry import run_probe

LATTICE = 5.64


def exact(structures: Structures):
    """The reference potential: Ewald for cells, the direct sum for clusters."""
    energy = np.zeros(len(structures.energy))
    forces = np.zeros(structures.forces.shape)
    for index in range(len(energy)):
        mask = structures.atom_mask[index]
        positions, numbers = (
            structures.positions[index][mask],
            structures.atomic_numbers[index][mask],
        )
        if structures.periodic[index]:
            energy[index], forces[index][mask], _ = ewald(
                positions, numbers, structures.cell[index]
            )
        else:
            energy[index], forces[index][mask] = coulomb_born_cluster(positions, numbers)
    return energy, forces


def per_ion(structures: Structures):
    """A strictly local stand-in: −3 eV per ion, no forces (sees nothing beyond its ion)."""
    return -3.0 * structures.num_atoms.astype(float), np.zeros(structures.forces.shape)


MODELS = [
    Predictor("exact", 0, "efa", 4.0, math.inf, exact, compiled=False),
    Predictor("per_ion", 0, "local", 4.0, 8.0, per_ion, compiled=False),
]


def test_coulomb_born_cluster_of_one_ion_pair_is_the_pair_potential():
    r = 2.9
    energy, forces = coulomb_born_cluster(np.array([[0, 0, 0], [0, 0, r]]), np.array([11, 17]))
    decay = 0.25 * (0.95 + 1.81)
    assert energy == pytest.approx(-COULOMB_EV_ANGSTROM / r + 30 * np.exp(-r / decay), rel=1e-12)
    derivative = COULOMB_EV_ANGSTROM / r**2 - 30 / decay * np.exp(-r / decay)
    assert forces[1, 2] == pytest.approx(-derivative, rel=1e-12)


def test_reference_cells_agree_between_the_builders():
    """A perfect L=2 supercell has 8 times the energy of L=1, and the cut-out builder's 8-ion
    cell is the same crystal as the supercell builder's L=1."""
    supercells = vacancy_supercells([1, 2], LATTICE)
    perfect = supercells["energy"].values[supercells["group"].values == "perfect"]
    assert perfect[1] / perfect[0] == pytest.approx(8.0, rel=1e-10)
    cutouts = cluster_cutouts([2], LATTICE)
    cell = cutouts["energy"].values[cutouts["group"].values == "cell"][0]
    assert cell == pytest.approx(perfect[0], rel=1e-10)
    assert list(supercells["total_charge"].values) == [0, 1, 0, 1]


def test_charged_slab_energy_grows_linearly_with_the_vacuum():
    """A charged sheet in a neutralising background: dE/dw tends to a constant > 0."""
    widths = np.array([12.0, 16.0, 20.0, 24.0])
    slabs, thickness = charged_slabs(1, widths, LATTICE)
    slopes = np.diff(slabs["energy"].values) / np.diff(widths)
    assert thickness == pytest.approx(LATTICE / 2)
    assert np.all(slopes > 0.05)
    np.testing.assert_allclose(slopes, slopes.mean(), rtol=0.05)


@pytest.fixture(scope="module")
def supercell_store():
    return run_probe("nacl_supercell", MODELS, max_repeats=2)


@pytest.fixture(scope="module")
def slab_store():
    return run_probe("nacl_slab", MODELS, layers=1, max_vacuum=12.0, num_points=7)


def test_supercell_probe_scores_the_exact_model_zero_and_a_local_one_the_whole_trend(
    supercell_store,
):
    store = supercell_store
    exact_model = store.sel(model="exact", seed=0).isel(probe=0)
    local = store.sel(model="per_ion", seed=0).isel(probe=0)
    assert float(exact_model["size_trend_error"]) == pytest.approx(0.0, abs=1e-9)
    trend = float(local["size_trend_reference"])
    assert trend > 1.0  # the charged vacancy's energy changes by more than 1 eV from L=1 to 2
    # the per-ion model predicts the same vacancy energy (+3 eV) at every size
    assert float(local["size_trend_error"]) == pytest.approx(trend, rel=1e-9)
    assert store.attrs["kind"] == "finite_size"
    np.testing.assert_allclose(local["difference_predicted"].values, [3.0, 3.0])


def test_slab_probe_finds_the_local_model_flat_beyond_its_reach(slab_store):
    store = slab_store
    exact_model = store.sel(model="exact", seed=0).isel(probe=0)
    local = store.sel(model="per_ion", seed=0).isel(probe=0)
    assert float(exact_model["vacuum_slope_error"]) == pytest.approx(0.0, abs=1e-9)
    assert float(local["vacuum_slope"]) == pytest.approx(0.0, abs=1e-12)
    assert float(local["change_beyond_receptive_field"]) == 0.0
    assert float(local["vacuum_slope_error"]) == pytest.approx(
        float(local["vacuum_slope_reference"])
    )


def test_cutout_probe_gives_the_surface_energy_per_ion_pair():
    store = run_probe("nacl_cutout", MODELS, max_edge_pairs=2)
    exact_model = store.sel(model="exact", seed=0).isel(probe=0)
    assert float(exact_model["size_difference_error"]) == pytest.approx(0.0, abs=1e-9)
    local = store.sel(model="per_ion", seed=0).isel(probe=0)
    np.testing.assert_allclose(local["difference_predicted"].values, [0.0, 0.0])
    reference = store["difference_reference"].values[0]
    assert float(local["size_difference_error"]) == pytest.approx(np.mean(np.abs(reference)))


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("nacl_supercell", {"max_repeats": 1}, "--max-repeats 1: expected at least 2"),
        ("nacl_slab", {"max_vacuum": -2.0}, "--max-vacuum -2.0: expected a length > 0"),
        ("nacl_cutout", {"lattice_constant": 0.0}, "--lattice-constant 0.0: expected a length"),
        ("nacl_slab", {"layers": 1.5}, "--layers 1.5: expected an integer"),
    ],
)
def test_bad_periodic_probe_options_are_refused(name, options, message):
    with pytest.raises(ConfigError, match=message):
        run_probe(name, MODELS, **options)


def test_periodic_targets_judge_the_probe_stores(supercell_store, slab_store):
    """The exact stand-in (family efa) meets the EFA targets and the per-ion one (family local)
    the local ones; with the families swapped every periodic target fails."""
    from tests.declared_targets import evaluate_declared as evaluate_targets

    def periodic(stores):
        return [t for t in evaluate_targets(stores) if t.spec.description.startswith("periodic")]

    targets = periodic([supercell_store, slab_store])
    assert len(targets) == 4 and all(t.met for t in targets), [t.line() for t in targets]
    family = {"exact": "local", "per_ion": "efa"}
    reach = {"exact": 8.0, "per_ion": math.inf}
    swapped = [
        store.assign_coords(
            family=("model", [family[str(m)] for m in store["model"].values]),
            receptive_field=("model", [reach[str(m)] for m in store["model"].values]),
        )
        for store in (supercell_store, slab_store)
    ]
    # the exact model, now "local", has no measured flatness (the probe ran it with R = inf)
    swapped_targets = periodic(swapped)
    assert not any(t.met for t in swapped_targets), [t.line() for t in swapped_targets]
