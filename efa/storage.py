"""Atomic writes: outputs appear complete or not at all, and stores are checked when read.

Every store and file the suite writes goes to a temporary sibling path first and is renamed into
place only after it was written completely, so an interruption (a killed job, a full disk) never
leaves a half-written output that looks complete. A rename within one directory is atomic on
POSIX file systems; a directory that already exists is moved aside first and removed afterwards.

Zarr stores get two more guards:

- a **completeness marker** (the root group's attribute :data:`COMPLETE_MARKER`, written last)
  lists every file of the store with its size; :func:`read_zarr` refuses a store without it or
  with a file missing or of another size (a store copied in part, a chunk deleted), naming the
  store and the file, instead of reading missing chunks as zeros;
- a **lock** (an ``flock`` on ``.<store name>.lock`` next to the store): writers hold it
  exclusively, so that several processes writing one store (commands run by hand on one
  results folder) take turns, and readers hold it shared, so that they never look in the moment
  between moving the old store aside and renaming the new one into place.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import xarray as xr
import zarr

from efa.errors import StorageError

#: File in an extracted archive's folder naming the sha256 of the archive it came from
#: (:func:`efa.data.fetch.extract_archive`).
EXTRACTED_FROM = ".efa-extracted-from"
#: Files that mark a folder as an output that a new one may replace: the root of a zarr store
#: or group, and the record of an extracted archive.
OUTPUT_FOLDER_MARKERS = ("zarr.json", EXTRACTED_FROM)


def check_output_path(path: str | os.PathLike, folder: bool) -> None:
    """Refuse an output path whose present content is not an earlier output of the same kind.

    A folder output (``folder=True``: a zarr store, an extracted archive) may replace a folder
    holding one of :data:`OUTPUT_FOLDER_MARKERS`, a zarr store whose root ``zarr.json`` is gone
    (every entry a folder with its own ``zarr.json``: Snakemake deletes a job's declared output
    file, the root ``zarr.json``, before it reruns the job), or an empty folder; a file may
    replace a file (or a symbolic link: the link is replaced); a folder output never replaces a
    symbolic link.
    Anything else (a folder of other files, which replacing would delete; a file where a folder
    goes, or the reverse) is refused, so that a mistyped output path loses nothing. Commands
    call this before their work; :func:`atomic_path` calls it again before it replaces anything.

    Raises:
      DataError: naming the path, what is there and what was expected.
    """
    from efa.errors import DataError

    target = Path(path)
    _check_parents(target)
    if target.is_symlink():
        if folder:
            raise DataError(
                f"{target}: is a symbolic link (to {os.readlink(target)}); a folder output is "
                "replaced as a whole, which would replace the link and leave what it points to "
                "behind: write to the link's target, or remove the link (nothing was written)"
            )
        return
    if not target.exists():
        return
    if target.is_dir():
        if not folder:
            raise DataError(f"{target}: is a folder; expected a file path (nothing was written)")
        if any((target / marker).is_file() for marker in OUTPUT_FOLDER_MARKERS):
            return
        entries = list(target.iterdir())
        if all(entry.is_dir() and (entry / "zarr.json").is_file() for entry in entries):
            return  # empty, or a store without its root metadata
        raise DataError(
            f"{target}: a folder of other files (not a zarr store) is there; replacing it "
            "would delete them: choose another output path (nothing was written)"
        )
    if folder:
        raise DataError(
            f"{target}: is a file; expected a path for a folder (a zarr store; nothing was written)"
        )


def _check_parents(target: Path) -> None:
    """Refuse a path below a file (naming the file)."""
    from efa.errors import DataError

    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            raise DataError(f"{parent}: is a file; expected a folder (nothing was written)")


#: ``errno`` values that are the file system's answer rather than a fault of the program: a full
#: disk or quota, a file over the size limit, a read-only or forbidden folder.
FILE_SYSTEM_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
)


@contextlib.contextmanager
def file_system_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn an :class:`OSError` of :data:`FILE_SYSTEM_ERRNOS` raised inside the block into a
    :class:`~efa.errors.StorageError` naming ``path`` (a write into a full disk raises
    ``ENOSPC`` without a file name); other errors pass unchanged."""
    try:
        yield
    except StorageError:
        raise
    except OSError as error:
        if error.errno not in FILE_SYSTEM_ERRNOS:
            raise
        message = f"{path}: cannot write: {error.strerror}; what was there is kept"
        raise StorageError(message) from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    Before anything is replaced, what is at ``path`` is checked by :func:`check_output_path`
    (a folder of other files is never deleted). On an exception the temporary file or
    directory is removed and ``path`` is left as it was; a full disk, a quota or a forbidden
    folder is raised as a :class:`~efa.errors.StorageError` naming ``path``.
    """
    target = Path(path)
    _check_parents(target)
    with file_system_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with file_system_errors(target):
            yield temporary
            check_output_path(target, folder=temporary.is_dir())
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


#: Attribute of a store's root group, written last: ``{relative path: size in bytes}`` of the
#: store's other files.
COMPLETE_MARKER = "efa_complete"


@contextlib.contextmanager
def path_lock(path: str | os.PathLike, shared: bool = False, wait: bool = True) -> Iterator[None]:
    """Hold the lock of ``path`` (a store or a run directory): exclusive (writers) or shared
    (readers).

    The lock is an ``flock`` on the file ``.<name>.lock`` next to ``path``. With ``wait=False``
    a lock held by another process raises :class:`BlockingIOError` at once. Readers go on
    without a lock where no writer ever made the lock file (a read of a missing store leaves no
    file behind) or where it cannot be created (a read-only folder).
    """
    target = Path(path)
    lock = target.with_name(f".{target.name}.lock")
    if shared and not lock.exists():  # never written here: nothing to wait for, no file left
        yield
        return
    try:
        with file_system_errors(target):
            if not shared:
                target.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a")
    except OSError:
        if not shared:
            raise
        yield
        return
    with handle:
        flags = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        fcntl.flock(handle, flags if wait else flags | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def mark_complete(store: Path) -> None:
    """Record the files of the store folder ``store`` and their sizes in the root group's
    attribute :data:`COMPLETE_MARKER` (the root ``zarr.json`` is rewritten last)."""
    root = store / "zarr.json"
    files = {
        item.relative_to(store).as_posix(): item.stat().st_size
        for item in sorted(store.rglob("*"))
        if item.is_file() and item != root
    }
    group = zarr.open_group(store, mode="r+", zarr_format=3)
    group.attrs[COMPLETE_MARKER] = files


def check_complete(path: str | os.PathLike, what: str) -> None:
    """Refuse a store whose completeness marker is missing or does not match its files.

    Raises:
      DataError: naming the store and the first missing or changed file.
    """
    from efa.errors import DataError

    store = Path(path)
    if not store.is_dir():
        raise DataError(f"{store}: no {what} store found")
    advice = "delete it and rerun the command that writes it"
    try:
        files = json.loads((store / "zarr.json").read_text())["attributes"][COMPLETE_MARKER]
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(
            f"{store}: incomplete {what} store: no completeness marker (attribute "
            f"{COMPLETE_MARKER!r} of its zarr.json, written last; the store was cut short, "
            f"copied in part, or written by an efa-bench older than 0.2); {advice}"
        ) from None
    for name, size in files.items():
        item = store / name
        if not item.is_file():
            raise DataError(f"{store}: incomplete {what} store: {name} is missing; {advice}")
        if item.stat().st_size != size:
            raise DataError(
                f"{store}: incomplete {what} store: {name} has "
                f"{item.stat().st_size} bytes, {size} when written; {advice}"
            )


def read_zarr(path: str | os.PathLike, what: str, **options) -> xr.Dataset:
    """Load the zarr store at ``path`` into memory after :func:`check_complete`, under its
    shared lock; ``options`` go to :func:`xarray.open_zarr`.

    Raises:
      DataError: the store is missing, incomplete or unreadable (naming it).
    """
    from efa.errors import DataError

    with path_lock(path, shared=True):
        check_complete(path, what)
        try:
            with xr.open_zarr(path, consolidated=False, chunks=None, **options) as lazy:
                dataset = lazy.load()
        except (ValueError, KeyError, OSError) as error:
            raise DataError(f"{path}: not a readable {what} store ({error})") from None
    dataset.attrs.pop(COMPLETE_MARKER, None)
    return dataset


def write_zarr(dataset: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``dataset`` as a zarr (format 3) store at ``path`` atomically, under the store's
    lock, with its completeness marker; return the path.

    Fixed-width unicode arrays are stored as variable-length strings, the string type that
    zarr 3 specifies (fixed-width UTF-32 has no zarr 3 specification yet).
    """
    check_output_path(path, folder=True)
    with path_lock(path), atomic_path(path) as temporary:
        _storable(dataset).to_zarr(temporary, mode="w", zarr_format=3, consolidated=False)
        mark_complete(temporary)
    return Path(path)


def write_zarr_group(dataset: xr.Dataset, path: str | os.PathLike, group: str) -> Path:
    """Write ``dataset`` as group ``group`` of the zarr (format 3) store at ``path``.

    The store is created if missing; its other groups are kept. The group is written to a
    temporary sibling directory inside the store and renamed into place (:func:`atomic_path`),
    so readers see the old group or the new one, never a half-written one; the store's
    completeness marker is then written anew. Strings are stored as in :func:`write_zarr`.
    Returns the store path.

    Raises:
      ValueError: if ``group`` is not a plain name (empty, with ``/``, or starting with ``.``).
    """
    if not group or "/" in group or group.startswith("."):
        raise ValueError(f"group must be a plain name without '/' or a leading '.'; got {group!r}")
    with path_lock(path):
        zarr.open_group(path, mode="a", zarr_format=3)  # the root group, if not there yet
        with atomic_path(Path(path) / group) as temporary:
            _storable(dataset).to_zarr(temporary, mode="w", zarr_format=3, consolidated=False)
        mark_complete(Path(path))
    return Path(path)


def _storable(dataset: xr.Dataset) -> xr.Dataset:
    """``dataset`` with fixed-width unicode variables as variable-length strings, and without the
    encodings its variables carry from the stores they were read from: a store is written for
    the values it holds now (an integer variable of one store combined with a missing value of
    another is float with NaN, which an inherited ``int64`` encoding would turn into -2⁶³)."""
    dataset = dataset.copy()
    for name, variable in dataset.variables.items():
        if variable.dtype.kind == "U":
            dataset[name] = variable.astype(object)
    for variable in dataset.variables.values():
        variable.encoding = {}
    return dataset


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)
