"""Atomic writes: a failed write leaves the previous output (or nothing) and no temporaries."""

import errno
import json
import os
import warnings

import numpy as np
import pytest
import xarray as xr

from efa.errors import DataError, StorageError
from efa.storage import (
    COMPLETE_MARKER,
    atomic_path,
    read_zarr,
    write_text,
    write_zarr,
    write_zarr_group,
)


def visible(folder):
    """Names in ``folder`` other than the stores' lock files."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


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
    assert visible(tmp_path) == ["store.zarr"]


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
    assert visible(tmp_path) == ["store.zarr"]


def test_write_text(tmp_path):
    path = write_text("hello\n", tmp_path / "sub" / "table.md")
    assert path.read_text() == "hello\n"


def test_an_output_never_replaces_something_of_another_kind(tmp_path):
    """A folder of other files, a file where a store goes, or the reverse is refused by name,
    and left as it was; an empty folder may become a store."""
    dataset = xr.Dataset({"a": ("x", np.arange(3.0))})
    notes = tmp_path / "run" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("keep")
    with pytest.raises(DataError, match="folder of other files"):
        write_zarr(dataset, notes.parent)
    (tmp_path / "table.md").write_text("keep")
    with pytest.raises(DataError, match="table.md: is a file; expected a path for a folder"):
        write_zarr(dataset, tmp_path / "table.md")
    with pytest.raises(DataError, match="run: is a folder; expected a file path"):
        write_text("new", notes.parent)
    with pytest.raises(DataError, match="table.md: is a file; expected a folder"):
        write_text("new", tmp_path / "table.md" / "inner.md")
    assert notes.read_text() == "keep" and (tmp_path / "table.md").read_text() == "keep"
    assert visible(tmp_path) == ["run", "table.md"] and visible(notes.parent) == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    write_zarr(dataset, tmp_path / "empty")
    assert read_zarr(tmp_path / "empty", "test")["a"].values.tolist() == [0.0, 1.0, 2.0]


def test_a_store_without_its_root_metadata_may_be_replaced(tmp_path):
    """Snakemake deletes a rule's declared output (a store's root zarr.json) before it reruns
    the rule; the rest of the store must not block the new one. A stray file among zarr
    folders still marks a folder of other files."""
    target = tmp_path / "probe.zarr"
    write_zarr(xr.Dataset({"a": ("x", np.arange(3.0))}), target)
    (target / "zarr.json").unlink()
    write_zarr(xr.Dataset({"b": ("x", np.arange(2.0))}), target)
    assert read_zarr(target, "test")["b"].values.tolist() == [0.0, 1.0]
    (target / "zarr.json").unlink()
    (target / "notes.txt").write_text("keep")
    with pytest.raises(DataError, match="folder of other files"):
        write_zarr(xr.Dataset({"c": ("x", np.arange(2.0))}), target)
    assert (target / "notes.txt").read_text() == "keep"


def test_reading_a_missing_store_leaves_no_lock_file(tmp_path):
    with pytest.raises(DataError, match="missing.zarr: no test store found"):
        read_zarr(tmp_path / "missing.zarr", "test")
    assert list(tmp_path.iterdir()) == []


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


def test_a_store_with_a_missing_chunk_or_marker_is_refused_by_name(tmp_path):
    target = tmp_path / "metrics.zarr"
    write_zarr(xr.Dataset({"energy_mae": ("seed", np.arange(1.0, 4.0))}), target)
    assert read_zarr(target, "test-metric")["energy_mae"].values.tolist() == [1.0, 2.0, 3.0]
    chunk = next(
        p for p in (target / "energy_mae").rglob("*") if p.is_file() and p.name != "zarr.json"
    )
    chunk.unlink()  # xarray alone would read the missing chunk as fill values
    missing = chunk.relative_to(target).as_posix()
    with pytest.raises(DataError, match=f"incomplete test-metric store: {missing} is missing"):
        read_zarr(target, "test-metric")
    write_zarr(xr.Dataset({"energy_mae": ("seed", np.arange(3.0))}), target)
    root = json.loads((target / "zarr.json").read_text())
    del root["attributes"][COMPLETE_MARKER]
    (target / "zarr.json").write_text(json.dumps(root))
    with pytest.raises(DataError, match="incomplete test-metric store: no completeness marker"):
        read_zarr(target, "test-metric")


def _write_many(path: str, value: float) -> None:
    for _ in range(5):
        write_zarr(xr.Dataset({"a": ("x", np.full(1000, value))}), path)


def _read_many(path: str, seen) -> None:
    for _ in range(20):
        values = read_zarr(path, "test")["a"].values
        seen.append(float(values[0]) if np.all(values == values[0]) else -1.0)


def test_concurrent_writers_and_readers_of_one_store(tmp_path):
    """Four processes rewrite one store while another reads it: no errors, no leftovers, and
    every read sees one whole store."""
    import multiprocessing

    target = str(tmp_path / "store.zarr")
    write_zarr(xr.Dataset({"a": ("x", np.zeros(1000))}), target)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        seen = manager.list()
        workers = [
            context.Process(target=_write_many, args=(target, float(k))) for k in range(1, 5)
        ]
        workers.append(context.Process(target=_read_many, args=(target, seen)))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [worker.exitcode for worker in workers] == [0] * 5
        assert set(seen) <= {0.0, 1.0, 2.0, 3.0, 4.0} and len(seen) == 20
    assert visible(tmp_path) == ["store.zarr"]
    assert read_zarr(target, "test")["a"].values[0] in (1.0, 2.0, 3.0, 4.0)


@pytest.mark.parametrize(
    "number", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM]
)
def test_a_file_system_refusal_names_the_output_and_keeps_the_old_one(tmp_path, number):
    target = tmp_path / "out.txt"
    write_text("old", target)
    with pytest.raises(StorageError, match=f"out.txt: cannot write: {os.strerror(number)}"):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise OSError(number, os.strerror(number))  # as a write() on a full disk raises
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_other_os_errors_pass_unchanged(tmp_path):
    with pytest.raises(ConnectionResetError):
        with atomic_path(tmp_path / "out.txt"):
            raise ConnectionResetError(errno.ECONNRESET, "reset")


def test_a_combined_store_keeps_the_missing_value_of_an_integer_variable(tmp_path):
    """An integer variable read from one store and aligned with a store without it becomes float
    with NaN; written again it stays NaN (an inherited int64 encoding wrote -2⁶³)."""
    trained = xr.Dataset({"num_parameters": ("model", np.array([1368]))}, coords={"model": ["a"]})
    write_zarr(trained, tmp_path / "a.zarr")
    calculator = xr.Dataset({"energy_mae": ("model", [0.5])}, coords={"model": ["b"]})
    combined = xr.merge([read_zarr(tmp_path / "a.zarr", "metric"), calculator])
    write_zarr(combined, tmp_path / "combined.zarr")
    values = read_zarr(tmp_path / "combined.zarr", "metric")["num_parameters"].values
    assert values[0] == 1368 and np.isnan(values[1])
