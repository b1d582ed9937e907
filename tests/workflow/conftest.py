"""Helpers of the workflow tests: run Snakemake and DVC from the repository's environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
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


def run(args, cwd, timeout=300, check=True) -> subprocess.CompletedProcess:
    """Run a command, capturing stdout and stderr together; fail with its output."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=environment(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited with {result.returncode}:\n{result.stdout}")
    return result


def load_config(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.fixture
def workdir(tmp_path) -> Path:
    """An empty working directory holding only the data set registry."""
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "registry.yaml", tmp_path / "datasets" / "registry.yaml")
    return tmp_path
