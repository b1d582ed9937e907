"""``efa bench entry`` on a tiny structure: three fresh processes, a table, a target per size."""

import pytest
import xarray as xr

from efa.bench.entry import ENTRIES
from efa.cli.main import main


@pytest.mark.extended  # three compilations in fresh processes; tests/test_xla.py covers the rule
def test_small_run_times_every_entry_and_marks_the_late_one_warned(tmp_path, capsys):
    argv = ["bench", "entry", "--sizes", "16", "--rounds", "1", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "N=16: Python API / command line = " in out and "targets met:" in out
    store = xr.open_zarr(tmp_path / "bench.zarr", group="entry", consolidated=False)
    assert list(store["entry"].values) == list(ENTRIES)
    assert (store["median_s"].values > 0).all()
    # only the process that ran JAX before efa was warned
    assert store["warned"].sel(size=16).values.tolist() == [False, False, True]
    assert (tmp_path / "bench" / "entry.md").is_file()
