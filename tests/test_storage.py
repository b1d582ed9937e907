"""Atomic writes: a failed write leaves the previous output (or nothing) and no temporaries."""

import warnings

import numpy as np
import pytest
import xarray as xr

from efa.storage import atomic_path, write_text, write_zarr, write_zarr_group


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


def test_groups_of_one_store_are_written_independently(tmp_path):
    store = tmp_path / "bench.zarr"
    write_zarr_group(xr.Dataset({"a": ("x", np.arange(3.0))}, attrs={"who": "first"}), store, "one")
    write_zarr_group(xr.Dataset({"b": ("y", ["p", "q"])}), store, "two")
    write_zarr_group(xr.Dataset({"a": ("x", np.arange(2.0))}), store, "one")  # replaced
    one = xr.open_zarr(store, group="one", consolidated=False).load()
    two = xr.open_zarr(store, group="two", consolidated=False).load()
    assert one["a"].values.tolist() == [0.0, 1.0] and "who" not in one.attrs
    assert two["b"].values.tolist() == ["p", "q"]
    assert sorted(p.name for p in store.iterdir()) == ["one", "two", "zarr.json"]


def test_interrupted_group_write_keeps_the_previous_group(tmp_path, monkeypatch):
    store = tmp_path / "bench.zarr"
    write_zarr_group(xr.Dataset({"a": ("x", np.arange(3.0))}), store, "one")

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(xr.Dataset, "to_zarr", killed)
    with pytest.raises(RuntimeError):
        write_zarr_group(xr.Dataset({"a": ("x", np.arange(5.0))}), store, "one")
    monkeypatch.undo()
    assert xr.open_zarr(store, group="one", consolidated=False)["a"].size == 3
    assert sorted(p.name for p in store.iterdir()) == ["one", "zarr.json"]


@pytest.mark.parametrize("group", ["", "a/b", ".hidden"])
def test_group_names_are_plain(tmp_path, group):
    with pytest.raises(ValueError, match="plain name"):
        write_zarr_group(xr.Dataset(), tmp_path / "bench.zarr", group)
