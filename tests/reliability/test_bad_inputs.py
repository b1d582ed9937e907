"""A battery of bad inputs: each is refused with a message naming it, or made harmless, and
leaves what it must not touch alone.

One row per bad input: the input, the command that receives it (``efa`` in-process, or a
Snakemake dry run whose printed shell commands then run with a ``python`` that does nothing, so
that only the shell's own expansions happen), the text the output must contain, whether the
command must fail, and what must still exist or must not exist afterwards. Every row runs in a
fresh work directory (:func:`workdir`) holding a copy of the data set registry, a folder
``victim.zarr`` outside the data set root, a good and a broken npz file to import, and the tiny
workflow configuration. To cover a new bad input, add a row.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from efa.cli import main

from ..conftest import ROOT
from ..workflow.conftest import environment, run, snakemake_command

INJECTION = "$(touch INJECTED)"
#: The pattern's explanation in every refused name (efa.names.check_name).
NOT_A_NAME = "is not a valid name; expected letters, digits"


@dataclass(frozen=True)
class BadInput:
    """One row of the battery.

    Attributes:
      id: the test id.
      input: the bad input, as the user gives it.
      command: runs the command in the work directory; returns (exit code, output).
      expect: text the output must contain (the error message, or the quoted argument).
      refused: whether the command must fail (exit code not 0).
      intact: paths (relative to the work directory) that must still exist afterwards.
      absent: paths that must not exist afterwards.
      unregistered: data set names that must not be in ``datasets/registry.user.yaml``.
    """

    id: str
    input: str
    command: Callable[[Path], tuple[int, str]]
    expect: str
    refused: bool = True
    intact: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    unregistered: tuple[str, ...] = ()


# --- commands -------------------------------------------------------------------------------


def efa(*args: str, setup: Callable[[Path], None] | None = None):
    """``efa ARGS`` in-process, from the work directory, after ``setup(workdir)``."""

    def command(workdir: Path) -> tuple[int, str]:
        if setup is not None:
            setup(workdir)
        output = io.StringIO()
        with contextlib.chdir(workdir), contextlib.redirect_stdout(output), \
                contextlib.redirect_stderr(output):
            code = main(list(args))
        return code, output.getvalue()

    return command


def workflow(edit: Callable[[dict, Path], None]):
    """A Snakemake dry run printing its commands (``-n -p``) of ``config/ci.yaml`` as changed by
    ``edit(config, workdir)``; then each printed command runs in bash, with ``python`` (the
    start of every job's command) a program that does nothing."""

    def command(workdir: Path) -> tuple[int, str]:
        config = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
        edit(config, workdir)
        (workdir / "config").mkdir()
        (workdir / "config" / "bad.yaml").write_text(yaml.safe_dump(config))
        planned = run(snakemake_command(workdir, "-n", "-p", "--configfile", "config/bad.yaml"),
                      cwd=workdir, timeout=300, check=False)
        stub = workdir / "stub"
        stub.mkdir()
        (stub / "python").write_text("#!/bin/sh\nexit 0\n")
        (stub / "python").chmod(0o755)
        env = environment()
        env["PATH"] = f"{stub}:{env['PATH']}"
        prefix = "Shell command: "
        for line in planned.stdout.splitlines():
            if line.startswith(prefix) and line != f"{prefix}None":
                subprocess.run(["bash", "-c", line[len(prefix):]], cwd=workdir, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        return planned.returncode, planned.stdout

    return command


# --- inputs ---------------------------------------------------------------------------------


def write_npz(path: Path, forces: bool = True) -> None:
    """Three structures of two atoms in the default keys of ``efa data import``."""
    rng = np.random.default_rng(0)
    arrays = {"positions": rng.normal(size=(3, 2, 3)), "atomic_numbers": np.array([[1, 2]] * 3),
              "energy": rng.normal(size=3)}
    if forces:
        arrays["forces"] = rng.normal(size=(3, 2, 3))
    np.savez(path, **arrays)


def user_registry(name: str, **entry) -> Callable[[Path], None]:
    """A setup writing ``datasets/registry.user.yaml`` with one entry (a fetched npz file)."""

    def setup(workdir: Path) -> None:
        mapping = {
            "kind": "fetch", "description": "bad", "level_of_theory": "none", "license": "none",
            "citation": "", "source": {"files": [{"name": "x.npz",
                                                  "url": (workdir / "good.npz").as_uri(),
                                                  "sha256": None}]},
            "reader": {"format": "npz", "file": "x.npz", "keys": {
                "positions": "positions", "atomic_numbers": "atomic_numbers",
                "energy": "energy", "forces": "forces"}},
        }
        mapping.update(entry)
        text = yaml.safe_dump({"datasets": {name: mapping}})
        (workdir / "datasets" / "registry.user.yaml").write_text(text)

    return setup


def root_folder(key: str, value: str) -> Callable[[dict, Path], None]:
    """A configuration edit setting ``key`` (a root folder) to ``value``, with the registry
    there for a data set root."""

    def edit(config: dict, workdir: Path) -> None:
        config[key] = value
        if key == "datasets_root":
            (workdir / value).mkdir()
            shutil.copy(ROOT / "datasets" / "registry.yaml", workdir / value)

    return edit


def renamed(where: str, name: str) -> Callable[[dict, Path], None]:
    """A configuration edit renaming the tiny suite's data set, experiment, model or probe."""

    def edit(config: dict, workdir: Path) -> None:
        experiment = config["experiments"]["two_atoms"]
        if where == "dataset":
            config["datasets"] = {name: config["datasets"]["two_atoms"]}
            experiment["dataset"] = name
            registry = yaml.safe_load((ROOT / "datasets" / "registry.yaml").read_text())
            text = yaml.safe_dump({"datasets": {name: registry["datasets"]["two_atoms"]}})
            (workdir / "datasets" / "registry.user.yaml").write_text(text)
        elif where == "experiment":
            config["experiments"] = {name: experiment}
        else:  # "models" or "probes": rename the first one (a probe keeps its probe name)
            first, *others = experiment[where]
            options = experiment[where][first]
            if where == "probes":
                options = {"probe": first, **(options or {})}
            experiment[where] = {name: options, **{k: experiment[where][k] for k in others}}

    return edit


def unlisted_dataset(config: dict, workdir: Path) -> None:
    """A configuration edit listing a data set by a path instead of a name."""
    config["datasets"]["../x"] = None


# --- the table ------------------------------------------------------------------------------

ROWS = [
    BadInput("datasets_root-injection", f"datasets_root: d{INJECTION}",
             workflow(root_folder("datasets_root", f"d{INJECTION}")),
             expect=f"--root 'd{INJECTION}'", refused=False, absent=("INJECTED",)),
    BadInput("results_root-injection", f"results_root: r{INJECTION}",
             workflow(root_folder("results_root", f"r{INJECTION}")),
             expect=f"--run-dir 'r{INJECTION}/runs/two_atoms/local/seed0'",
             refused=False, absent=("INJECTED",)),
    BadInput("dataset-name-injection", f"datasets: {{z{INJECTION}: ...}} (and in the registry)",
             workflow(renamed("dataset", f"z{INJECTION}")),
             expect=f"data set 'z{INJECTION}' {NOT_A_NAME}", absent=("INJECTED",)),
    BadInput("dataset-name-path", "datasets: {../x: null}", workflow(unlisted_dataset),
             expect=f"datasets: data set '../x' {NOT_A_NAME}"),
    BadInput("experiment-name-injection", f"experiments: {{e{INJECTION}: ...}}",
             workflow(renamed("experiment", f"e{INJECTION}")),
             expect=f"experiments: experiment 'e{INJECTION}' {NOT_A_NAME}", absent=("INJECTED",)),
    BadInput("model-label-injection", f"experiments.two_atoms.models: {{m{INJECTION}: ...}}",
             workflow(renamed("models", f"m{INJECTION}")),
             expect=f"experiments.two_atoms.models: model label 'm{INJECTION}' {NOT_A_NAME}",
             absent=("INJECTED",)),
    BadInput("probe-label-injection", f"experiments.two_atoms.probes: {{p{INJECTION}: ...}}",
             workflow(renamed("probes", f"p{INJECTION}")),
             expect=f"experiments.two_atoms.probes: probe label 'p{INJECTION}' {NOT_A_NAME}",
             absent=("INJECTED",)),
    BadInput("import-name-escapes-root", "efa data import --name ../victim",
             efa("data", "import", "good.npz", "--name", "../victim", "--root", "datasets"),
             expect=f"--name: data set '../victim' {NOT_A_NAME}",
             intact=("victim.zarr/keep.txt",), absent=("datasets/registry.user.yaml",)),
    BadInput("import-name-injection", f"efa data import --name 'z{INJECTION}'",
             efa("data", "import", "good.npz", "--name", f"z{INJECTION}", "--root", "datasets"),
             expect=f"--name: data set 'z{INJECTION}' {NOT_A_NAME}",
             absent=(f"datasets/z{INJECTION}.zarr", "datasets/registry.user.yaml")),
    BadInput("import-failed-build", "efa data import of an npz without forces",
             efa("data", "import", "broken.npz", "--name", "broken", "--root", "datasets"),
             expect="broken.npz: field 'forces': key 'forces' not found",
             absent=("datasets/broken.zarr",), unregistered=("broken",)),
    BadInput("registry-entry-name", f"registry.user.yaml: datasets: {{z{INJECTION}: ...}}",
             efa("data", "list", "--root", "datasets", setup=user_registry(f"z{INJECTION}")),
             expect=f"registry.user.yaml: datasets: data set 'z{INJECTION}' {NOT_A_NAME}"),
    BadInput("registry-file-name", "registry.user.yaml: source.files[0].name: ../x.npz",
             efa("data", "fetch", "evil", "--root", "datasets", setup=user_registry(
                 "evil", source={"files": [{"name": "../x.npz", "url": "file:///dev/null",
                                            "sha256": None}]})),
             expect=f"source.files[0].name: file '../x.npz' {NOT_A_NAME}",
             absent=("datasets/x.npz", "datasets/registry.lock")),
    BadInput("registry-reader-file", "registry.user.yaml: reader.file: ../../good.npz",
             efa("data", "build", "evil", "--root", "datasets", setup=user_registry(
                 "evil", reader={"format": "npz", "file": "../../good.npz", "keys": {
                     "positions": "positions", "atomic_numbers": "atomic_numbers",
                     "energy": "energy", "forces": "forces"}})),
             expect=f"reader.file '../../good.npz': file '..' {NOT_A_NAME}",
             absent=("datasets/evil.zarr",)),
    BadInput("train-experiment-escapes-root", "efa train --experiment ../../x",
             efa("train", "--experiment", "../../x", "--dataset", "two_atoms",
                 "--output-root", "results/runs", "--max-steps", "1"),
             expect=f"experiment: experiment '../../x' {NOT_A_NAME}", absent=("x", "results")),
    BadInput("train-label-escapes-root", "efa train --set label=../../y",
             efa("train", "--set", "label=../../y", "--dataset", "two_atoms",
                 "--output-root", "results/runs", "--max-steps", "1"),
             expect=f"label: model label '../../y' {NOT_A_NAME}", absent=("results",)),
]


@pytest.fixture
def workdir(tmp_path) -> Path:
    """The work directory of one row (see the module docstring)."""
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "registry.yaml", tmp_path / "datasets" / "registry.yaml")
    (tmp_path / "victim.zarr").mkdir()
    (tmp_path / "victim.zarr" / "keep.txt").write_text("not a data set")
    write_npz(tmp_path / "good.npz")
    write_npz(tmp_path / "broken.npz", forces=False)
    return tmp_path


def registered(root: Path) -> set[str]:
    """Names in ``<root>/registry.user.yaml`` (none if it does not exist)."""
    path = root / "registry.user.yaml"
    return set((yaml.safe_load(path.read_text()) or {}).get("datasets", {})) if path.is_file() \
        else set()


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input(row: BadInput, workdir: Path):
    code, output = row.command(workdir)
    assert row.expect in output, output
    assert (code != 0) == row.refused, f"exit code {code}:\n{output}"
    for path in row.intact:
        assert (workdir / path).exists(), f"{path} was removed"
    for path in row.absent:
        assert not (workdir / path).exists(), f"{path} was created"
    assert not set(row.unregistered) & registered(workdir / "datasets")
