"""The tests stay out of the repository's results/, datasets/ and .snakemake/ folders.

Two mechanisms: Snakemake runs only through :func:`snakemake_command`, which always passes
``--directory`` with a temporary directory (so a finished suite in the repository changes no
plan), and the guard of ``tests/conftest.py`` fails every test module, and the session, that
created, modified or deleted anything in those folders. These tests check both, and run the
workflow tests in a copy of the checkout after its suite (README: the suite, then the tests).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import OUTPUT_FOLDERS, ROOT, output_state, state_changes
from .conftest import run, snakemake_command, tool


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_output_state_sees_created_modified_and_deleted_paths(tmp_path):
    _write(tmp_path / "datasets" / "registry.yaml", "datasets: {}\n")
    _write(tmp_path / "datasets" / "two_atoms.zarr" / "zarr.json", "{}")
    _write(tmp_path / "results" / "metrics.json", "{}")
    _write(tmp_path / "results" / "old.log", "")
    (tmp_path / "config").mkdir()  # not an output folder
    before = output_state(tmp_path)
    assert set(before) == {
        "datasets",
        "datasets/two_atoms.zarr",
        "datasets/two_atoms.zarr/zarr.json",
        "results",
        "results/metrics.json",
        "results/old.log",
    }

    # a finished seed-0 run, as the suite writes it
    _write(tmp_path / "results" / "runs" / "two_atoms" / "local" / "seed0" / "summary.json", "{}")
    store = tmp_path / "datasets" / "two_atoms.zarr" / "zarr.json"
    store.write_text("{}")  # same size: only the modification time tells
    os.utime(store, ns=(0, 1))
    (tmp_path / "results" / "old.log").unlink()
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / "datasets" / "registry.yaml").write_text("datasets: {two_atoms: {}}\n")  # input
    _write(tmp_path / "config" / "config.yaml", "")

    assert state_changes(before, output_state(tmp_path)) == [
        "created .snakemake",
        "created .snakemake/locks",
        "modified datasets/two_atoms.zarr/zarr.json",
        "deleted results/old.log",
        "created results/runs",
        "created results/runs/two_atoms",
        "created results/runs/two_atoms/local",
        "created results/runs/two_atoms/local/seed0",
        "created results/runs/two_atoms/local/seed0/summary.json",
    ]


def test_output_state_does_not_follow_links(tmp_path):
    outside = tmp_path / "outside"
    _write(outside / "big.zarr" / "zarr.json", "{}")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "big.zarr").symlink_to(outside / "big.zarr")
    before = output_state(tmp_path)
    assert set(before) == {"datasets", "datasets/big.zarr"}
    _write(outside / "big.zarr" / "c" / "0", "data")
    assert state_changes(before, output_state(tmp_path)) == []


@pytest.mark.parametrize("inside", ["", *OUTPUT_FOLDERS, "results/runs"])
def test_snakemake_never_runs_in_the_repository(inside):
    with pytest.raises(ValueError, match="temporary directory"):
        snakemake_command(ROOT / inside, "-n")


def test_snakemake_runs_the_repository_snakefile_in_the_given_directory(workflow_dir):
    command = [
        str(part)
        for part in snakemake_command(workflow_dir, "-n", "--configfile", "config/paper.yaml")
    ]
    assert command[1:5] == [
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workflow_dir.resolve()),
    ]
    assert command[5:] == ["-n", "--configfile", "config/paper.yaml"]
    # the directory of a dry run: the configurations and the registry, no results
    assert sorted(p.name for p in workflow_dir.iterdir()) == ["config", "datasets", "examples"]
    for path in (ROOT / "config").glob("*.yaml"):
        assert (workflow_dir / "config" / path.name).read_bytes() == path.read_bytes()
    assert [p.name for p in (workflow_dir / "datasets").iterdir()] == ["registry.yaml"]


def _copy_of_checkout(target: Path) -> Path:
    """The checkout's files as a fresh clone of the working tree has them (tracked and untracked,
    not ignored: no results, no data set stores, no .snakemake)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if source.is_file() or source.is_symlink():  # not deleted in the working tree
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)
    return target


def _mark_finished(checkout: Path) -> None:
    """Make the default suite look finished in ``checkout``: every output of its plan exists
    (folders for outputs without a suffix), up to date, so Snakemake has nothing to do."""
    plan = run([tool("snakemake"), "-n", "--cores", "1"], cwd=checkout, timeout=120).stdout
    outputs = {
        path for line in re.findall(r"^\s+output: (.+)$", plan, re.M) for path in line.split(", ")
    }
    assert any(re.fullmatch(r"results/runs/\w+/\w+/seed0/summary\.json", p) for p in outputs)
    for name in outputs:
        path = checkout / name
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")
        else:
            path.mkdir(parents=True, exist_ok=True)
    run([tool("snakemake"), "--touch", "--cores", "1"], cwd=checkout, timeout=120)
    plan = run([tool("snakemake"), "-n", "--cores", "1"], cwd=checkout, timeout=120).stdout
    assert "Nothing to be done" in plan, plan


# .ci/run covers it in the default run: the README's test command after the suite, then a check
# that the suite's results are unchanged
@pytest.mark.extended
def test_workflow_tests_pass_after_the_suite(tmp_path):
    """The README's commands in order: the default suite, then the tests. In a copy of the
    checkout whose suite has finished (seed 0 of every run), the seed overlay's dry-run test
    still plans seeds 0 to 2 (it failed when it dry-ran in the checkout), and the tests change
    nothing of the suite's outputs."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (the files to copy)")
    checkout = _copy_of_checkout(tmp_path / "checkout")
    _mark_finished(checkout)
    before = output_state(checkout)
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'basetemp'}",
            "tests/workflow/test_config.py",
            "-k",
            "seed_overlay or paper_dry_run",
        ],
        cwd=checkout,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert re.search(r"^2 passed", result.stdout, re.M), result.stdout
    assert state_changes(before, output_state(checkout)) == []
