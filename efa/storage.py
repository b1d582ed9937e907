"""Atomic writes: outputs appear complete or not at all.

Every store and file the suite writes goes to a temporary sibling path first and is renamed into
place only after it was written completely, so an interruption (a killed job, a full disk) never
leaves a half-written output that looks complete. A rename within one directory is atomic on
POSIX file systems; a directory that already exists is moved aside first and removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import xarray as xr
import zarr


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    On an exception the temporary file or directory is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield temporary
        if target.is_dir() and not target.is_symlink():
            retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            target.rename(retired)
            temporary.rename(target)
            shutil.rmtree(retired)
        else:
            os.replace(temporary, target)
    finally:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        elif temporary.exists():
            temporary.unlink()


def write_zarr(dataset: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``dataset`` as a zarr (format 3) store at ``path`` atomically; return the path.

    Fixed-width unicode arrays are stored as variable-length strings, the string type that
    zarr 3 specifies (fixed-width UTF-32 has no zarr 3 specification yet).
    """
    with atomic_path(path) as temporary:
        _storable(dataset).to_zarr(temporary, mode="w", zarr_format=3, consolidated=False)
    return Path(path)


def write_zarr_group(dataset: xr.Dataset, path: str | os.PathLike, group: str) -> Path:
    """Write ``dataset`` as group ``group`` of the zarr (format 3) store at ``path``.

    The store is created if missing; its other groups are kept. The group is written to a
    temporary sibling directory inside the store and renamed into place (:func:`atomic_path`),
    so readers see the old group or the new one, never a half-written one. Strings are stored
    as in :func:`write_zarr`. Returns the store path.

    Raises:
      ValueError: if ``group`` is not a plain name (empty, with ``/``, or starting with ``.``).
    """
    if not group or "/" in group or group.startswith("."):
        raise ValueError(f"group must be a plain name without '/' or a leading '.'; got {group!r}")
    zarr.open_group(path, mode="a", zarr_format=3)  # the root group, if not there yet
    with atomic_path(Path(path) / group) as temporary:
        _storable(dataset).to_zarr(temporary, mode="w", zarr_format=3, consolidated=False)
    return Path(path)


def _storable(dataset: xr.Dataset) -> xr.Dataset:
    """``dataset`` with fixed-width unicode variables as variable-length strings."""
    dataset = dataset.copy()
    for name, variable in dataset.variables.items():
        if variable.dtype.kind == "U":
            dataset[name] = variable.astype(object)
    return dataset


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)
