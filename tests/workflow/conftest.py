"""Helpers of the workflow tests: run Snakemake and DVC from the repository's environment.

Snakemake always runs the repository's Snakefile in a temporary working directory
(``--directory``), never in the repository: its relative paths (``configfile:``,
``--configfile``, ``datasets_root``, ``results_root``, targets) and its metadata
(``.snakemake/``) then resolve there, so finished runs in the repository's ``results/`` change
no plan, and no test writes there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import OUTPUT_FOLDERS, ROOT

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A console script of the environment running the tests (snakemake, dvc)."""
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name) or name


def environment() -> dict[str, str]:
    """The test process' environment with this environment's bin folder first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env.setdefault("GIT_AUTHOR_NAME", "efa-bench tests")
    env.setdefault("GIT_AUTHOR_EMAIL", "tests@efa-bench.invalid")
    env.setdefault("GIT_COMMITTER_NAME", "efa-bench tests")
    env.setdefault("GIT_COMMITTER_EMAIL", "tests@efa-bench.invalid")
    return env


def run(args, cwd, timeout=300, check=True, env=None) -> subprocess.CompletedProcess:
    """Run a command, capturing stdout and stderr together; fail with its output.

    ``env`` adds variables to :func:`environment`.
    """
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**environment(), **(env or {})},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited with {result.returncode}:\n{result.stdout}")
    return result


def snakemake_command(directory, *args) -> list:
    """Snakemake on the repository's Snakefile, with ``directory`` as its working directory."""
    directory = Path(directory).resolve()
    if directory == ROOT or any(directory.is_relative_to(ROOT / f) for f in OUTPUT_FOLDERS):
        raise ValueError(
            f"{directory}: Snakemake in the tests runs outside the repository's "
            f"{', '.join(OUTPUT_FOLDERS)} folders, in a temporary directory"
        )
    return [tool("snakemake"), "--snakefile", ROOT / "Snakefile", "--directory", directory, *args]


def snakemake(directory, *args, **kwargs) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command` from ``directory`` (keywords as for :func:`run`)."""
    return run(snakemake_command(directory, *args), cwd=directory, **kwargs)


def load_config(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.fixture
def workdir(tmp_path) -> Path:
    """An empty working directory holding only the data set registry."""
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "registry.yaml", tmp_path / "datasets" / "registry.yaml")
    return tmp_path


@pytest.fixture
def workflow_dir(workdir) -> Path:
    """:func:`workdir` with copies of the repository's configurations (``config/``, and
    ``examples/*.yaml``): Snakemake runs there as in a fresh clone, ``configfile:`` and relative
    ``--configfile`` paths included, whatever the repository's own ``results/`` holds."""
    shutil.copytree(ROOT / "config", workdir / "config")
    (workdir / "examples").mkdir()
    for path in (ROOT / "examples").glob("*.yaml"):
        shutil.copy(path, workdir / "examples" / path.name)
    return workdir
