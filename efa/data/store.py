"""Canonical stores on disk: ``<root>/<name>.zarr`` (zarr format 3, see :mod:`efa.data.schema`).

Stores are chunked along ``structure`` only, with chunks of about :data:`CHUNK_BYTES` for the
largest per-structure variable, so that a store has few files (one per variable for small data
sets) while large data sets can still be read in pieces.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from efa.data.schema import validate
from efa.errors import DataError
from efa.storage import read_zarr, write_zarr

#: Target size of one chunk of the largest variable.
CHUNK_BYTES = 16 * 2**20


def store_path(name: str, root: str | os.PathLike = "datasets") -> Path:
    """Path of the canonical store of data set ``name`` under ``root``."""
    return Path(root) / f"{name}.zarr"


def write_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Validate ``ds`` (including its metadata attrs) and write it atomically to ``path``.

    The store's attr ``content_sha256`` records :func:`efa.provenance.dataset_sha256` of the
    data, the hash that runs record and the report's provenance lists.
    """
    from efa.provenance import dataset_sha256

    validate(ds, source=str(path), metadata=True)
    ds = ds.copy()
    ds.attrs["content_sha256"] = dataset_sha256(ds)
    bytes_per_structure = max(
        ds[name].dtype.itemsize * int(np.prod(ds[name].shape[1:])) for name in ds.data_vars
    )
    per_chunk = int(min(ds.sizes["structure"], max(1, CHUNK_BYTES // bytes_per_structure)))
    out = ds
    for name in out.data_vars:
        out[name].encoding = {"chunks": (per_chunk, *out[name].shape[1:])}
    return write_zarr(out, path)


def open_dataset(
    name_or_path: str | os.PathLike, root: str | os.PathLike = "datasets"
) -> xr.Dataset:
    """Open a canonical store by data set name (under ``root``) or by path; load and validate it.

    Raises :class:`DataError` if the store does not exist (naming the command that builds it),
    is incomplete (:func:`efa.storage.check_complete`), fails validation, or holds values whose
    hash differs from its ``content_sha256`` (altered after it was written).
    """
    candidate = Path(name_or_path)
    is_path = candidate.suffix == ".zarr" or len(candidate.parts) > 1
    path = candidate if is_path else store_path(str(name_or_path), root)
    if not path.is_dir():
        hint = "" if is_path else f" (build it with 'efa data build {name_or_path}')"
        raise DataError(f"{path}: no data set store found{hint}")
    ds = read_zarr(path, "data set", zarr_format=3)
    for name in ds.variables:
        ds[name].encoding = {}
    validate(ds, source=str(path), metadata=True)
    _check_content(ds, path, None if is_path else str(name_or_path))
    return ds


def _check_content(ds: xr.Dataset, path: Path, name: str | None) -> None:
    """The store's values hash to the ``content_sha256`` written with them (stores written
    before that attribute existed are not checked)."""
    from efa.provenance import dataset_sha256

    recorded = ds.attrs.get("content_sha256")
    if recorded is None:
        return
    found = dataset_sha256(ds)
    if found != recorded:
        rebuild = f"efa data build {name}" if name else "the command that wrote it"
        raise DataError(
            f"{path}: its values changed since it was written (content sha256 "
            f"{recorded[:12]}… recorded, {found[:12]}… now); rebuild it with {rebuild}"
        )
