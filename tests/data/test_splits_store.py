"""Splits are deterministic and disjoint; stores round-trip through zarr and stay small."""

import numpy as np
import pytest
import xarray as xr

from efa.data.generators import charge_dipole
from efa.data.splits import load_splits, make_splits, run_splits, save_splits
from efa.data.store import open_dataset, store_path, write_dataset
from efa.errors import DataError


def test_splits_deterministic_disjoint(tmp_path):
    sizes = {"train": 50, "valid": 20, "test": 10}
    a = make_splits(100, sizes, seed=0)
    assert {k: len(v) for k, v in a.items()} == sizes
    joined = np.concatenate(list(a.values()))
    assert len(np.unique(joined)) == 80 and joined.max() < 100
    b = make_splits(100, sizes, seed=0)
    assert all(np.array_equal(a[k], b[k]) for k in sizes)
    assert not np.array_equal(a["train"], make_splits(100, sizes, seed=1)["train"])
    save_splits(a, tmp_path / "splits.json")
    loaded = load_splits(tmp_path / "splits.json")
    assert all(np.array_equal(a[k], loaded[k]) for k in sizes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a JSON object of split name -> list of structure indices"),
        ('{"test": ["a"]}', "expected a JSON object of split name -> list of structure indices"),
        ('{"test": [-1]}', "expected a JSON object of split name -> list of structure indices"),
        ("{", "unreadable splits file"),
    ],
)
def test_a_malformed_splits_file_is_refused_by_name(tmp_path, content, message):
    path = tmp_path / "splits.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as error:
        load_splits(path)
    assert str(path) in str(error.value)
    with pytest.raises(DataError, match="missing splits file; is .* a run directory"):
        load_splits(tmp_path / "nowhere" / "splits.json")


def test_a_file_given_as_a_run_directory_is_named(tmp_path):
    from efa.errors import EfaError
    from efa.runs.directory import read_json

    (tmp_path / "train.xyz").write_text("1\n\nH 0 0 0\n")
    with pytest.raises(EfaError, match="train.xyz: not a folder; expected a run directory"):
        read_json(tmp_path / "train.xyz" / "config.json", "run configuration")


def test_splits_too_large():
    with pytest.raises(DataError, match="need 120 structures; the data set has 100"):
        make_splits(100, {"train": 100, "test": 20}, seed=0)


def test_store_round_trip(tmp_path):
    ds = charge_dipole(10, seed=0)
    ds.attrs.update(name="cd", license="CC0-1.0", citation="")
    path = write_dataset(ds, store_path("cd", tmp_path))
    opened = open_dataset("cd", root=tmp_path)
    for name in ds.data_vars:
        np.testing.assert_array_equal(opened[name].values, ds[name].values)
        assert opened[name].dtype == ds[name].dtype
    assert opened.attrs["units"]["dipoles"] == "e·Å"
    assert len([p for p in path.rglob("*") if p.is_file()]) <= 20
    with pytest.raises(DataError, match="efa data build nothing"):
        open_dataset("nothing", root=tmp_path)


def test_sizes_a_published_set_cannot_give_point_at_its_published_splits():
    dataset = xr.Dataset(
        {"split": ("structure", np.array(["train"] * 40 + ["valid"] * 10 + ["test"] * 15))}
    )
    with pytest.raises(
        DataError,
        match=r"cumulene: splits train=2000, valid=500, test=200 need 2700 structures; the data "
        r"set has 65; the data set has published splits \['train', 'valid', 'test'\]: train on "
        r"them with splits: dataset \(efa train --set splits=dataset\)",
    ):
        run_splits({"train": 2000, "valid": 500, "test": 200}, 0, dataset, "cumulene")
    assert [len(s) for s in run_splits("dataset", 0, dataset).values()] == [40, 10, 15]


def test_an_index_no_int64_holds_is_refused_by_name(tmp_path):
    """Found by the fuzzer: 2⁶³ in a splits file ended in an OverflowError."""
    path = tmp_path / "splits.json"
    path.write_text('{"train": [9223372036854775808]}')
    with pytest.raises(DataError, match=r"splits.json: expected .* \(integers from 0 to"):
        load_splits(path)
