"""``efa bench quadrature``: the errors against the exact pairwise form, and a tiny run."""

import math

import numpy as np
import xarray as xr

import efa.bench.quadrature as quadrature
from efa.cli.main import main


def test_systems_span_the_frequency_range():
    pairs = quadrature.two_atom_system()
    distances = np.linalg.norm(np.diff(pairs["positions"].reshape(-1, 2, 3), axis=1), axis=-1)
    np.testing.assert_allclose(distances.ravel()[[0, -1]], [10.0 / 64, 10.0])
    fragments = quadrature.far_fragment_system()
    count, atoms = quadrature.FRAGMENT_PAIRS, quadrature.FRAGMENT_ATOMS
    positions = fragments["positions"].reshape(count, 2, atoms, 3)
    gaps = np.linalg.norm(positions[:, 1, None] - positions[:, 0, :, None], axis=-1)
    np.testing.assert_allclose(gaps.max(axis=(1, 2)), quadrature.MAX_LENGTH, rtol=1e-9)
    assert fragments["fragments"].tolist()[: 2 * atoms] == [0] * atoms + [1] * atoms


def test_the_tabulated_bound_separates_exact_from_broken_quadrature():
    # inside the bound (50 points: π; 194 points: 4π) EFA equals the exact pairwise form up to
    # float32 rounding; 50 points at 4π lose percents of the interaction, at two atoms and far
    for lebedev_num, max_frequency in ((50, math.pi), (194, 4 * math.pi)):
        assert max(quadrature.quadrature_errors(lebedev_num, max_frequency)) < 1e-5
    two_atom, far = quadrature.quadrature_errors(50, 4 * math.pi)
    assert two_atom > 1e-2 and far > 1e-2


def test_small_run_writes_store_table_figure_and_targets(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(quadrature, "COST_SYSTEMS", ((1, 64), (4, 8)))
    arguments = ["bench", "quadrature", "--grids", "86", "50", "--max-frequencies", "1", "2"]
    assert main([*arguments, "--output-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    met, total = map(int, lines[-1].split(": ")[1].split("/"))
    assert total == 3 and 0 <= met <= total
    assert any(line.startswith("two-atom error inside the bound: at most") for line in lines)
    store = xr.open_zarr(tmp_path / "bench.zarr", group="quadrature", consolidated=False).load()
    assert store["lebedev_num"].values.tolist() == [50, 86]
    assert store["within_bound"].values.tolist() == [[True, False], [True, True]]
    assert (store["median_s"] > 0).all() and store["system"].values.tolist() == ["1x64", "4x8"]
    assert store["two_atom_error"].sel(lebedev_num=50).values[1] > 1e-5  # 2π on 50 points
    report = (tmp_path / "bench" / "quadrature.md").read_text()
    assert "| 86 | 2π | yes |" in report and "| 50 | 2π | no |" in report
    assert (tmp_path / "bench" / "quadrature.png").stat().st_size > 0


def test_grids_without_a_tabulated_bound_are_refused(tmp_path, capsys):
    assert main(["bench", "quadrature", "--grids", "26", "--output-dir", str(tmp_path)]) == 2
    assert "--grids 26: expected Lebedev grid sizes with a tabulated bound" in (
        capsys.readouterr().err
    )
