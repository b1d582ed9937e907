"""``efa bench scale`` on tiny sizes: table, targets line and its group of ``bench.zarr``."""

import math

import numpy as np
import pytest
import xarray as xr

from efa.bench.scale import _measure_size, cube_side, exponent, make_structure, model_options
from efa.bench.timing import write_report
from efa.cli.main import main
from efa.models import build_model


def test_structure_has_the_density_and_efa_sees_the_whole_cube():
    structure = make_structure(500, seed=1)
    side = cube_side(500)
    assert side == pytest.approx((500 / 0.1) ** (1 / 3))
    assert structure.positions.shape == (1, 500, 3) and structure.atom_mask.all()
    assert 0 <= structure.positions.min() and structure.positions.max() <= side
    assert set(np.unique(structure.atomic_numbers)) <= {1, 6, 7, 8}
    assert model_options("efa", 500)["max_length"] == pytest.approx(math.sqrt(3) * side)
    assert "max_length" not in model_options("local", 500)


def test_exponent_is_the_log_log_slope():
    assert exponent(1.0, 10.0, 100, 1000) == pytest.approx(1.0)
    assert exponent(1.0, 4.0, 10, 20) == pytest.approx(2.0)


def test_small_run_prints_targets_and_keeps_other_groups(tmp_path, capsys):
    other = xr.Dataset({"median_s": ("case", [0.5])}, attrs={"benchmark": "attention"})
    write_report("attention", other, "# attention\n", tmp_path)
    assert main(["bench", "scale", "--sizes", "200", "400", "--output-dir", str(tmp_path)]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    met, total = map(int, lines[-1].removeprefix("targets met: ").split("/"))
    assert total == 5 and 0 <= met <= total  # cost ratio, 2 exponents, 2 memory growths
    assert any(line.startswith("EFA / local cost") and "(target ≤ 2)" in line for line in lines)
    assert sum("scaling exponent of" in line and "200 → 400" in line for line in lines) == 2
    assert (
        sum("peak memory per atom" in line and "largest / at 200 atoms" in line for line in lines)
        == 2
    )

    store = xr.open_zarr(tmp_path / "bench.zarr", group="scale", consolidated=False).load()
    assert store["num_atoms"].values.tolist() == [200, 400]
    assert store["model"].values.tolist() == ["local", "efa"]
    assert (store["median_s"] > 0).all() and (store["peak_bytes"] > 0).all()
    assert (store["num_pairs"] > 0).all() and store.attrs["targets_total"] == 5
    kept = xr.open_zarr(tmp_path / "bench.zarr", group="attention", consolidated=False).load()
    assert kept["median_s"].values.tolist() == [0.5]

    report = (tmp_path / "bench" / "scale.md").read_text()
    assert "| local | 200 |" in report and "| efa | 400 |" in report
    assert report.rstrip().endswith(lines[-1])
    assert (tmp_path / "bench" / "attention.md").read_text() == "# attention\n"


def test_cases_over_the_memory_limit_are_compiled_not_run(tmp_path, capsys):
    argv = [
        "bench",
        "scale",
        "--sizes",
        "100",
        "--max-memory-gib",
        "0.001",
        "--output-dir",
        str(tmp_path),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "local, N=100: not run" in out and "not run (memory)" in out
    assert out.strip().endswith("targets met: 0/5")
    store = xr.open_zarr(tmp_path / "bench.zarr", group="scale", consolidated=False).load()
    assert np.isnan(store["median_s"]).all() and (store["peak_bytes"] > 0).all()


def test_trained_runs_are_timed_with_their_parameters(tmp_path, capsys):
    """``--runs`` loads two trained run directories; a cutoff other than 5 Å is refused."""
    from efa.data.generators.analytic import two_atoms
    from efa.data.store import write_dataset
    from efa.errors import ConfigError
    from efa.runs.config import config_from_mapping
    from efa.train.loop import Trainer

    dataset = two_atoms(40, seed=0)
    dataset.attrs.update(name="two_atoms", license="CC0-1.0", citation="test data")
    write_dataset(dataset, tmp_path / "two_atoms.zarr")
    tiny = {"features": 8, "num_iterations": 1, "max_degree": 0, "num_basis": 8, "cutoff": 5.0}
    runs = []
    for model, options in [("local", tiny), ("efa", dict(tiny, qk_features=4, v_features=4))]:
        config = config_from_mapping(
            {
                "dataset": str(tmp_path / "two_atoms.zarr"),
                "model": model,
                "model_options": options,
                "splits": {"train": 24, "valid": 8, "test": 8},
                "batch_size": 8,
                "max_steps": 2,
                "valid_every": 2,
                "output_root": str(tmp_path / "runs"),
            }
        )
        Trainer(config).run()
        runs.append(str(config.run_dir()))
    out = tmp_path / "out"
    arguments = ["bench", "scale", "--sizes", "100", "--output-dir", str(out)]
    assert main([*arguments, "--runs", *runs]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("targets met: ")
    store = xr.open_zarr(out / "bench.zarr", group="scale", consolidated=False).load()
    assert runs[1] in store.attrs["models"] and (store["median_s"] > 0).all()

    with pytest.raises(ConfigError, match="cutoff 4.0 Å, expected the benchmark's 5.0 Å"):
        _measure_size(100, {}, lambda name, n: build_model(name, dict(tiny, cutoff=4.0)), None)


@pytest.mark.extended  # the mesh itself: tests/nn/test_mesh.py
def test_periodic_case_times_one_cell_with_efa_on_a_mesh(tmp_path, capsys):
    structure = make_structure(300, periodic=True)
    assert np.allclose(structure.cell[0], cube_side(300) * np.eye(3)) and structure.pbc.all()
    options = model_options("efa", 300, periodic=True)
    assert options["mesh_spacing"] == 2.5 and options["max_length"] == 10.0
    argv = ["bench", "scale", "--periodic", "--sizes", "100", "200", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("targets met: ") and lines[-1].endswith("/5")
    store = xr.open_zarr(tmp_path / "bench.zarr", group="scale_periodic", consolidated=False)
    store = store.load()
    assert store.attrs["periodic"] == 1 and "FFT mesh" in store.attrs["models"]
    assert (store["median_s"] > 0).all() and (store["num_pairs"] > 0).all()
    assert "periodic cubic cell" in (tmp_path / "bench" / "scale_periodic.md").read_text()
