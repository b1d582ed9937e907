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
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from efa.cli.main import main
from tests.builders import write_two_atom_store

from ..conftest import ROOT
from ..workflow.conftest import environment, run, snakemake_command

INJECTION = "$(touch INJECTED)"
#: The URL of a registry entry whose rows are refused before anything is fetched.
UNREACHABLE_URL = "https://example.invalid/x.npz"
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
        with (
            contextlib.chdir(workdir),
            contextlib.redirect_stdout(output),
            contextlib.redirect_stderr(output),
        ):
            code = main(list(args))
        return code, output.getvalue()

    return command


#: A configuration of a few hundred bytes whose aliases stand for 9^10 values.
ALIAS_BOMB = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]\n" for level in range(1, 10)
)


#: A two-atom extxyz frame; the rows below replace one of its fields.
GOOD_FRAME = (
    '2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 charge=0 pbc="F F F"\n'
    "H 0.0 0.0 0.0 0.0 0.0 0.1\nH 0.0 0.0 0.74 0.0 0.0 -0.1\n"
)


def frame_file(old: str, new: str):
    """A setup writing ``frame.xyz``: :data:`GOOD_FRAME` with ``old`` replaced by ``new``."""
    return lambda workdir: (workdir / "frame.xyz").write_text(GOOD_FRAME.replace(old, new))


def workflow_file(text: str):
    """A Snakemake dry run of the configuration file holding ``text``."""

    def command(workdir: Path) -> tuple[int, str]:
        (workdir / "bad.yaml").write_text(text)
        planned = run(
            snakemake_command(workdir, "-n", "--configfile", "bad.yaml"),
            cwd=workdir,
            timeout=300,
            check=False,
        )
        return planned.returncode, planned.stdout

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
        planned = run(
            snakemake_command(workdir, "-n", "-p", "--configfile", "config/bad.yaml"),
            cwd=workdir,
            timeout=300,
            check=False,
        )
        stub = workdir / "stub"
        stub.mkdir()
        (stub / "python").write_text("#!/bin/sh\nexit 0\n")
        (stub / "python").chmod(0o755)
        env = environment()
        env["PATH"] = f"{stub}:{env['PATH']}"
        prefix = "Shell command: "
        for line in planned.stdout.splitlines():
            if line.startswith(prefix) and line != f"{prefix}None":
                subprocess.run(
                    ["bash", "-c", line[len(prefix) :]],
                    cwd=workdir,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=60,
                )
        return planned.returncode, planned.stdout

    return command


#: Runs ``efa`` in a process whose files may grow to at most ``sys.argv[1]`` bytes (as on a
#: full disk, the write that crosses the limit fails: EFBIG, with SIGXFSZ ignored).
LIMITED_FILE_SIZE = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from efa.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def efa_process(*args: str, file_size: int | None = None, read_output: bool = True):
    """``efa ARGS`` in a new process from the work directory: with ``file_size``, no file it
    writes may grow past that many bytes; without ``read_output``, its standard output is a pipe
    that nobody reads (closed before the command writes, as ``efa … | head`` ends early)."""

    def command(workdir: Path) -> tuple[int, str]:
        if file_size is None:
            argv = [sys.executable, "-m", "efa.cli", *args]
        else:
            argv = [sys.executable, "-c", LIMITED_FILE_SIZE, str(file_size), *args]
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            env=environment(),
            stdout=subprocess.PIPE if not read_output else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if not read_output:
            process.stdout.close()
        _, error = process.communicate(timeout=300)
        return process.returncode, error

    return command


# --- inputs ---------------------------------------------------------------------------------


def write_npz(path: Path, forces: bool = True) -> None:
    """Three structures of two atoms in the default keys of ``efa data import``."""
    rng = np.random.default_rng(0)
    arrays = {
        "positions": rng.normal(size=(3, 2, 3)),
        "atomic_numbers": np.array([[1, 2]] * 3),
        "energy": rng.normal(size=3),
    }
    if forces:
        arrays["forces"] = rng.normal(size=(3, 2, 3))
    np.savez(path, **arrays)


def user_registry(name: str, **entry) -> Callable[[Path], None]:
    """A setup writing ``datasets/registry.user.yaml`` with one entry (a fetched npz file)."""

    def setup(workdir: Path) -> None:
        mapping = {
            "kind": "fetch",
            "description": "bad",
            "level_of_theory": "none",
            "license": "none",
            "citation": "",
            "source": {"files": [{"name": "x.npz", "url": UNREACHABLE_URL, "sha256": None}]},
            "reader": {
                "format": "npz",
                "file": "x.npz",
                "keys": {
                    "positions": "positions",
                    "atomic_numbers": "atomic_numbers",
                    "energy": "energy",
                    "forces": "forces",
                },
            },
        }
        mapping.update(entry)
        text = yaml.safe_dump({"datasets": {name: mapping}})
        (workdir / "datasets" / "registry.user.yaml").write_text(text)

    return setup


def user_entry(verb: str, **entry):
    """``efa data VERB evil`` of a user registry entry ``evil`` with ``entry``'s keys
    (:func:`user_registry`)."""
    return efa("data", verb, "evil", "--root", "datasets", setup=user_registry("evil", **entry))


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


def two_atom_store(workdir: Path) -> None:
    """A setup building ``datasets/two_atoms.zarr`` (40 analytic pairs up to 10 Å apart)."""
    write_two_atom_store(workdir / "datasets", 40)


def module(name: str, text: str) -> Callable[[Path], None]:
    """A setup writing the Python module ``<name>.py`` into the work directory (and putting the
    work directory on the import path), then building the two-atom store."""

    def setup(workdir: Path) -> None:
        (workdir / f"{name}.py").write_text(text)
        if str(workdir) not in sys.path:
            sys.path.insert(0, str(workdir))
        two_atom_store(workdir)

    return setup


def npz_file(name: str, **changes) -> Callable[[Path], None]:
    """A setup writing ``<name>`` as good.npz with some arrays replaced (``None``: removed)."""

    def setup(workdir: Path) -> None:
        with np.load(workdir / "good.npz") as good:
            arrays = {key: good[key] for key in good.files}
        arrays.update(changes)
        np.savez(workdir / name, **{k: v for k, v in arrays.items() if v is not None})

    return setup


def extxyz_file(name: str, pbc: bool = False, charge: float | None = None):
    """A setup writing three two-atom frames as extxyz: periodic, and/or with a total charge."""

    def setup(workdir: Path) -> None:
        import ase.io
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        frames = []
        for index in range(3):
            atoms = Atoms("HHe", positions=[[0, 0, 0], [0, 0, 1.0 + index]])
            if pbc:
                atoms.set_cell([8.0, 8.0, 8.0])
                atoms.pbc = True
            if charge is not None:
                atoms.info["charge"] = charge if index == 1 else 0
            atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((2, 3)))
            frames.append(atoms)
        ase.io.write(workdir / name, frames, format="extxyz")

    return setup


def periodic_set(workdir: Path) -> None:
    """A setup importing three periodic two-atom cells as the data set ``cell``."""
    extxyz_file("cell.xyz", pbc=True)(workdir)
    with contextlib.chdir(workdir), contextlib.redirect_stdout(io.StringIO()):
        assert main(["data", "import", "cell.xyz", "--name", "cell", "--root", "datasets"]) == 0


def altered_run(workdir: Path) -> None:
    """A run folder whose ``model.json`` names a module that creates ``INJECTED`` on import,
    while its ``config.json`` names the built-in local model."""
    import json

    from efa.data.splits import make_splits, save_splits
    from efa.provenance import dataset_sha256
    from efa.runs.config import RunConfig
    from efa.runs.data_record import data_record

    store = write_two_atom_store(workdir / "datasets", 40)
    (workdir / "evil_model.py").write_text("open('INJECTED', 'w').close()\n")
    if str(workdir) not in sys.path:
        sys.path.insert(0, str(workdir))
    run = workdir / "run"
    run.mkdir()
    config = RunConfig(
        dataset="two_atoms",
        datasets_root=str(workdir / "datasets"),
        splits={"train": 20, "valid": 10, "test": 10},
    )
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    splits = make_splits(40, config.splits, 0)
    save_splits(splits, run / "splits.json")
    from efa.data.store import open_dataset

    digest = dataset_sha256(open_dataset(store))
    (run / "data.json").write_text(json.dumps(data_record("two_atoms", digest, 40, splits)))
    (run / "model.json").write_text(
        json.dumps(
            {"model": "evil_model:Model", "model_options": {}, "element_energies": {"1": -1.0}}
        )
    )


TRAIN = ("train", "--dataset", "two_atoms", "--output-root", "results/runs", "--no-progress")


# --- the table ------------------------------------------------------------------------------

ROWS = [
    BadInput(
        "datasets_root-injection",
        f"datasets_root: d{INJECTION}",
        workflow(root_folder("datasets_root", f"d{INJECTION}")),
        expect=f"--root 'd{INJECTION}'",
        refused=False,
        absent=("INJECTED",),
    ),
    BadInput(
        "results_root-injection",
        f"results_root: r{INJECTION}",
        workflow(root_folder("results_root", f"r{INJECTION}")),
        expect=f"--run-dir 'r{INJECTION}/runs/two_atoms/local/seed0'",
        refused=False,
        absent=("INJECTED",),
    ),
    BadInput(
        "dataset-name-injection",
        f"datasets: {{z{INJECTION}: ...}} (and in the registry)",
        workflow(renamed("dataset", f"z{INJECTION}")),
        expect=f"data set 'z{INJECTION}' {NOT_A_NAME}",
        absent=("INJECTED",),
    ),
    BadInput(
        "dataset-name-path",
        "datasets: {../x: null}",
        workflow(unlisted_dataset),
        expect=f"datasets: data set '../x' {NOT_A_NAME}",
    ),
    BadInput(
        "experiment-name-injection",
        f"experiments: {{e{INJECTION}: ...}}",
        workflow(renamed("experiment", f"e{INJECTION}")),
        expect=f"experiments: experiment 'e{INJECTION}' {NOT_A_NAME}",
        absent=("INJECTED",),
    ),
    BadInput(
        "model-label-injection",
        f"experiments.two_atoms.models: {{m{INJECTION}: ...}}",
        workflow(renamed("models", f"m{INJECTION}")),
        expect=f"experiments.two_atoms.models: model label 'm{INJECTION}' {NOT_A_NAME}",
        absent=("INJECTED",),
    ),
    BadInput(
        "probe-label-injection",
        f"experiments.two_atoms.probes: {{p{INJECTION}: ...}}",
        workflow(renamed("probes", f"p{INJECTION}")),
        expect=f"experiments.two_atoms.probes: probe label 'p{INJECTION}' {NOT_A_NAME}",
        absent=("INJECTED",),
    ),
    BadInput(
        "import-name-escapes-root",
        "efa data import --name ../victim",
        efa("data", "import", "good.npz", "--name", "../victim", "--root", "datasets"),
        expect=f"--name: data set '../victim' {NOT_A_NAME}",
        intact=("victim.zarr/keep.txt",),
        absent=("datasets/registry.user.yaml",),
    ),
    BadInput(
        "import-name-injection",
        f"efa data import --name 'z{INJECTION}'",
        efa("data", "import", "good.npz", "--name", f"z{INJECTION}", "--root", "datasets"),
        expect=f"--name: data set 'z{INJECTION}' {NOT_A_NAME}",
        absent=(f"datasets/z{INJECTION}.zarr", "datasets/registry.user.yaml"),
    ),
    BadInput(
        "import-name-store-suffix",
        "efa data import --name mine.zarr",
        efa("data", "import", "good.npz", "--name", "mine.zarr", "--root", "datasets"),
        expect="--name: data set 'mine.zarr' ends in '.zarr', which names a store path",
        absent=("datasets/mine.zarr.zarr", "datasets/registry.user.yaml"),
    ),
    BadInput(
        "import-failed-build",
        "efa data import of an npz without forces",
        efa("data", "import", "broken.npz", "--name", "broken", "--root", "datasets"),
        expect="broken.npz: field 'forces': key 'forces' not found",
        absent=("datasets/broken.zarr",),
        unregistered=("broken",),
    ),
    BadInput(
        "registry-entry-name",
        f"registry.user.yaml: datasets: {{z{INJECTION}: ...}}",
        efa("data", "list", "--root", "datasets", setup=user_registry(f"z{INJECTION}")),
        expect=f"registry.user.yaml: datasets: data set 'z{INJECTION}' {NOT_A_NAME}",
    ),
    BadInput(
        "registry-file-name",
        "registry.user.yaml: source.files[0].name: ../x.npz",
        user_entry(
            "fetch",
            source={"files": [{"name": "../x.npz", "url": UNREACHABLE_URL, "sha256": None}]},
        ),
        expect=f"source.files[0].name: file '../x.npz' {NOT_A_NAME}",
        absent=("datasets/x.npz", "datasets/registry.lock"),
    ),
    BadInput(
        "registry-reader-file",
        "registry.user.yaml: reader.file: ../../good.npz",
        user_entry(
            "build",
            reader={
                "format": "npz",
                "file": "../../good.npz",
                "keys": {
                    "positions": "positions",
                    "atomic_numbers": "atomic_numbers",
                    "energy": "energy",
                    "forces": "forces",
                },
            },
        ),
        expect=f"reader.file '../../good.npz': file '..' {NOT_A_NAME}",
        absent=("datasets/evil.zarr",),
    ),
    BadInput(
        "train-experiment-escapes-root",
        "efa train --experiment ../../x",
        efa(
            "train",
            "--experiment",
            "../../x",
            "--dataset",
            "two_atoms",
            "--output-root",
            "results/runs",
            "--max-steps",
            "1",
        ),
        expect=f"experiment: experiment '../../x' {NOT_A_NAME}",
        absent=("x", "results"),
    ),
    BadInput(
        "train-label-escapes-root",
        "efa train --set label=../../y",
        efa(
            "train",
            "--set",
            "label=../../y",
            "--dataset",
            "two_atoms",
            "--output-root",
            "results/runs",
            "--max-steps",
            "1",
        ),
        expect=f"label: model label '../../y' {NOT_A_NAME}",
        absent=("results",),
    ),
    BadInput(
        "model-option-type",
        "model_options: {features: abc}",
        efa(*TRAIN, "--set", "model_options={features: abc}", setup=two_atom_store),
        expect="model_options.features='abc': expected an integer",
        absent=("results",),
    ),
    BadInput(
        "model-option-float",
        "model_options: {features: 8.5}",
        efa(*TRAIN, "--set", "model_options={features: 8.5}", setup=two_atom_store),
        expect="model_options.features=8.5: expected an integer",
        absent=("results",),
    ),
    BadInput(
        "lebedev-grid",
        "model: efa, model_options: {lebedev_num: 51}",
        efa(
            *TRAIN,
            "--model",
            "efa",
            "--set",
            "model_options={lebedev_num: 51}",
            setup=two_atom_store,
        ),
        expect="lebedev_num=51: expected the size of a Lebedev grid",
        absent=("results",),
    ),
    BadInput(
        "max-length-shorter-than-data",
        "model: efa, model_options: {max_length: 5.0}",
        efa(
            *TRAIN,
            "--model",
            "efa",
            "--set",
            "model_options={max_length: 5.0}",
            setup=two_atom_store,
        ),
        expect="model_options.max_length=5.0: shorter than the largest distance",
        absent=("results",),
    ),
    BadInput(
        "max-steps-negative",
        "max_steps: -5",
        efa(*TRAIN, "--set", "max_steps=-5", setup=two_atom_store),
        expect="max_steps=-5: expected a positive integer",
        absent=("results",),
    ),
    BadInput(
        "learning-rate-inf",
        "learning_rate: inf",
        efa(*TRAIN, "--set", "learning_rate=inf", setup=two_atom_store),
        expect="learning_rate=inf: expected a finite positive number",
        absent=("results",),
    ),
    BadInput(
        "energy-weight-nan",
        "energy_weight: nan",
        efa(*TRAIN, "--set", "energy_weight=nan", setup=two_atom_store),
        expect="energy_weight=nan: expected a finite number >= 0",
        absent=("results",),
    ),
    BadInput(
        "model-module-syntax-error",
        "model: broken_syntax:Model (a syntax error)",
        efa(*TRAIN, "--model", "broken_syntax:Model", setup=module("broken_syntax", "def (:\n")),
        expect="cannot import module 'broken_syntax' (SyntaxError",
        absent=("results",),
    ),
    BadInput(
        "model-module-raises",
        "model: raises_on_import:Model (raises on import)",
        efa(
            *TRAIN,
            "--model",
            "raises_on_import:Model",
            setup=module("raises_on_import", "raise RuntimeError('no GPU here')\n"),
        ),
        expect="cannot import module 'raises_on_import' (RuntimeError: no GPU here)",
        absent=("results",),
    ),
    BadInput(
        "probe-num-points",
        "efa probe two_atoms --num-points -4",
        efa("probe", "two_atoms", "--run", "no_run", "--num-points", "-4", "--output", "p.zarr"),
        expect="--num-points -4: expected at least 2",
        absent=("p.zarr",),
    ),
    BadInput(
        "npz-object-array",
        "npz with an object array as energy",
        efa(
            "data",
            "import",
            "objects.npz",
            "--name",
            "objects",
            "--root",
            "datasets",
            setup=npz_file("objects.npz", energy=np.array([1.0, "a", None], dtype=object)),
        ),
        expect="objects.npz: field 'energy': key 'energy' cannot be read (Object arrays",
        absent=("datasets/objects.zarr",),
        unregistered=("objects",),
    ),
    BadInput(
        "npy-renamed-npz",
        "a .npy file renamed .npz",
        efa(
            "data",
            "import",
            "single.npz",
            "--name",
            "single",
            "--root",
            "datasets",
            setup=lambda w: (
                np.save(w / "single.npy", np.zeros(3)),
                (w / "single.npy").rename(w / "single.npz"),
            ),
        ),
        expect="single.npz: holds a single array (a .npy file), not an npz archive",
        absent=("datasets/single.zarr",),
        unregistered=("single",),
    ),
    BadInput(
        "npz-numbers-length",
        "npz atomic_numbers of the wrong length",
        efa(
            "data",
            "import",
            "short.npz",
            "--name",
            "short",
            "--root",
            "datasets",
            setup=npz_file("short.npz", atomic_numbers=np.array([1, 2, 3])),
        ),
        expect="short.npz: field 'atomic_numbers': has shape (3,); expected (3, 2) or (2,)",
        absent=("datasets/short.zarr",),
        unregistered=("short",),
    ),
    BadInput(
        "extxyz-periodic-kept",
        "extxyz frames with a periodic cell",
        efa(
            "data",
            "import",
            "cell.xyz",
            "--name",
            "cell",
            "--root",
            "datasets",
            setup=extxyz_file("cell.xyz", pbc=True),
        ),
        expect="cell: added to",
        refused=False,
        intact=("datasets/cell.zarr",),
    ),
    BadInput(
        "train-on-periodic-cells",
        "efa train on a data set of periodic cells (trained with their images, not refused)",
        efa(
            "train",
            "--dataset",
            "cell",
            "--output-root",
            "results/runs",
            "--max-steps",
            "2",
            "--set",
            "splits={train: 1, valid: 1, test: 1}",
            "--set",
            "valid_every=1",
            "--set",
            "model_options={features: 4, num_iterations: 1, max_degree: 0}",
            "--no-progress",
            setup=periodic_set,
        ),
        expect='"status": "complete"',
        refused=False,
        intact=("results/runs/default/local/seed0/summary.json",),
    ),
    BadInput(
        "extxyz-fractional-charge",
        "extxyz total charge 0.5",
        efa(
            "data",
            "import",
            "half.xyz",
            "--name",
            "half",
            "--root",
            "datasets",
            "--charge-key",
            "charge",
            setup=extxyz_file("half.xyz", charge=0.5),
        ),
        expect="half.xyz: field 'total_charge': 0.5 in frame 1",
        absent=("datasets/half.zarr",),
        unregistered=("half",),
    ),
    BadInput(
        "run-folder-model-import",
        "run folder whose model.json names another module",
        efa("evaluate", "run", setup=altered_run),
        expect="model.json: names model 'evil_model:Model'",
        absent=("INJECTED", "run/metrics.zarr"),
    ),
    BadInput(
        "report-incomplete-store",
        "efa report on a metric store with a missing chunk",
        efa(
            "report",
            "--metrics",
            "metrics.zarr",
            "--output-dir",
            "report",
            setup=lambda w: incomplete_store(w / "metrics.zarr"),
        ),
        expect="incomplete test-metric store: energy_mae/c/0/0/0 is missing",
        absent=("report",),
    ),
    BadInput(
        "trainer-model-file-outside-run",
        "trainer: {model_file: '{run_dir}/../../old.pt'} (a file an older run left)",
        efa(
            *TRAIN,
            "--set",
            "calculator=ase.calculators.emt:EMT",
            "--set",
            'trainer={command: ["true"], model_file: "{run_dir}/../../old.pt"}',
        ),
        expect="trainer.model_file='{run_dir}/../../old.pt' lies outside the run directory",
        absent=("results/runs",),
    ),
    BadInput(
        "trainer-argument-not-encodable",
        "trainer: {command: [train, '\\udcff\\ud800']} (an unpaired surrogate)",
        efa(
            *TRAIN,
            "--set",
            "calculator=ase.calculators.emt:EMT",
            "--set",
            'trainer={command: [train, "x\\ud800"], model_file: m.pt}',
        ),
        expect="trainer.command[1]=",
        absent=("results/runs",),
    ),
    BadInput(
        "import-coincident-atoms",
        "efa data import of a frame with two atoms at one place",
        efa("data", "import", "frame.xyz", "--name", "f", setup=frame_file("0.74", "0.0")),
        expect="frame.xyz: structure 0: atoms 0 and 1 are 0 Å apart",
        absent=("datasets/f.zarr", "datasets/registry.user.yaml"),
    ),
    BadInput(
        "import-absurd-coordinate",
        "efa data import of a frame with a coordinate of 1e300 Å",
        efa("data", "import", "frame.xyz", "--name", "f", setup=frame_file("0.74", "1e300")),
        expect="frame.xyz: structure 0 has a coordinate of 1e+300 Å",
        absent=("datasets/f.zarr",),
    ),
    BadInput(
        "import-energy-not-a-number",
        "efa data import of a frame with energy=abc",
        efa("data", "import", "frame.xyz", "--name", "f", setup=frame_file("-1.0", "abc")),
        expect="frame.xyz: field 'energy': 'abc' in frame 0 (key 'energy'); expected one number",
        absent=("datasets/f.zarr",),
    ),
    BadInput(
        "import-empty-frame",
        "efa data import of a frame without atoms",
        efa(
            "data",
            "import",
            "frame.xyz",
            "--name",
            "f",
            setup=lambda w: (w / "frame.xyz").write_text("0\nProperties=species:S:1:pos:R:3\n"),
        ),
        expect="frame.xyz: frame 0 has no atoms",
        absent=("datasets/f.zarr",),
    ),
    BadInput(
        "predict-charge-not-an-integer",
        "efa predict of a frame with charge=one",
        efa(
            "predict",
            "--model",
            "ase.calculators.emt:EMT",
            "frame.xyz",
            "-o",
            "out.xyz",
            setup=frame_file("charge=0", "charge=one"),
        ),
        expect="frame.xyz: structure 0: total charge 'one'",
        absent=("out.xyz",),
    ),
    BadInput(
        "registry-url-local-file",
        "registry.user.yaml: source.files[0].url: file:///etc/passwd",
        user_entry(
            "build",
            source={"files": [{"name": "x.npz", "url": "file:///etc/passwd", "sha256": None}]},
        ),
        expect="source.files[0].url='file:///etc/passwd': expected an https:// or http://",
        absent=("datasets/raw/x.npz", "datasets/evil.zarr"),
    ),
    BadInput(
        "disk-full-during-store-write",
        "efa data build while every file may grow to 2,000 bytes only (a full disk)",
        efa_process("data", "build", "two_atoms", "--root", "datasets", file_size=2000),
        expect="datasets/two_atoms.zarr: cannot write: File too large; what was there is kept",
        absent=("datasets/two_atoms.zarr",),
        intact=("datasets/registry.yaml",),
    ),
    BadInput(
        "output-pipe-closed-early",
        "efa data list | (a reader that ends before efa writes)",
        efa_process("data", "list", read_output=False),
        expect="",  # nothing on standard error: no traceback, no 'Exception ignored'
    ),
    BadInput(
        "yaml-alias-bomb-efa",
        "efa train --config bomb.yaml (aliases of aliases: 9^10 values in 400 bytes)",
        efa(
            "train",
            "--config",
            "bomb.yaml",
            setup=lambda w: (w / "bomb.yaml").write_text(ALIAS_BOMB),
        ),
        expect="bomb.yaml: not valid yaml: its aliases expand to more than 1000000 values",
        absent=("results",),
    ),
    BadInput(
        "yaml-alias-bomb-workflow",
        "snakemake --configfile bomb.yaml",
        workflow_file(ALIAS_BOMB),
        expect="bad.yaml: its aliases expand to more than 1000000 values",
        absent=("results",),
    ),
]


def incomplete_store(path: Path) -> None:
    """A metric store written completely, then one chunk removed."""
    import xarray as xr

    from efa.storage import write_zarr

    store = xr.Dataset(
        {"energy_mae": (("experiment", "model", "seed"), np.ones((1, 1, 1)))},
        coords={"experiment": ["e"], "model": ["m"], "seed": [0]},
    )
    write_zarr(store, path)
    (path / "energy_mae" / "c" / "0" / "0" / "0").unlink()


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
    return (
        set((yaml.safe_load(path.read_text()) or {}).get("datasets", {}))
        if path.is_file()
        else set()
    )


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input(row: BadInput, workdir: Path):
    code, output = row.command(workdir)
    assert row.expect in output if row.expect else output == "", output
    assert (code != 0) == row.refused, f"exit code {code}:\n{output}"
    for path in row.intact:
        assert (workdir / path).exists(), f"{path} was removed"
    for path in row.absent:
        assert not (workdir / path).exists(), f"{path} was created"
    assert not set(row.unregistered) & registered(workdir / "datasets")
