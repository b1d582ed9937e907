"""Provenance: content hashes of data and configurations, the code and environment recorded."""

import subprocess
from pathlib import Path

import numpy as np

from efa import provenance
from efa.data.build import build
from efa.data.generators.analytic import two_atoms
from efa.data.store import open_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_dataset_hash_covers_the_data_and_not_the_attrs():
    first, second = two_atoms(20, seed=0), two_atoms(20, seed=0)
    assert provenance.dataset_sha256(first) == provenance.dataset_sha256(second)
    second.attrs["description"] = "another description"
    assert provenance.dataset_sha256(first) == provenance.dataset_sha256(second)
    second["energy"].values[3] = np.nextafter(second["energy"].values[3], np.inf)  # one ulp
    assert provenance.dataset_sha256(first) != provenance.dataset_sha256(second)
    assert provenance.dataset_sha256(two_atoms(20, seed=1)) != provenance.dataset_sha256(first)


def test_building_a_data_set_twice_gives_the_same_content(tmp_path):
    digests = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        (root / "registry.yaml").write_text((ROOT / "datasets" / "registry.yaml").read_text())
        build("two_atoms", root, overrides={"num_structures": 30})
        stored = open_dataset("two_atoms", root)
        assert stored.attrs["content_sha256"] == provenance.dataset_sha256(stored)
        digests.append(stored.attrs["content_sha256"])
    assert digests[0] == digests[1]


def test_mapping_hash_ignores_key_order_only():
    assert provenance.mapping_sha256({"a": 1, "b": [1, 2]}) == provenance.mapping_sha256(
        {"b": [1, 2], "a": 1}
    )
    assert provenance.mapping_sha256({"a": 1}) != provenance.mapping_sha256({"a": 1.5})


def test_collect_records_code_packages_devices_and_inputs():
    record = provenance.collect(config_sha256="c" * 64, datasets={"z": "2", "a": "1"})
    assert list(record["datasets"]) == ["a", "z"]
    assert record["config_sha256"] == "c" * 64
    assert record["devices"]["count"] >= 1 and record["devices"]["platform"]
    code = record["efa_bench"]
    if (ROOT / ".git").exists():  # run from a checkout: the commit it is at
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        assert code["git_commit"] == head and isinstance(code["git_dirty"], bool)
    text = provenance.header(record)
    assert "packages: jax " in text and "data sets: a 1, z 2" in text
    assert provenance.from_attr(provenance.to_attr(record)) == record
    several = {
        **record,
        "devices": [
            {"count": 1, "kind": "cpu", "platform": "cpu"},
            {"count": 2, "kind": "H200", "platform": "gpu"},
        ],
    }
    assert "devices: 1 × cpu (cpu); 2 × H200 (gpu)" in provenance.header(several)
