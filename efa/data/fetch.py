"""Fetch raw files: local copy, mirror or HTTP(S) download, always checked against a sha256.

Order of lookup for a file ``NAME`` of a registry entry:

1. ``<raw_dir>/NAME`` (an earlier download, or a file the user put there);
2. the mirror directory named by the environment variable ``EFA_DATA_MIRROR`` (found by file
   name, also in subfolders), copied into ``raw_dir``;
3. download from the entry's URL with a timeout and retries (pooch's HTTP downloader, with a
   progress bar on a terminal).

Every copy and download is written to a temporary path and renamed only after its sha256
matched, so a wrong, truncated or interrupted file never appears under its final name. Entries
whose hash is not known in advance are pinned in a lock file (``<root>/registry.lock``, URL →
sha256) once a data set was read from them, and a different file is refused afterwards. Archives
(zip, tar) are extracted into ``<raw_dir>/<archive stem>/`` after checking that no member
escapes that folder (absolute paths, ``..``, links or devices are refused).
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import struct
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from efa import __version__
from efa.bounded_yaml import load_yaml
from efa.errors import DataError
from efa.storage import EXTRACTED_FROM, FILE_SYSTEM_ERRNOS, atomic_path, write_text

MIRROR_ENV = "EFA_DATA_MIRROR"
#: Download attempts per URL, seconds to wait before retry k (times k), and socket timeout.
RETRIES = 3
BACKOFF_S = 2.0
TIMEOUT_S = 60.0
#: What a truncated or corrupted archive raises while it is read or unpacked (a damaged zip
#: header may claim an unknown format version or compression method, or an undecodable name),
#: besides an ``OSError`` that is not the file system's (a gzip or bz2 stream that fails its
#: check, a seek to an offset a damaged header gives).
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    UnicodeDecodeError,
    struct.error,
)
#: The general-purpose flag of a zip member that says it is encrypted.
ZIP_ENCRYPTED = 0x1
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


@dataclass(frozen=True)
class RemoteFile:
    """A raw file of a registry entry: its file name, URL and sha256 (None: pin on first use)."""

    name: str
    url: str
    sha256: str | None = None

    @property
    def is_archive(self) -> bool:
        return self.name.endswith(ARCHIVE_SUFFIXES)

    @property
    def extract_dir_name(self) -> str:
        return next(self.name[: -len(s)] for s in ARCHIVE_SUFFIXES if self.name.endswith(s))


class HashLock:
    """The lock file pinning sha256 hashes of files whose hash the registry does not give."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return dict(load_yaml(self.path.read_text()) or {})

    def get(self, url: str) -> str | None:
        return self.read().get(url)

    def pin(self, url: str, sha256: str) -> None:
        pins = {**self.read(), url: sha256}
        header = "# sha256 of raw files pinned on first download (efa data fetch); keep in git.\n"
        write_text(header + yaml.safe_dump(pins, sort_keys=True), self.path)


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(2**20):
            digest.update(block)
    return digest.hexdigest()


def find_in_mirror(name: str) -> Path | None:
    """The file called ``name`` in the ``EFA_DATA_MIRROR`` directory or its subfolders, if any."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror or not Path(mirror).is_dir():
        return None
    direct = Path(mirror) / name
    if direct.is_file():
        return direct
    return next(iter(sorted(p for p in Path(mirror).rglob(name) if p.is_file())), None)


def fetch_file(remote: RemoteFile, raw_dir: str | os.PathLike, lock: HashLock) -> tuple[Path, str]:
    """Make ``remote`` available as ``<raw_dir>/<name>``; return its path and verified sha256.

    A file without a known hash (``sha256: null`` and not in the lock) is not pinned here:
    :func:`efa.data.build.load_entry` pins it once the data set was read from it, so that a
    truncated or wrong file is never pinned.

    Raises :class:`DataError` on a checksum mismatch (naming the file, expected and actual
    hash), an HTTP error, a truncated download, or when offline without a mirror (naming the URL
    and where to put the file).
    """
    target = Path(raw_dir) / remote.name
    expected = remote.sha256 or lock.get(remote.url)
    if target.is_file():
        actual = sha256_of(target)
        _check_hash(target, expected, actual, hint=f"remove {target} to fetch it again")
    else:
        mirrored = find_in_mirror(remote.name)
        with atomic_path(target) as temporary:
            if mirrored is not None:
                shutil.copyfile(mirrored, temporary)
                origin = mirrored
            else:
                _download(remote, temporary, raw_dir=Path(raw_dir))
                origin = remote.url
            actual = sha256_of(temporary)
            _check_hash(Path(remote.name), expected, actual, hint=f"source: {origin}")
    return target, actual


def extract_archive(archive: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Extract a zip or tar archive into ``destination`` (atomically) after checking its members.

    The folder records the archive's sha256 (:data:`EXTRACTED_FROM`); an existing folder is
    reused only if it came from this very archive, so an updated archive is extracted anew.
    """
    archive, destination = Path(archive), Path(destination)
    digest = sha256_of(archive)
    marker = destination / EXTRACTED_FROM
    if destination.is_dir() and marker.is_file() and marker.read_text().strip() == digest:
        return destination
    with atomic_path(destination) as temporary:
        temporary.mkdir()
        (temporary / EXTRACTED_FROM).write_text(digest + "\n")
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as bundle:
                    members = bundle.infolist()
                    for info in members:
                        _check_member(info.filename, archive)
                        if info.flag_bits & ZIP_ENCRYPTED:
                            raise DataError(
                                f"{archive.name}: archive member {info.filename!r} is "
                                "encrypted; expected an archive without a password"
                            )
                    _check_room(archive, sum(info.file_size for info in members), temporary)
                    bundle.extractall(temporary)
            elif tarfile.is_tarfile(archive):
                with tarfile.open(archive) as bundle:
                    members = bundle.getmembers()
                    for member in members:
                        _check_member(member.name, archive)
                        if not (member.isfile() or member.isdir()):
                            raise DataError(
                                f"{archive.name}: archive member {member.name!r} is a "
                                "link or device; expected regular files and folders only"
                            )
                    _check_room(archive, sum(member.size for member in members), temporary)
                    bundle.extractall(temporary, filter="data")
            else:
                raise DataError(f"{archive.name}: not a zip or tar archive")
        except (*ARCHIVE_ERRORS, OSError) as error:
            if isinstance(error, OSError) and error.errno in FILE_SYSTEM_ERRNOS:
                raise  # the file system's, not the archive's (atomic_path names the folder)
            raise DataError(
                f"{archive.name}: damaged archive ({type(error).__name__}: {error}); remove "
                f"{archive} to fetch it again"
            ) from None
    return destination


def _check_room(archive: Path, declared: int, folder: Path) -> None:
    """Refuse an archive whose members declare more bytes than the disk of ``folder`` has free
    (a header may claim any size; nothing is written before this check)."""
    free = shutil.disk_usage(folder).free
    if declared > free:
        raise DataError(
            f"{archive.name}: its members declare {declared} bytes, more than the {free} bytes "
            f"free in {folder.parent}; expected an archive that fits (free space or check the file)"
        )


def _check_member(name: str, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DataError(
            f"{archive.name}: unsafe archive member {name!r} (absolute path or '..'); "
            "expected relative paths inside the archive"
        )


def _check_hash(path: Path, expected: str | None, actual: str, hint: str) -> None:
    if expected is not None and actual != expected.lower():
        raise DataError(f"{path.name}: sha256 mismatch: expected {expected}, got {actual} ({hint})")


def _download(remote: RemoteFile, destination: Path, raw_dir: Path) -> None:
    """Download ``remote.url`` to ``destination`` with pooch's HTTP downloader (a progress bar on
    a terminal), with retries; refuse failed and truncated transfers."""
    import pooch
    import requests
    from tqdm.auto import tqdm

    how_to = (
        f"to work offline, put {remote.name} into the folder named by ${MIRROR_ENV} "
        f"(searched by file name, also in subfolders) or into {raw_dir}/"
    )
    problem = ""
    for attempt in range(RETRIES):
        if attempt:
            time.sleep(BACKOFF_S * attempt)
        # a total (pooch sets the declared length) makes the bar true, which pooch asks of it
        bar = tqdm(desc=remote.name, total=1, unit="B", unit_scale=True, disable=None, leave=False)
        download = pooch.HTTPDownloader(
            progressbar=bar,
            chunk_size=2**20,
            timeout=TIMEOUT_S,
            headers={"User-Agent": f"efa-bench/{__version__}"},
        )
        try:
            with bar:
                download(remote.url, str(destination), None)
            return
        except requests.HTTPError as error:
            problem = f"HTTP {error.response.status_code} {error.response.reason}"
            if error.response.status_code < 500:  # 404 and friends do not get better
                break
        except requests.exceptions.ChunkedEncodingError as error:  # fewer bytes than declared
            problem = f"truncated download ({error})"
        except (requests.RequestException, OSError) as error:
            problem = f"{error}"
    raise DataError(f"{remote.name}: could not download {remote.url} ({problem}); {how_to}")
