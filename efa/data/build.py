"""Build a registry entry into its canonical store ``<root>/<name>.zarr``.

``fetch`` entries: fetch the raw files (:mod:`efa.data.fetch`), extract archives, read them with
the entry's reader. ``generate`` entries: call the generator with the entry's parameters and
seed. ``import`` entries: re-read the user's file (or one file per published split, whose
structures get that split's name as their ``split`` label) after checking its sha256. The entry's
metadata (name, description, license, citation, level of theory, splits) goes into the store's
attrs; the store is validated and written atomically, so a failed build leaves no store.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from efa.data.fetch import HashLock, RemoteFile, extract_archive, fetch_file, sha256_of
from efa.data.generators import GENERATORS
from efa.data.readers import read_extxyz, read_npz
from efa.data.registry import (
    LOCK_FILE,
    REPEATED,
    Entry,
    Registry,
    load_registry,
    read_registry_file,
)
from efa.data.schema import concat_datasets
from efa.data.splits import repeated_structures
from efa.data.store import store_path, write_dataset
from efa.errors import DataError


def resolve_registry(
    root: str | os.PathLike, registry: Registry | str | os.PathLike | None
) -> Registry:
    """``registry`` itself, the registry file it names, or the registry of ``root``."""
    if isinstance(registry, Registry):
        return registry
    return load_registry(root) if registry is None else read_registry_file(registry)


def fetch(
    name: str,
    root: str | os.PathLike = "datasets",
    registry: Registry | str | os.PathLike | None = None,
) -> list[tuple[Path, str]]:
    """Fetch (and extract) the raw files of a ``fetch`` entry into ``<root>/raw/``.

    Returns ``(path, sha256)`` per file; archives are extracted next to them.
    """
    entry = resolve_registry(root, registry).get(name)
    if entry.kind != "fetch":
        raise DataError(
            f"data set {name!r} is of kind {entry.kind!r}; only 'fetch' entries "
            "have files to download (use 'efa data build')"
        )
    raw_dir = Path(root) / "raw"
    lock = HashLock(Path(root) / LOCK_FILE)
    fetched = []
    for spec in entry.source.get("files", []):
        remote = RemoteFile(spec["name"], spec["url"], spec.get("sha256"))
        path, digest = fetch_file(remote, raw_dir, lock)
        if remote.is_archive:
            extract_archive(path, raw_dir / remote.extract_dir_name)
        fetched.append((path, digest))
    return fetched


def override_problem(entry: Entry, overrides: Mapping[str, object]) -> tuple[str, str] | None:
    """The first parameter override ``entry`` cannot take, as ``(parameter, what is wrong)``
    (parameter ``""`` for a set that takes none), else None.

    Only generated sets take overrides, and only of the parameters their entry lists (the seed
    is fixed by the entry); a count (``num_*``) must be an integer ≥ 1.
    """
    if not overrides:
        return None
    if entry.kind != "generate":
        return "", (
            f"data set {entry.name!r} is of kind {entry.kind!r}; only generated sets take "
            "parameter overrides"
        )
    known = set(entry.source.get("parameters", {}))
    for parameter, value in overrides.items():
        if parameter not in known:
            return parameter, (
                f"generator {entry.source.get('generator')!r} of data set {entry.name!r} has no "
                f"parameter {parameter!r} to override; known: {', '.join(sorted(known))}"
                + (" (the seed is fixed by the registry entry)" if parameter == "seed" else "")
            )
        if parameter.startswith("num_") and (type(value) is not int or value < 1):
            return parameter, f"{value!r}: expected a positive integer"
    return None


def load_entry(
    name: str,
    root: str | os.PathLike = "datasets",
    registry: Registry | str | os.PathLike | None = None,
    overrides: Mapping[str, object] | None = None,
) -> xr.Dataset:
    """The canonical data set of an entry, in memory (fetching or generating as needed).

    ``overrides`` replace generator parameters (e.g. ``{"num_structures": 200}``) and are
    recorded in the data set's ``source``.
    """
    entry = resolve_registry(root, registry).get(name)
    problem = override_problem(entry, overrides or {})
    if problem is not None:
        raise DataError(f"data set {name!r}: {problem[0] or 'overrides'}: {problem[1]}")
    if entry.kind == "generate":
        ds = _generate(entry, dict(overrides or {}))
    elif entry.kind == "fetch":
        fetched = fetch(name, root, entry_registry(entry))
        digests = {path.name: digest for path, digest in fetched}
        reader_file = Path(root) / "raw" / entry.reader["file"]
        lock = HashLock(Path(root) / LOCK_FILE)
        unpinned = [
            (spec["url"], path, digest)
            for spec, (path, digest) in zip(entry.source["files"], fetched)
            if not spec.get("sha256") and lock.get(spec["url"]) is None
        ]
        try:
            ds = _read(entry, reader_file)
        except DataError as error:
            if not unpinned:
                raise
            files = ", ".join(str(path) for _, path, _ in unpinned)
            raise DataError(
                f"{error} [{files} has no pinned sha256 and was not pinned; delete "
                "it to download it again]"
            ) from None
        for url, _, digest in unpinned:  # read successfully: now the hash may be pinned
            lock.pin(url, digest)
        # a file inside an extracted archive has no registry hash of its own: hash it here
        ds.attrs["sha256"] = digests.get(reader_file.name) or sha256_of(reader_file)
        urls = ", ".join(spec["url"] for spec in entry.source["files"])
        ds.attrs["source"] = f"{urls} ({entry.reader['file']})"
    elif "splits" in entry.source:  # published splits: one file per split
        parts, digests = [], {}
        for split, spec in entry.source["splits"].items():
            part = _read_import(entry, spec)
            digests[split] = part.attrs["sha256"]
            parts.append(
                part.assign(
                    split=("structure", np.full(part.sizes["structure"], split, dtype=object))
                )
            )
        ds = concat_datasets(parts, source=f"data set {name!r}")
        labels = np.asarray(ds["split"].values).astype(str)
        by_split = {split: np.flatnonzero(labels == split) for split in entry.source["splits"]}
        repeats = repeated_structures(ds, by_split)
        if repeats and "train" in by_split:
            files = entry.source["splits"]
            found = "; ".join(
                f"{count} of {split}={files[split]['path']}" for split, count in repeats.items()
            )
            where = (
                f"data set {name!r}: structures of the training file {files['train']['path']} "
                f"repeat in other splits ({found}: same atoms, positions within 1e-4 Å)"
            )
            if entry.source.get("repeated", REPEATED[0]) == "refuse":
                raise DataError(
                    f"{where}; a test set holding training structures leaks. Remove them from "
                    "those files, or import with --report-repeated to keep them and have it said"
                )
            print(f"efa: warning: {where}; kept (--report-repeated)", file=sys.stderr)
            ds.attrs["repeated_structures"] = ", ".join(f"{k}={v}" for k, v in repeats.items())
        ds.attrs.update(
            sha256=", ".join(f"{split}={digest}" for split, digest in digests.items()),
            source=", ".join(
                f"{split}={spec['path']}" for split, spec in entry.source["splits"].items()
            ),
        )
    else:
        ds = _read_import(entry, entry.source)
    ds.attrs.update(
        name=entry.name,
        description=entry.description,
        level_of_theory=entry.level_of_theory or ds.attrs.get("level_of_theory", ""),
        license=entry.license,
        citation=entry.citation,
        splits=dict(entry.splits),
    )
    return ds


def build(
    name: str,
    root: str | os.PathLike = "datasets",
    registry: Registry | str | os.PathLike | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Path:
    """Build entry ``name`` into ``<root>/<name>.zarr`` and return the store path."""
    ds = load_entry(name, root, registry, overrides)
    return write_dataset(ds, store_path(name, root))


def entry_registry(entry: Entry) -> Registry:
    """A registry holding only ``entry`` (to pass an already resolved entry on)."""
    return Registry({entry.name: entry})


def _generate(entry: Entry, overrides: dict) -> xr.Dataset:
    generator = entry.source["generator"]
    if generator not in GENERATORS:
        raise DataError(
            f"{entry.origin}: entry {entry.name!r}: unknown generator {generator!r}; "
            f"expected one of {sorted(GENERATORS)}"
        )
    parameters = {**dict(entry.source.get("parameters", {})), **overrides}
    if "seed" in entry.source:
        parameters["seed"] = entry.source["seed"]
    try:
        return GENERATORS[generator](**parameters)
    except TypeError as error:  # a parameter the generator does not take
        raise DataError(
            f"{entry.origin}: entry {entry.name!r}: bad parameters for generator "
            f"{generator!r}: {error}"
        ) from None


def imported_file(entry: Entry, spec: Mapping) -> Path:
    """The file of an imported ``spec = {path, sha256}``: a relative ``path`` is relative to the
    folder of the registry file that holds the entry (``efa data import`` records files inside
    the project that way, so the registry works in any clone of it)."""
    path = Path(spec["path"])
    return path if path.is_absolute() else Path(entry.origin).parent / path


def _read_import(entry: Entry, spec: Mapping) -> xr.Dataset:
    """Read an imported file ``spec = {path, sha256}`` after checking that it is unchanged."""
    path = imported_file(entry, spec)
    if not path.is_file():
        raise DataError(
            f"{path}: imported file not found (data set {entry.name!r}); "
            "import it again with 'efa data import'"
        )
    digest = sha256_of(path)
    expected = spec.get("sha256")
    if expected and digest != expected:
        raise DataError(
            f"{path.name}: sha256 mismatch: expected {expected}, got {digest} "
            "(the imported file changed; import it again)"
        )
    ds = _read(entry, path)
    ds.attrs.update(sha256=digest, source=str(spec["path"]))  # as recorded: the same in any clone
    return ds


def _read(entry: Entry, path: Path) -> xr.Dataset:
    reader = dict(entry.reader)
    fmt = reader.pop("format")
    reader.pop("file", None)
    if not path.is_file():
        raise DataError(f"{path}: file named by reader.file of data set {entry.name!r} not found")
    if fmt == "npz":
        return read_npz(path, reader["keys"], reader.get("units"), reader.get("extra"))
    if fmt == "extxyz":
        return read_extxyz(path, **reader)
    raise DataError(
        f"{entry.origin}: entry {entry.name!r}: reader.format {fmt!r}; expected 'npz' or 'extxyz'"
    )
