"""Fetch from an HTTP server on loopback: good files build, bad ones fail and leave nothing."""

import hashlib
import http.server
import io
import shutil
import socket
import tarfile
import threading
import zipfile

import numpy as np
import pytest

from efa.data import fetch as fetch_module
from efa.data.build import build
from efa.data.registry import Registry
from efa.data.store import open_dataset, store_path
from efa.errors import DataError


def npz_bytes(scale=1.0):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        R=rng.normal(size=(4, 2, 3)) * scale,
        Z=np.array([1, 2]),
        E=rng.normal(size=4),
        F=rng.normal(size=(4, 2, 3)),
    )
    return buffer.getvalue()


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    """Serve ``routes[path] = (status, body, declared_length)`` on 127.0.0.1; stops by itself."""
    routes = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body, length = routes.get(self.path, (404, b"not found", None))
            self.send_response(status)
            self.send_header("Content-Length", str(length if length is not None else len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    watchdog = threading.Timer(120, httpd.shutdown)
    watchdog.daemon = True
    watchdog.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    watchdog.cancel()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(fetch_module, "BACKOFF_S", 0.0)
    monkeypatch.setattr(fetch_module, "TIMEOUT_S", 5.0)
    monkeypatch.delenv(fetch_module.MIRROR_ENV, raising=False)


def registry(url, name="file.npz", sha256=None, reader_file=None):
    return Registry.from_mapping(
        {
            "datasets": {
                "remote": {
                    "kind": "fetch",
                    "description": "test",
                    "level_of_theory": "none",
                    "license": "CC0-1.0",
                    "citation": "",
                    "source": {"files": [{"name": name, "url": url, "sha256": sha256}]},
                    "reader": {
                        "format": "npz",
                        "file": reader_file or name,
                        "keys": {
                            "positions": "R",
                            "atomic_numbers": "Z",
                            "energy": "E",
                            "forces": "F",
                        },
                        "units": {"energy": "kcal/mol"},
                    },
                }
            }
        }
    )


def assert_nothing_left(root):
    assert not store_path("remote", root).exists()
    leftovers = [p.name for p in root.rglob("*") if ".tmp-" in p.name]
    assert not leftovers


def test_good_file_builds_and_converts_units(tmp_path, server):
    base, routes = server
    body = npz_bytes()
    routes["/file.npz"] = (200, body, None)
    build("remote", tmp_path, registry(f"{base}/file.npz", sha256=sha(body)))
    ds = open_dataset("remote", root=tmp_path)
    source = np.load(io.BytesIO(body))
    np.testing.assert_allclose(ds.energy.values, source["E"] * 0.0433641043)
    np.testing.assert_array_equal(ds.positions.values, source["R"])
    assert ds.attrs["sha256"] == sha(body)


def test_wrong_checksum(tmp_path, server):
    base, routes = server
    routes["/file.npz"] = (200, npz_bytes(), None)
    with pytest.raises(DataError, match=f"file.npz: sha256 mismatch: expected {'0' * 64}, got "):
        build("remote", tmp_path, registry(f"{base}/file.npz", sha256="0" * 64))
    assert not (tmp_path / "raw" / "file.npz").exists()
    assert_nothing_left(tmp_path)


def test_truncated_download(tmp_path, server):
    base, routes = server
    body = npz_bytes()
    routes["/file.npz"] = (200, body[:100], len(body))
    with pytest.raises(DataError, match="could not download .*truncated"):
        build("remote", tmp_path, registry(f"{base}/file.npz", sha256=sha(body)))
    assert not (tmp_path / "raw" / "file.npz").exists()
    assert_nothing_left(tmp_path)


def test_404(tmp_path, server):
    base, _ = server
    with pytest.raises(
        DataError,
        match=r"could not download http://127.0.0.1:\d+/missing.npz "
        r"\(HTTP 404.*EFA_DATA_MIRROR",
    ):
        build("remote", tmp_path, registry(f"{base}/missing.npz", name="missing.npz"))
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("pack", [zip_bytes, tar_bytes], ids=["zip", "tar"])
def test_archive_with_parent_member_is_refused(tmp_path, server, pack):
    base, routes = server
    body = pack({"data.npz": npz_bytes(), "../escaped.npz": b"evil"})
    routes["/bundle"] = (200, body, None)
    name = "bundle.zip" if pack is zip_bytes else "bundle.tar.gz"
    with pytest.raises(DataError, match="unsafe archive member '../escaped.npz'"):
        build(
            "remote",
            tmp_path / "root",
            registry(f"{base}/bundle", name=name, sha256=sha(body), reader_file="bundle/data.npz"),
        )
    assert (
        not (tmp_path / "escaped.npz").exists() and not (tmp_path / "root" / "escaped.npz").exists()
    )
    assert not (tmp_path / "root" / "raw" / "bundle").exists()
    assert_nothing_left(tmp_path / "root")


def test_good_archive_builds(tmp_path, server):
    base, routes = server
    body = zip_bytes({"inner/data.npz": npz_bytes()})
    routes["/bundle.zip"] = (200, body, None)
    build(
        "remote",
        tmp_path,
        registry(
            f"{base}/bundle.zip",
            name="bundle.zip",
            sha256=sha(body),
            reader_file="bundle/inner/data.npz",
        ),
    )
    assert open_dataset("remote", root=tmp_path).sizes["structure"] == 4


def test_unknown_hash_is_pinned_then_enforced(tmp_path, server):
    base, routes = server
    first = npz_bytes()
    routes["/file.npz"] = (200, first, None)
    build("remote", tmp_path, registry(f"{base}/file.npz"))
    assert sha(first) in (tmp_path / "registry.lock").read_text()
    (tmp_path / "raw" / "file.npz").unlink()
    routes["/file.npz"] = (200, npz_bytes(scale=2.0), None)
    with pytest.raises(DataError, match=f"sha256 mismatch: expected {sha(first)}"):
        build("remote", tmp_path, registry(f"{base}/file.npz"))


def test_an_unreadable_file_is_not_pinned(tmp_path, server):
    """A truncated file without a known hash fails to read and is not pinned, so the good file
    downloaded afterwards builds."""
    base, routes = server
    good = npz_bytes()
    routes["/file.npz"] = (200, good[: len(good) // 2], None)  # cut short, no Content-Length lie
    with pytest.raises(DataError, match="has no pinned sha256 and was not pinned; delete it"):
        build("remote", tmp_path, registry(f"{base}/file.npz"))
    assert not (tmp_path / "registry.lock").exists()
    (tmp_path / "raw" / "file.npz").unlink()
    routes["/file.npz"] = (200, good, None)
    build("remote", tmp_path, registry(f"{base}/file.npz"))
    assert sha(good) in (tmp_path / "registry.lock").read_text()


def test_an_updated_archive_is_extracted_again(tmp_path, server):
    base, routes = server
    old, new = (zip_bytes({"inner/data.npz": npz_bytes(scale=s)}) for s in (1.0, 2.0))
    for body in (old, new):
        routes["/bundle.zip"] = (200, body, None)
        (tmp_path / "raw" / "bundle.zip").unlink(missing_ok=True)
        build(
            "remote",
            tmp_path,
            registry(
                f"{base}/bundle.zip",
                name="bundle.zip",
                sha256=sha(body),
                reader_file="bundle/inner/data.npz",
            ),
        )
    source = np.load(io.BytesIO(npz_bytes(scale=2.0)))
    np.testing.assert_array_equal(
        open_dataset("remote", root=tmp_path).positions.values, source["R"]
    )


def test_mirror_is_used_before_the_network(tmp_path, monkeypatch):
    body = npz_bytes()
    mirror = tmp_path / "mirror" / "sub"
    mirror.mkdir(parents=True)
    (mirror / "file.npz").write_bytes(body)
    monkeypatch.setenv(fetch_module.MIRROR_ENV, str(tmp_path / "mirror"))
    with socket.socket() as sock:  # a port nobody listens on: the network must not be needed
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/file.npz"
    build("remote", tmp_path / "root", registry(url, sha256=sha(body)))
    assert store_path("remote", tmp_path / "root").is_dir()


def test_offline_without_mirror_names_url_and_remedy(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/file.npz"
    with pytest.raises(DataError) as error:
        build("remote", tmp_path, registry(url))
    message = str(error.value)
    assert url in message and "EFA_DATA_MIRROR" in message and str(tmp_path / "raw") in message
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("pack", [zip_bytes, tar_bytes], ids=["zip", "tar"])
def test_a_damaged_archive_is_named_and_leaves_nothing(tmp_path, server, pack):
    base, routes = server
    good = pack({"data.npz": npz_bytes()})
    # zip: one byte of the stored member flipped (its CRC fails); tar.gz: cut in the middle
    body = good[:60] + bytes([good[60] ^ 0xFF]) + good[61:] if pack is zip_bytes else good[:-80]
    routes["/bundle"] = (200, body, None)
    name = "bundle.zip" if pack is zip_bytes else "bundle.tar.gz"
    with pytest.raises(DataError, match=f"{name}: damaged archive .*; remove .*{name} to fetch"):
        build(
            "remote",
            tmp_path,
            registry(f"{base}/bundle", name=name, sha256=sha(body), reader_file="bundle/data.npz"),
        )
    assert not (tmp_path / "raw" / "bundle").exists()
    assert_nothing_left(tmp_path)


def test_an_archive_larger_than_the_free_space_is_refused_before_unpacking(
    tmp_path, server, monkeypatch
):
    base, routes = server
    body = zip_bytes({"data.npz": npz_bytes()})
    routes["/bundle.zip"] = (200, body, None)
    free = shutil.disk_usage(tmp_path)._replace(free=100)
    monkeypatch.setattr(fetch_module.shutil, "disk_usage", lambda path: free)
    with pytest.raises(DataError, match=r"bundle.zip: its members declare \d+ bytes, more than"):
        build(
            "remote",
            tmp_path,
            registry(
                f"{base}/bundle.zip", name="bundle.zip", sha256=sha(body), reader_file="bundle/x"
            ),
        )
    assert not (tmp_path / "raw" / "bundle").exists()


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.org/a.npz", "a.npz", "https:///a.npz", "http://[::1", 42],
)
def test_a_url_that_is_not_a_web_address_is_refused_by_the_registry(url):
    with pytest.raises(DataError, match=r"source.files\[0\].url=.*expected an https:// or http://"):
        registry(url)


def test_a_malformed_sha256_is_refused_by_the_registry():
    with pytest.raises(DataError, match=r"source.files\[0\].sha256='abc': expected 64 hex"):
        registry("https://example.org/a.npz", sha256="abc")
