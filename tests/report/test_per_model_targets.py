"""Targets on every model: own verdicts, scores, and capability flags that give n/a."""

import numpy as np
import pytest

from efa.errors import ConfigError
from efa.probes import run_probe
from efa.report.target_spec import parse_target
from efa.report.targets import evaluate_targets, scores
from efa.runs.capabilities import Capabilities, capabilities_from_mapping
from tests.probes import analytic as a


def test_a_target_on_all_models_judges_each_model_and_scores_it():
    store = run_probe("two_atoms", a.pair_models(), num_points=46)
    store.attrs["experiments"] = ["two_atoms"]
    spec = parse_target(
        "t",
        {
            "description": "beyond the cutoff",
            "metric": "energy_mae_beyond_cutoff",
            "models": "all",
            "compare": "<",
            "bound": 1e-3,
        },
        "probe",
        "two_atoms",
    )
    verdicts = evaluate_targets([spec], [store])
    by_model = {v.model: v for v in verdicts}
    assert set(by_model) == set(str(m) for m in store["model"].values)
    assert by_model["efa"].met and not by_model["local"].met
    assert scores(verdicts)["two_atoms"] == {"efa": (1, 1), "local": (0, 1)}


def test_capabilities_are_checked_by_key_and_give_reasons():
    with pytest.raises(ConfigError, match=r"capabilities\.charge: not a capability"):
        capabilities_from_mapping({"charge": True})
    with pytest.raises(ConfigError, match=r"capabilities\.elements: 'Xx'"):
        capabilities_from_mapping({"elements": ["H", "Xx"]})
    flags = capabilities_from_mapping({"elements": ["H", "He"], "periodic": False})
    assert flags.lacks(periodic=True, elements=[1, 18]) == "takes no periodic cells; covers no Ar"
    assert Capabilities().lacks(total_charge=True) == "takes no total charge"


def _test_metrics(models, experiment="two_atoms"):
    """Test metrics (experiment, model, seed) with the same errors for every model."""
    import numpy as np
    import xarray as xr

    values = np.full((1, len(models), 1), 0.1)
    return xr.Dataset(
        {name: (("experiment", "model", "seed"), values) for name in ("energy_mae", "forces_mae")},
        coords={"experiment": [experiment], "model": list(models), "seed": [0]},
    )


def _exponential(cutoff):
    """``exp(−r/2)`` eV, cut without a shift at ``cutoff`` Å (``inf``: not cut)."""

    def energy_of_r(r, numbers, charge):
        inside = r < cutoff
        return np.where(inside, np.exp(-r / 2), 0.0), np.where(inside, -np.exp(-r / 2) / 2, 0.0)

    return energy_of_r


def test_the_leaderboard_ranks_models_by_score_with_a_column_per_target(tmp_path):
    from efa.report.leaderboard import leaderboard
    from tests.builders import write_two_atom_store

    write_two_atom_store(tmp_path, 12)
    # an exponential pair energy felt at any distance, and the same cut at 5 Å
    models = [
        a.pair_predictor("smooth", _exponential(np.inf)),
        a.pair_predictor("cut", _exponential(5.0)),
    ]
    store = run_probe(
        "physics", models, reference="two_atoms", datasets_root=str(tmp_path), num_structures=4
    )
    store.attrs["experiments"] = ["two_atoms"]
    entries = {
        "force_consistency_error": ("<", 0.01),  # both: their forces are their gradient
        "ghost_atom_force": ("<", 1e-9),  # exp(−10) from the ghost 20 Å away: only 'cut'
        "extensivity_error": ("<", 1e-9),  # two copies 15 Å apart: only 'cut'
    }
    specs = [
        parse_target(
            f"t{index}",
            {"description": metric, "metric": metric, "models": "all", "compare": c, "bound": b},
            "probe",
            "physics",
        )
        for index, (metric, (c, b)) in enumerate(entries.items())
    ]
    verdicts = evaluate_targets(specs, [store])
    header, rows = leaderboard(
        _test_metrics(["smooth", "cut"]), [store], {}, "two_atoms", None, verdicts
    )
    assert header[1] == "score"
    assert "physics:ghost_atom_force < 1e-09" in header  # the target's column
    assert header.count("physics:ghost_atom_force") == 1  # the metric's own column
    assert [row[:2] for row in rows] == [["cut", "3/3"], ["smooth", "1/3"]]
    target = header.index("physics:ghost_atom_force < 1e-09")
    assert rows[1][target].startswith("NOT met")
    stress = header.index("physics:stress_consistency_error")
    assert [row[stress] for row in rows] == ["n/a", "n/a"]  # molecules: n/a, not nan


def test_a_physics_store_read_back_counts_as_complete(tmp_path):
    """The suite's completeness target reads the reasons of a store written to zarr and read
    back (numpy's StringDType), and counts a check that is n/a for a model as taken."""
    import xarray as xr

    from efa.storage import write_zarr
    from tests.builders import write_two_atom_store

    write_two_atom_store(tmp_path, 12)
    models = [a.pair_predictor("cut", _exponential(5.0))]
    store = run_probe(
        "physics", models, reference="two_atoms", datasets_root=str(tmp_path), num_structures=2
    )
    write_zarr(store, tmp_path / "physics.zarr")
    back = xr.open_zarr(tmp_path / "physics.zarr", consolidated=False).load()
    spec = parse_target(
        "t",
        {
            "description": "complete",
            "metric": "incomplete_probe_stores",
            "compare": "==",
            "bound": 0,
        },
        "suite",
        "",
    )
    (verdict,) = evaluate_targets([spec], [back])
    assert verdict.met and verdict.value == 0


def test_the_markdown_leaderboard_is_read_at_a_glance():
    """Rank, the columns that matter with units, '–' for a missing value; the rest in the CSV."""
    from efa.report.leaderboard import glance_table

    header = ["model", "score", "energy_mae", "forces_mae", "two_atoms:energy_jumps", "source"]
    header += ["num_parameters", "receptive_field"]
    rows = [
        ["efa", "6/6", 0.0123456, 0.02, 1.0, "efa-bench efa", 1733.0, "global"],
        ["emt", "5/6", 0.5, float("nan"), 2.0, "ase", float("nan"), ""],
    ]
    lines = glance_table(header, rows, "leaderboard_x.csv").splitlines()
    assert lines[0] == (
        "| rank | model | targets met | energy MAE (eV) | force MAE (eV/Å) | parameters "
        "| receptive field |"
    )
    assert lines[2] == "| 1 | efa | 6/6 | 0.0123 | 0.02 | 1733 | global |"
    assert lines[3] == "| 2 | emt | 5/6 | 0.5 | – | – | – |"
    assert lines[-1] == (
        "2 more columns (probe metrics, test sets and groups, model card, capabilities, each "
        "target's verdict) are in `leaderboard_x.csv`."
    )
