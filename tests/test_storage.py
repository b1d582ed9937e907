"""Atomic writes: a failed write leaves the previous output (or nothing) and no temporaries."""

import warnings

import numpy as np
import pytest
import xarray as xr

from efa.storage import atomic_path, write_text, write_zarr


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "store.zarr"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.mkdir()
            (temporary / "half").write_text("partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_rewrite_keeps_the_previous_store(tmp_path):
    target = tmp_path / "store.zarr"
    write_zarr(xr.Dataset({"a": ("x", np.arange(3.0))}), target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.mkdir()
            raise RuntimeError("killed")
    assert xr.open_zarr(target, consolidated=False)["a"].values.tolist() == [0.0, 1.0, 2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["store.zarr"]


def test_rewrite_replaces_store_and_strings_round_trip(tmp_path):
    target = tmp_path / "store.zarr"
    write_zarr(xr.Dataset({"a": ("x", np.arange(3.0))}), target)
    dataset = xr.Dataset({"name": ("case", ["efa", "softmax"])}, coords={"case": ["p", "q"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zarr warning about unspecified string types
        write_zarr(dataset, target)
    loaded = xr.open_zarr(target, consolidated=False).load()
    assert "a" not in loaded
    assert loaded["name"].values.tolist() == ["efa", "softmax"]
    assert [p.name for p in tmp_path.iterdir()] == ["store.zarr"]


def test_write_text(tmp_path):
    path = write_text("hello\n", tmp_path / "sub" / "table.md")
    assert path.read_text() == "hello\n"
