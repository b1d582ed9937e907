"""A data set store is read as good only with the values it was written with, and a store is
never written through a symbolic link."""

import shutil

import numpy as np
import pytest
import zarr

from efa.cli.main import main
from efa.data.store import open_dataset
from efa.errors import DataError
from tests.builders import write_two_atom_store

from ..conftest import ROOT


def test_a_store_whose_values_were_altered_in_place_is_refused(tmp_path):
    path = write_two_atom_store(tmp_path, 10)
    original = open_dataset(path)
    energy = zarr.open_group(str(path), mode="r+")["energy"]
    values = energy[:]
    values[3] += 1e-9  # one value, a rounding's worth: the file sizes stay what they were
    energy[:] = values
    with pytest.raises(DataError, match="its values changed since it was written"):
        open_dataset(path)
    energy[:] = np.asarray(original["energy"].values)  # the original values read as good again
    assert open_dataset(path).attrs["content_sha256"] == original.attrs["content_sha256"]


def test_a_store_is_not_written_through_a_symbolic_link(tmp_path, capsys):
    root = tmp_path / "datasets"
    root.mkdir()
    shutil.copy(ROOT / "datasets" / "registry.yaml", root)
    elsewhere = tmp_path / "elsewhere.zarr"
    (root / "linked.zarr").symlink_to(elsewhere)
    frame = tmp_path / "frame.xyz"
    frame.write_text(
        '2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc="F F F"\n'
        "H 0 0 0 0 0 0.1\nH 0 0 0.74 0 0 -0.1\n"
    )
    argv = ["data", "import", str(frame), "--name", "linked", "--root", str(root)]
    assert main(argv) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert (root / "linked.zarr").is_symlink() and not elsewhere.exists()
