"""Calculator models: any ASE calculator evaluated and probed like a trained model."""

import json
import math
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr
from ase import Atoms
from ase.calculators.lj import LennardJones

from efa.cli.main import main
from efa.data.atoms import spin_multiplicity
from efa.data.generators.analytic import two_atoms
from efa.data.generators.sn2 import sn2_scan
from efa.data.structures import Structures
from efa.errors import ConfigError, EfaError
from efa.predictors import load_predictor
from efa.predictors.calculator import calculator_predictor, make_calculator
from tests.builders import write_two_atom_store

LJ = "ase.calculators.lj:LennardJones"
LJ_OPTIONS = {"sigma": 1.116, "epsilon": 0.8, "rc": 12.0}


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module ``user_calculators`` on the import path with good and bad factories."""
    (tmp_path / "user_calculators.py").write_text(
        textwrap.dedent("""
        from ase.calculators.calculator import Calculator, all_changes
        import numpy as np

        def raises():
            raise RuntimeError("no licence file")

        def not_a_calculator():
            return {"energy": 1.0}

        class NaNCalculator(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                self.results = {"energy": float("nan"), "forces": np.zeros((len(atoms), 3))}

        class Recorder(Calculator):
            implemented_properties = ["energy", "forces"]
            seen = []

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                Recorder.seen.append((atoms.info["charge"], atoms.info["spin"],
                                      float(atoms.get_initial_charges().sum())))
                self.results = {"energy": 0.0, "forces": np.zeros((len(atoms), 3))}
    """)
    )
    (tmp_path / "broken_calculators.py").write_text("def f(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "user_calculators"
    for name in ("user_calculators", "broken_calculators"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    "path, message",
    [
        ("user_calculators:raises", "the factory raised RuntimeError: no licence file"),
        ("user_calculators:not_a_calculator", "returned a dict; expected an ase.calculators"),
        ("user_calculators:missing", "has no attribute 'missing'"),
        ("no_such_module_xyz:factory", "cannot import module 'no_such_module_xyz'"),
        ("broken_calculators:f", "cannot import module 'broken_calculators' (SyntaxError"),
        ("user_calculators", "expected an import path 'package.module:factory'"),
    ],
)
def test_bad_factories_are_refused_by_name(user_module, path, message):
    with pytest.raises(ConfigError, match=r"calculator '" + path.split(":")[0]) as error:
        make_calculator(path)
    assert message in str(error.value)


def test_non_finite_energy_is_an_error_naming_the_structure(user_module):
    predictor = calculator_predictor("nan", "user_calculators:NaNCalculator")
    structures = Structures.from_dataset(two_atoms(3, seed=0))
    with pytest.raises(EfaError, match=r"non-finite energy or force for structure 0 \(HHe\)"):
        predictor.predict(structures)


def test_charge_and_spin_reach_the_calculator(user_module):
    scan = sn2_scan(num_points=2, coordinate_min=-2, coordinate_max=2)  # F- + CH3I, charge -1
    structures = Structures.from_dataset(scan)
    from user_calculators import Recorder

    calculator_predictor("recorder", "user_calculators:Recorder").predict(structures)
    assert Recorder.seen == [(-1, 1, -1.0), (-1, 1, -1.0)]
    assert spin_multiplicity(np.array([1]), 0) == 2 and spin_multiplicity(np.array([1]), 1) == 1


def test_lennard_jones_predictor_equals_ase_directly():
    structures = Structures.from_dataset(two_atoms(20, seed=1))
    predictor = calculator_predictor("lj", LJ, LJ_OPTIONS, receptive_field=12.0)
    energy, forces = predictor.predict(structures)
    for index in range(20):
        atoms = Atoms(
            numbers=structures.atomic_numbers[index], positions=structures.positions[index]
        )
        atoms.calc = LennardJones(**LJ_OPTIONS)
        assert energy[index] == atoms.get_potential_energy()
        np.testing.assert_array_equal(forces[index], atoms.get_forces())
    assert predictor.family == "external" and predictor.receptive_field == 12.0
    assert math.isnan(predictor.cutoff) and predictor.card["source"] == LJ
    assert math.isinf(calculator_predictor("lj", LJ, receptive_field="global").receptive_field)


def test_gfn2_calculator_reproduces_the_suites_gfn2_labels():
    """tblite's ASE calculator on structures the suite labelled with tblite's own API."""
    scan = sn2_scan(num_points=3, coordinate_min=-2.0, coordinate_max=2.0)
    structures = Structures.from_dataset(scan)
    predictor = calculator_predictor(
        "gfn2",
        "tblite.ase:TBLite",
        {
            "method": "GFN2-xTB",
            "electronic_temperature": float(scan.electronic_temperature[0]),
            "accuracy": 0.01,
            "verbosity": 0,
        },
    )
    energy, forces = predictor.predict(structures)
    np.testing.assert_allclose(energy, structures.energy, rtol=0, atol=1e-5)
    np.testing.assert_allclose(forces, structures.forces, rtol=0, atol=1e-4)


@pytest.fixture
def datasets_root(tmp_path):
    root = tmp_path / "datasets"
    write_two_atom_store(root, 60)
    return root


def _calculator_run(datasets_root, tmp_path, calculator=LJ, options=LJ_OPTIONS, flags=()):
    argv = [
        "train",
        *flags,
        "--experiment",
        "pairs",
        "--dataset",
        "two_atoms",
        "--set",
        f"datasets_root={datasets_root}",
        "--set",
        f"calculator={calculator}",
        "--set",
        f"calculator_options={json.dumps(options)}",
        "--set",
        "label=lj",
        "--set",
        "receptive_field=12.0",
        "--set",
        "splits={train: 30, valid: 10, test: 20}",
        "--output-root",
        str(tmp_path / "runs"),
    ]
    return main(argv), tmp_path / "runs" / "pairs" / "lj" / "seed0"


def test_a_changed_setting_sets_the_old_run_aside_with_replace_changed(
    datasets_root, tmp_path, capsys
):
    """A run directory of another configuration is refused by name (pointing at the flag); with
    --replace-changed it is kept as .seed0.replaced and the run starts anew; the same
    configuration again changes nothing."""
    assert _calculator_run(datasets_root, tmp_path)[0] == 0
    changed = {**LJ_OPTIONS, "sigma": 1.1}
    status, run = _calculator_run(datasets_root, tmp_path, options=changed)
    assert status == 2
    assert "holds a run with a different configuration (calculator_options:" in (
        capsys.readouterr().err
    )
    flags = ("--replace-changed",)
    status, run = _calculator_run(datasets_root, tmp_path, options=changed, flags=flags)
    assert status == 0
    err = capsys.readouterr().err
    aside = run.with_name(".seed0.replaced")
    assert f"the previous run is kept in {aside}" in err, err
    old = json.loads((aside / "config.json").read_text())["calculator_options"]
    assert old == LJ_OPTIONS
    assert json.loads((run / "config.json").read_text())["calculator_options"] == changed
    before = (run / "summary.json").read_text()
    assert _calculator_run(datasets_root, tmp_path, options=changed, flags=flags)[0] == 0
    assert "kept in" not in capsys.readouterr().err
    assert (run / "summary.json").read_text() == before


def _strict_json(line: str):
    """``line`` read as strict JSON: NaN and Infinity, which are not JSON, are refused."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_calculator_run_is_evaluated_and_probed_like_a_trained_one(datasets_root, tmp_path, capsys):
    status, run = _calculator_run(datasets_root, tmp_path)
    assert status == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["steps"] == 0
    assert not (run / "model.json").exists() and (run / "data.json").exists()
    assert load_predictor(run).label == "lj"

    before = sorted(path.name for path in run.iterdir())
    assert main(["evaluate", str(run), "--output", str(run)]) == 2  # would delete the run
    assert sorted(path.name for path in run.iterdir()) == before
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    printed = _strict_json(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["num_parameters"] is None  # a calculator has no parameter count
    metrics = xr.open_zarr(run / "metrics.zarr", consolidated=False).load()
    predictions = xr.open_zarr(run / "predictions_test.zarr", consolidated=False).load()
    error = np.abs(predictions.energy_predicted - predictions.energy_reference).mean()
    assert float(metrics["energy_mae"].item()) == pytest.approx(float(error), rel=1e-12)
    assert math.isnan(float(metrics["num_parameters"].item()))
    assert json.loads(metrics.attrs["card"])["source"] == LJ

    store = tmp_path / "probe.zarr"
    assert (
        main(
            ["probe", "two_atoms", "--run", str(run), "--num-points", "12", "--output", str(store)]
        )
        == 0
    )
    probe = xr.open_zarr(store, consolidated=False).load()
    assert probe["family"].values.tolist() == ["external"]
    assert probe.attrs["experiments"] == ["pairs"]
    assert np.all(np.isfinite(probe["energy_predicted"].values))

    output = tmp_path / "report"
    assert (
        main(
            [
                "report",
                "--metrics",
                str(run / "metrics.zarr"),
                "--probes",
                str(store),
                "--output-dir",
                str(output),
            ]
        )
        == 0
    )
    board = (output / "tables" / "leaderboard_pairs.md").read_text()
    assert "| 1 | lj |" in board  # the rest of the columns are in the CSV
    full = (output / "tables" / "leaderboard_pairs.csv").read_text()
    assert "two_atoms:energy_mae" in full and LJ in full
    assert (output / "figures" / "leaderboard_pairs.png").is_file()


def test_a_calculator_run_directory_is_not_reused_for_other_splits(datasets_root, tmp_path, capsys):
    status, run = _calculator_run(datasets_root, tmp_path)
    assert status == 0
    splits = (run / "splits.json").read_text()
    argv = [
        "train",
        "--experiment",
        "pairs",
        "--dataset",
        "two_atoms",
        "--set",
        f"datasets_root={datasets_root}",
        "--set",
        f"calculator={LJ}",
        "--set",
        f"calculator_options={json.dumps(LJ_OPTIONS)}",
        "--set",
        "label=lj",
        "--set",
        "receptive_field=12.0",
        "--set",
        "splits={train: 20, valid: 10, test: 30}",
        "--output-root",
        str(tmp_path / "runs"),
    ]
    assert main(argv) == 2
    assert "holds a run with a different configuration (splits:" in capsys.readouterr().err
    assert (run / "splits.json").read_text() == splits


def test_calculator_run_refuses_a_factory_that_raises(user_module, datasets_root, tmp_path, capsys):
    status, run = _calculator_run(datasets_root, tmp_path, "user_calculators:raises", {})
    assert status == 2 and "the factory raised RuntimeError" in capsys.readouterr().err
    assert not run.exists()


def test_a_calculator_that_cannot_take_an_element_stops_its_first_job(
    datasets_root, tmp_path, capsys
):
    """EMT has no parameters for He: the run is refused when it is prepared (the job right after
    the store is built), naming the model, the data set and the element's structure, not at
    its evaluation after other models trained."""
    status, run = _calculator_run(
        datasets_root, tmp_path, calculator="ase.calculators.emt:EMT", options={}
    )
    assert status == 2
    message = capsys.readouterr().err
    assert "model 'lj': cannot evaluate data set 'two_atoms' (asked for its structures [0]" in (
        message
    ), message
    assert "He" in message and message.count("\n") == 1
    assert not (run / "summary.json").exists()
