"""``efa bench attention`` on tiny sizes: prints its table and targets, writes its store."""

import math

import numpy as np
import xarray as xr

from efa.bench.attention import make_inputs, useful_flops
from efa.cli.main import main


def test_inputs_have_constant_density_and_bound_frequencies():
    inputs = make_inputs(num_structures=3, atoms_per_structure=40)
    side = (40 / 0.1) ** (1 / 3)
    assert inputs["positions"].shape == (120, 3)
    assert inputs["positions"].min() >= 0 and inputs["positions"].max() <= side
    assert inputs["frequencies"].max() * side * math.sqrt(3) == np.float32(math.pi)
    assert inputs["segment_ids"].tolist() == [0] * 40 + [1] * 40 + [2] * 40


def test_useful_flops():
    assert useful_flops(10, with_gradient=False) == 4 * 10 * 50 * 16 * 32
    assert useful_flops(10, with_gradient=True) == 3 * useful_flops(10, with_gradient=False)


def test_small_run_writes_store_table_and_targets(tmp_path, capsys):
    code = main(
        [
            "bench",
            "attention",
            "--sizes",
            "64",
            "--batch",
            "4x32",
            "--no-million",
            "--softmax-max-atoms",
            "128",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "targets met: " + lines[-1].split(": ")[1]
    met, total = map(int, lines[-1].split(": ")[1].split("/"))
    assert total == 2 and 0 <= met <= total  # batched ratio and arithmetic rate
    store = xr.open_zarr(tmp_path / "bench.zarr", group="attention", consolidated=False).load()
    assert set(store["method"].values) == {"efa", "softmax"}
    assert (store["median_s"] > 0).all() and (store["peak_bytes"] > 0).all()
    assert store.attrs["targets_total"] == 2
    report = (tmp_path / "bench" / "attention.md").read_text()
    assert "| efa | 4 × 32 | 128 | forward+gradient |" in report
    assert report.rstrip().endswith(lines[-1])


def test_per_atom_flatness_targets_when_both_sizes_run(tmp_path, capsys, monkeypatch):
    import efa.bench.attention as attention

    monkeypatch.setattr(attention, "FLAT_SIZES", (32, 64))
    arguments = ["bench", "attention", "--sizes", "32", "64", "--batch", "2x16", "--no-million"]
    assert main(arguments + ["--softmax-max-atoms", "16", "--output-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    flat = [line for line in lines if line.startswith("per-atom cost of")]
    assert [line.split(" at ")[0] for line in flat] == [
        "per-atom cost of forward",
        "per-atom cost of forward+gradient",
    ]
    assert all("/ at 32 atoms: " in line and "(target ≤ 1.1)" in line for line in flat)
    assert lines[-1].endswith("/4")  # batched ratio, two flatness ratios, arithmetic rate


def test_orders_table_times_both_linear_orders_and_names_autos_choice(
    tmp_path, capsys, monkeypatch
):
    import efa.bench.attention as attention

    # Grid pairs per value column 25 / 32 and 25 / 4: "auto" takes key_value, then per_frequency.
    monkeypatch.setattr(attention, "ORDER_CASES", ((1, 64, 16, 32, 50), (2, 40, 16, 4, 50)))
    arguments = ["bench", "attention", "--sizes", "32", "--batch", "2x16", "--no-million"]
    options = ["--softmax-max-atoms", "16", "--orders", "--output-dir", str(tmp_path)]
    assert main(arguments + options) == 0
    out = capsys.readouterr().out
    assert "| 1 × 64 | 16 | 32 | 50 |" in out and "| 2 × 40 | 16 | 4 | 50 |" in out
    rows = [line for line in out.splitlines() if line.startswith(("| 1 × 64 | 16", "| 2 × 40"))]
    assert [row.rstrip(" |").rsplit("| ", 1)[1] for row in rows] == ["key_value", "per_frequency"]
    store = xr.open_zarr(tmp_path / "bench.zarr", group="attention", consolidated=False).load()
    assert store["shape_auto_order"].values.tolist() == ["key_value", "per_frequency"]
    assert (store["shape_key_value_median_s"] > 0).all()
    assert (store["shape_per_frequency_median_s"] > 0).all()
    assert (
        "Forward + gradient by contraction order" in (tmp_path / "bench/attention.md").read_text()
    )
