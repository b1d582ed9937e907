"""Provenance of results: what code, environment, configuration and data produced them.

Every run's ``summary.json``, every result store (``attrs["provenance"]``, a JSON string),
``results/metrics.json`` (top-level key ``provenance``) and the report's header carry the
mapping :func:`collect` returns::

    {
      "efa_bench": {"version": "0.1.0", "git_commit": "<sha1>" | null, "git_dirty": bool | null},
      "python": "3.11.7",
      "packages": {"jax": "0.10.2", "jaxlib": …, "flax": …, "e3x": …, "optax": …,
                   "numpy": …, "ase": …, "tblite": …},
      "devices": {"platform": "cpu", "kind": "cpu", "count": 1},
      "config_sha256": "<hex>" | null,
      "datasets": {"<name>": "<content sha256>"}
    }

It holds no time stamps, host names or absolute paths, so two runs of the same configuration
on the same kind of machine record the same provenance byte for byte. ``git_commit`` is set
when the package is imported from a git checkout (``null`` for an installed wheel);
``git_dirty`` says whether tracked files differ from that commit (the results that git tracks
for DVC, ``results/metrics.json`` and its neighbours, do not count: they are outputs).

Content hashes (:func:`mapping_sha256`, :func:`dataset_sha256`) are SHA-256 digests of a
canonical serialisation, independent of how and when the data was written: a data set's hash
covers the name, dtype, shape and bytes of each variable and coordinate, not its attributes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

#: Packages whose versions decide the numbers (in this order in the provenance).
KEY_PACKAGES = ("jax", "jaxlib", "flax", "e3x", "optax", "numpy", "ase", "tblite")


def mapping_sha256(data: Any) -> str:
    """SHA-256 of ``data`` serialised as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def dataset_sha256(dataset) -> str:
    """Content hash of an xarray Dataset: every variable and coordinate, sorted by name.

    Each contributes its name, dtype (little-endian), shape and C-ordered bytes; attributes and
    chunking do not count. String arrays are hashed through their JSON text.
    """
    digest = hashlib.sha256()
    for name in sorted(map(str, dataset.variables)):
        values = np.asarray(dataset[name].values)
        if values.dtype.kind in "OUT":  # strings, of any numpy string type
            payload = json.dumps([str(item) for item in values.ravel()]).encode()
            kind = "object"
        else:
            kind = (
                values.dtype.newbyteorder("<").str
                if values.dtype.itemsize > 1
                else values.dtype.str
            )
            payload = np.ascontiguousarray(values, dtype=kind).tobytes()
        digest.update(f"{name}|{kind}|{values.shape}|".encode())
        digest.update(payload)
    return digest.hexdigest()


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@functools.cache
def _git_state() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout the package is imported from, or ``(None, None)``."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        changed = subprocess.run(
            [
                *("git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"),
                *("--", ".", ":(exclude)results"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(changed)


def software() -> dict[str, Any]:
    """The efa-bench version and git state, the Python version and the key package versions."""
    from efa import __version__

    commit, dirty = _git_state()
    return {
        "efa_bench": {"version": __version__, "git_commit": commit, "git_dirty": dirty},
        "python": platform.python_version(),
        "packages": {name: _package_version(name) for name in KEY_PACKAGES},
    }


def devices(count: int | None = None) -> dict[str, Any]:
    """Platform, kind and number of the JAX devices in use (``count``: the first ``count``)."""
    import jax

    visible = jax.devices()
    used = visible[: count or len(visible)]
    return {"platform": used[0].platform, "kind": used[0].device_kind, "count": len(used)}


def collect(
    *,
    device_count: int | None = None,
    config_sha256: str | None = None,
    datasets: Mapping[str, str] | None = None,
    with_devices: bool = True,
) -> dict[str, Any]:
    """The provenance mapping of the module docstring.

    Args:
      device_count: number of JAX devices the computation used (None: all visible).
      config_sha256: content hash of the configuration that produced the result.
      datasets: ``{name: content sha256}`` of the data sets used.
      with_devices: whether to start JAX to record the devices (False: ``devices`` is null).
    """
    return {
        **software(),
        "devices": devices(device_count) if with_devices else None,
        "config_sha256": config_sha256,
        "datasets": dict(sorted((datasets or {}).items())),
    }


def to_attr(provenance: Mapping[str, Any]) -> str:
    """The JSON string stored as a result store's ``provenance`` attribute."""
    return json.dumps(provenance, sort_keys=True)


def from_attr(text: str | None) -> dict[str, Any] | None:
    """The mapping :func:`to_attr` wrote, or None where a store has none."""
    return json.loads(text) if text else None


def header(provenance: Mapping[str, Any]) -> str:
    """A few lines for the top of the report."""
    code = provenance.get("efa_bench") or {}
    commit = code.get("git_commit")
    where = (
        f"git {commit[:12]}{' (dirty)' if code.get('git_dirty') else ''}"
        if commit
        else "no git checkout"
    )
    packages = ", ".join(f"{k} {v}" for k, v in (provenance.get("packages") or {}).items() if v)
    devices = provenance.get("devices") or []
    devices_text = (
        "; ".join(
            f"{device.get('count')} × {device.get('kind')} ({device.get('platform')})"
            for device in ([devices] if isinstance(devices, Mapping) else devices)
        )
        or "–"
    )
    data = ", ".join(
        f"{name} {digest[:12]}"
        if isinstance(digest, str)
        else f"{name} DIFFERS between runs ({' / '.join(d[:12] for d in digest)})"
        for name, digest in (provenance.get("datasets") or {}).items()
    )
    lines = [
        f"efa-bench {code.get('version')}, {where}; Python {provenance.get('python')}",
        f"packages: {packages}",
        f"devices: {devices_text}",
        f"configuration sha256: {(provenance.get('config_sha256') or '–')[:12]}",
        f"data sets: {data or '–'}",
    ]
    return "\n".join(lines)
