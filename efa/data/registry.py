"""The data set catalogue: ``<root>/registry.yaml`` (in git) plus ``<root>/registry.user.yaml``.

Each entry under ``datasets:`` has a ``kind``:

- ``fetch``: ``source.files`` (list of ``name``, ``url``, ``sha256`` — null to pin on first
  download) and a ``reader`` (``format: npz`` with ``file``, ``keys``, ``units``, ``extra``;
  ``file`` may name a path inside an extracted archive ``<archive stem>/<member>``);
- ``generate``: ``source.generator`` (a name in :data:`efa.data.generators.GENERATORS`),
  ``source.parameters`` (sizes included) and ``source.seed`` (absent for scans);
- ``import``: a user's file (``source.path`` + ``source.sha256``) and a ``reader`` (``format:
  extxyz`` or ``npz``), written by ``efa data import``.

Common keys: ``description``, ``level_of_theory``, ``license``, ``citation``, ``splits`` (split
name → size, the sizes the data set supports) and optionally ``structures`` (known count).
"""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from efa.bounded_yaml import load_yaml
from efa.errors import DataError
from efa.names import check_dataset_name, check_name
from efa.storage import write_text

REGISTRY_FILE = "registry.yaml"
USER_REGISTRY_FILE = "registry.user.yaml"
LOCK_FILE = "registry.lock"
#: What building a set of published splits does with training structures repeated in its other
#: splits (``source.repeated``): refuse the set (the default), or build it and report them.
REPEATED = ("refuse", "report")
#: The comment heading ``registry.user.yaml``.
USER_REGISTRY_HEADER = (
    "# Data sets added with 'efa data import': the user's files, by path relative to this\n"
    "# folder when they lie inside the project. Commit this file (and track the files with\n"
    "# 'dvc add') so that a clone rebuilds them.\n"
)
KINDS = ("fetch", "generate", "import")
#: URL schemes a registry file may be downloaded by.
DOWNLOAD_SCHEMES = ("https", "http")
#: A sha256 digest as hexadecimal text.
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_REQUIRED = ("kind", "description", "source", "level_of_theory", "license", "citation")


@dataclass(frozen=True)
class Entry:
    """One registry entry (see the module docstring for the keys)."""

    name: str
    kind: str
    description: str
    source: Mapping
    level_of_theory: str
    license: str
    citation: str
    reader: Mapping = field(default_factory=dict)
    splits: Mapping[str, int] = field(default_factory=dict)
    structures: int | None = None
    origin: str = ""  # the registry file this entry came from

    @property
    def num_structures(self) -> int | None:
        """Known or configured number of structures (None if unknown before building)."""
        if self.structures is not None:
            return int(self.structures)
        parameters = self.source.get("parameters", {})
        for key, per_item in (("num_structures", 1), ("num_points", 1), ("num_pairs", 2)):
            if key in parameters:
                return int(parameters[key]) * per_item
        return None

    def to_mapping(self) -> dict:
        """The entry as written in YAML (without its name and origin)."""
        out = {key: getattr(self, key) for key in _REQUIRED}
        out.update(reader=dict(self.reader), splits=dict(self.splits))
        if self.structures is not None:
            out["structures"] = self.structures
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in out.items() if v != {}}


@dataclass(frozen=True)
class Registry:
    """Entries by name, in file order (built-in registry first, then the user registry)."""

    entries: Mapping[str, Entry]

    def get(self, name: str) -> Entry:
        if name not in self.entries:
            raise DataError(
                f"unknown data set {name!r}; expected one of: {', '.join(self.entries)}"
            )
        return self.entries[name]

    @classmethod
    def from_mapping(cls, data: Mapping, origin: str = "<mapping>") -> Registry:
        """Parse ``{"datasets": {name: entry}}``, checking the required keys of each entry."""
        if not isinstance(data, Mapping) or not isinstance(data.get("datasets"), Mapping):
            raise DataError(f"{origin}: expected a mapping with a 'datasets:' section")
        entries = {}
        for name, raw in data["datasets"].items():
            check_dataset_name(name, f"{origin}: datasets")
            if not isinstance(raw, Mapping):
                raise DataError(f"{origin}: entry {name!r}: expected a mapping of keys")
            missing = [key for key in _REQUIRED if key not in raw]
            if missing:
                raise DataError(f"{origin}: entry {name!r}: missing key(s) {missing}")
            if raw["kind"] not in KINDS:
                raise DataError(
                    f"{origin}: entry {name!r}: kind {raw['kind']!r}; expected one of {list(KINDS)}"
                )
            unknown = set(raw) - set(_REQUIRED) - {"reader", "splits", "structures"}
            if unknown:
                raise DataError(f"{origin}: entry {name!r}: unknown key(s) {sorted(unknown)}")
            if raw["kind"] == "generate" and "generator" not in raw["source"]:
                raise DataError(f"{origin}: entry {name!r}: source.generator missing")
            if raw["kind"] != "generate" and "format" not in raw.get("reader", {}):
                raise DataError(f"{origin}: entry {name!r}: reader.format missing")
            _check_raw_files(raw, f"{origin}: entry {name!r}")
            entries[name] = Entry(name=name, origin=origin, **raw)
        return cls(entries)

    def merged(self, other: Registry) -> Registry:
        """Entries of both; a name defined twice is an error (user entries cannot shadow)."""
        clash = sorted(set(self.entries) & set(other.entries))
        if clash:
            where = other.entries[clash[0]].origin
            raise DataError(f"{where}: data set name(s) {clash} already defined in the registry")
        return Registry({**self.entries, **other.entries})


def _check_raw_files(raw: Mapping, where: str) -> None:
    """Names of downloaded files and ``reader.file`` (``<archive stem>/<member>``): plain names,
    so that they stay inside ``<root>/raw/``."""
    files = raw["source"].get("files", []) if isinstance(raw["source"], Mapping) else []
    for index, spec in enumerate(files):
        if not isinstance(spec, Mapping) or "name" not in spec or "url" not in spec:
            raise DataError(
                f"{where}: source.files[{index}]: expected a mapping with name, url "
                "and sha256 (null to pin on first download)"
            )
        check_name("file", spec["name"], f"{where}: source.files[{index}].name")
        url = spec["url"]
        if not _is_download_url(url):
            raise DataError(
                f"{where}: source.files[{index}].url={url!r}: expected an https:// or http:// "
                "address of a server (a local file is imported with efa data import)"
            )
        digest = spec.get("sha256")
        if digest is not None and not (isinstance(digest, str) and SHA256.fullmatch(digest)):
            raise DataError(
                f"{where}: source.files[{index}].sha256={digest!r}: expected 64 hexadecimal "
                "digits, or null to pin the file on its first download"
            )
    source = raw["source"] if isinstance(raw["source"], Mapping) else {}
    repeated = source.get("repeated", REPEATED[0])
    if repeated not in REPEATED:
        raise DataError(
            f"{where}: source.repeated={repeated!r}: expected one of {list(REPEATED)} (what to "
            "do with training structures repeated in the other published splits)"
        )
    if "file" in raw.get("reader", {}):
        for part in str(raw["reader"]["file"]).split("/"):
            check_name("file", part, f"{where}: reader.file {raw['reader']['file']!r}")


def _is_download_url(url: object) -> bool:
    """Whether ``url`` is an address of :data:`DOWNLOAD_SCHEMES` with a server name (a
    malformed one, such as an unclosed ``[`` of an IPv6 host, is not)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme in DOWNLOAD_SCHEMES and bool(parts.hostname)
    except ValueError:
        return False


def read_registry_file(path: str | os.PathLike) -> Registry:
    """Load one registry YAML file."""
    path = Path(path)
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as error:
        raise DataError(f"{path}: not valid YAML ({error})") from None
    return Registry.from_mapping(data, origin=str(path))


def load_registry(root: str | os.PathLike = "datasets") -> Registry:
    """The registry of ``root``: ``registry.yaml`` plus ``registry.user.yaml`` if present."""
    root = Path(root)
    main = root / REGISTRY_FILE
    if not main.is_file():
        raise DataError(
            f"{main}: registry not found; expected the data set catalogue there "
            "(run efa from the repository root or pass --root)"
        )
    registry = read_registry_file(main)
    user = root / USER_REGISTRY_FILE
    return registry.merged(read_registry_file(user)) if user.is_file() else registry


def recorded_path(path: Path, root: Path) -> str:
    """How the user registry of ``root`` records an imported ``path``: relative to ``root``
    when the file lies inside the project (the folder holding ``root``), so that a clone of the
    project (with the file tracked by DVC or git) rebuilds the set; absolute otherwise, with a
    warning that only this machine can."""
    path, project = path.resolve(), root.resolve().parent
    if path.is_relative_to(project):
        return Path(os.path.relpath(path, root.resolve())).as_posix()
    print(
        f"efa: warning: {path} lies outside the project {project}: the registry records its "
        "absolute path, so only this machine can rebuild the data set; keep the file inside "
        "the project (tracked with 'dvc add') for others to rebuild it",
        file=sys.stderr,
    )
    return str(path)


def add_user_entry(root: str | os.PathLike, entry: Entry) -> Path:
    """Add (or replace) ``entry`` in ``<root>/registry.user.yaml``; return that path."""
    path = Path(root) / USER_REGISTRY_FILE
    data = load_yaml(path.read_text()) if path.is_file() else None
    data = data or {"datasets": {}}
    data["datasets"][entry.name] = entry.to_mapping()
    header = USER_REGISTRY_HEADER
    return write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), path)
