"""A fuzzer for the readers: hypothesis generates malformed inputs, and each reader must either
give a correct result or refuse with a one-line :class:`~efa.errors.EfaError` naming the file,
field or option; never another exception (a traceback for the user).

Inputs: extended XYZ frames with fields replaced by other tokens (read, and predicted by
``efa predict``), npz files with arrays of other shapes and types, zip and tar archives with
flipped bytes or cut short, ``ase.Atoms`` for the calculator (empty, coincident, non-finite,
tiny cells, unknown elements, odd charges), run configurations and trainer specifications with
values of other types, data set registries, splits files, YAML texts. The default run tries a
short profile of each (:data:`SHORT`); ``pytest -m extended`` the long one (:data:`LONG`).
"""

from __future__ import annotations

import contextlib
import io
import json
import string
import tarfile
import tempfile
import zipfile
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from efa.bounded_yaml import load_yaml
from efa.cli.main import main
from efa.data.fetch import extract_archive
from efa.data.readers import read_extxyz, read_npz
from efa.data.registry import Registry
from efa.data.splits import load_splits
from efa.errors import EfaError
from efa.predictors.ase_calculator import PredictorCalculator
from efa.predictors.calculator import calculator_predictor
from efa.runs.config import config_from_mapping
from efa.runs.trainer_spec import check_trainer
from efa.workflow.config import check_schema

SHORT = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))

#: Tokens a hostile or broken file puts where a number belongs.
TOKENS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e300", "-1e309", "0", "", "abc", "1 2 3", "T", "[1]"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.text(string.printable, max_size=6),
)
#: Values of any type, for configuration keys.
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def refuses_cleanly(call) -> object:
    """``call()``'s result, or None where it raised an EfaError with a one-line message naming
    something; any other exception fails the test."""
    try:
        return call()
    except EfaError as error:
        message = str(error)
        assert message and "\n" not in message.split(";")[0], message
        return None


def extxyz_frame(count, species, positions, energy, charge, pbc):
    """One extended XYZ frame, its fields as given (strings, not checked)."""
    header = f'Properties=species:S:1:pos:R:3 energy={energy} charge={charge} pbc="{pbc}"'
    lines = [f"{symbol} {x} {y} {z}" for symbol, (x, y, z) in zip(species, positions)]
    return "\n".join([str(count), header, *lines]) + "\n"


frames = st.builds(
    extxyz_frame,
    count=st.integers(0, 4).map(str) | TOKENS,
    species=st.lists(st.sampled_from(["H", "He", "C", "X", "Zz", "1", ""]), min_size=0, max_size=4),
    positions=st.lists(st.tuples(TOKENS, TOKENS, TOKENS), min_size=4, max_size=4),
    energy=TOKENS,
    charge=TOKENS,
    pbc=st.sampled_from(["F F F", "T T T", "T F", "x y z"]),
)


def _check_extxyz(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "frames.xyz"
        path.write_text(text)
        dataset = refuses_cleanly(lambda: read_extxyz(path, charge_key="charge"))
        if dataset is not None:  # a result is a valid data set of finite values
            assert np.isfinite(dataset["positions"].values).all()
            assert np.isfinite(dataset["energy"].values).all()


def _check_npz(arrays):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "arrays.npz"
        np.savez(path, **arrays)
        keys = {"positions": "R", "atomic_numbers": "Z", "energy": "E", "forces": "F"}
        refuses_cleanly(lambda: read_npz(path, keys))


npz_arrays = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(
            st.just(np.zeros((2, 3, 3))),
            st.just(np.ones((2, 3), dtype=np.int64)),
            st.just(np.array([1.0, np.nan])),
            st.just(np.array(["a", "b"])),
            st.just(np.zeros(0)),
            st.just(np.full((2, 3, 3), 1e300)),
            st.integers(-5, 200).map(lambda z: np.full((2, 3), z)),
        )
        for name in ("R", "Z", "E", "F")
    },
)

config_keys = st.sampled_from(
    [
        "model",
        "dataset",
        "splits",
        "batch_size",
        "max_steps",
        "learning_rate",
        "seed",
        "max_time_s",
        "model_options",
        "trainer",
        "calculator",
        "loss_weights",
        "unknown_key",
    ]
)
configs = st.dictionaries(config_keys, ANY_VALUE, max_size=5)
trainers = st.fixed_dictionaries(
    {},
    optional={
        "command": st.lists(st.text(max_size=6) | st.integers() | st.booleans(), max_size=3)
        | ANY_VALUE,
        "model_file": st.text(max_size=12) | ANY_VALUE,
        "extra": ANY_VALUE,
    },
)
registries = st.fixed_dictionaries(
    {"datasets": st.dictionaries(st.text(max_size=6), ANY_VALUE, max_size=3) | ANY_VALUE}
)


def _check_splits_file(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "splits.json"
        path.write_text(content)
        refuses_cleanly(lambda: load_splits(path))


split_files = st.one_of(
    st.text(max_size=20),
    st.dictionaries(st.text(max_size=5), ANY_VALUE, max_size=3).map(json.dumps),
)
yaml_texts = st.one_of(
    st.text(max_size=40),
    ANY_VALUE.map(lambda value: yaml.safe_dump(value)),
    st.lists(st.sampled_from(["a: &a [1, 2]", "b: *a", "c: [*a, *a]", "- x", "{", "&", "*z"])).map(
        "\n".join
    ),
)


def _check_yaml(text):
    try:
        load_yaml(text)
    except yaml.YAMLError:
        pass  # every reader turns this into a message naming its file


def cleanly(reader):
    """A check: ``reader(data)`` gives a result or refuses by name (:func:`refuses_cleanly`)."""

    def check(data) -> None:
        refuses_cleanly(lambda: reader(data))

    return check


def _archive(kind: str) -> bytes:
    """A good archive of ``kind`` (zip or tar.gz) holding one small npz file and a folder."""
    buffer = io.BytesIO()
    member = io.BytesIO()
    np.savez(member, R=np.zeros((1, 2, 3)), Z=np.array([1, 1]))
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr("inner/data.npz", member.getvalue())
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
            info = tarfile.TarInfo("inner/data.npz")
            info.size = len(member.getvalue())
            bundle.addfile(info, io.BytesIO(member.getvalue()))
    return buffer.getvalue()


def _damaged(good: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(good[: max(1, len(good) - cut)])
    for position, value in flips:
        data[position % len(data)] ^= value
    return bytes(data)


archives = st.builds(
    _damaged,
    st.sampled_from(["zip", "tar"]).map(_archive),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4),
    st.integers(0, 64) | st.just(0),
) | st.binary(max_size=300)


def _check_archive(data):
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "bundle.zip"
        archive.write_bytes(data)
        destination = Path(folder) / "bundle"
        if refuses_cleanly(lambda: extract_archive(archive, destination)) is None:
            assert not destination.exists()  # nothing half-unpacked
            assert [p.name for p in Path(folder).iterdir()] == ["bundle.zip"]


def _check_predict(text):
    """``efa predict`` of the frames with an ASE calculator (EMT): a file of finite energies
    and forces, one per frame read, or a one-line error and no output file."""
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / "frames.xyz", Path(folder) / "out.xyz"
        source.write_text(text)
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            code = main(["predict", "--model", EMT, str(source), "-o", str(output)])
        if code != 0:
            message = errors.getvalue()
            assert code == 2 and message.startswith("efa: error: "), message
            assert message.count("\n") == 1 and "Traceback" not in message, message
            assert not output.exists(), "a refused prediction left an output"
            return
        for atoms in ase.io.read(output, index=":"):
            assert np.isfinite(atoms.get_potential_energy())
            assert np.isfinite(atoms.get_forces()).all()


EMT = "ase.calculators.emt:EMT"
ELEMENTS_OF_EMT = ["H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"]
COORDINATES = st.floats(-6, 6) | st.sampled_from([np.nan, np.inf, 1e300, 0.0])
structures_for_calculator = st.builds(
    dict,
    symbols=st.lists(st.sampled_from(ELEMENTS_OF_EMT + ["He", "X"]), min_size=0, max_size=4),
    positions=st.lists(st.tuples(COORDINATES, COORDINATES, COORDINATES), min_size=4, max_size=4),
    cell=st.sampled_from([None, 8.0, 0.01, 0.0]),
    pbc=st.sampled_from([False, True, (True, False, False)]),
    charge=st.sampled_from([0, 1, -2, 0.5, "1", None]),
)


def _check_calculator(spec):
    """:class:`~efa.predictors.ase_calculator.PredictorCalculator` (the calculator of
    ``EFACalculator``) over an EMT predictor: finite energy and forces of the right shape, or a
    one-line refusal naming the structure or setting."""
    symbols = spec["symbols"]
    atoms = ase.Atoms(
        symbols,
        positions=spec["positions"][: len(symbols)],
        cell=None if spec["cell"] is None else np.eye(3) * spec["cell"],
        pbc=spec["pbc"],
    )
    if spec["charge"] is not None:
        atoms.info["charge"] = spec["charge"]
    atoms.calc = PredictorCalculator(calculator_predictor("emt", EMT))

    def energy_and_forces():
        return atoms.get_potential_energy(), atoms.get_forces()

    result = refuses_cleanly(energy_and_forces)
    if result is not None:
        energy, forces = result
        assert np.isfinite(energy) and forces.shape == (len(atoms), 3)
        assert np.isfinite(forces).all()


WORKFLOW_SCHEMA = Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml"
workflow_configurations = (
    st.dictionaries(
        st.sampled_from(["datasets", "experiments", "train", "report", "results_root", "typo"]),
        ANY_VALUE,
        max_size=4,
    )
    | ANY_VALUE
)

CHECKS = {
    "archive": (archives, _check_archive),
    "workflow-schema": (
        workflow_configurations,
        cleanly(lambda config: check_schema(config, WORKFLOW_SCHEMA, "fuzz.yaml")),
    ),
    "predict": (frames, _check_predict),
    "calculator": (structures_for_calculator, _check_calculator),
    "extxyz": (frames, _check_extxyz),
    "npz": (npz_arrays, _check_npz),
    "run-configuration": (configs, cleanly(config_from_mapping)),
    "trainer": (trainers, cleanly(check_trainer)),
    "registry": (registries, cleanly(Registry.from_mapping)),
    "splits-file": (split_files, _check_splits_file),
    "yaml": (yaml_texts, _check_yaml),
}


@pytest.mark.parametrize("reader", sorted(CHECKS))
def test_readers_refuse_malformed_input_by_name(reader):
    strategy, check = CHECKS[reader]
    SHORT(given(strategy)(check))()


@pytest.mark.extended
@pytest.mark.parametrize("reader", sorted(CHECKS))
def test_readers_refuse_malformed_input_by_name_long(reader):
    strategy, check = CHECKS[reader]
    examples = []

    def counted(data):
        examples.append(1)
        check(data)

    LONG(given(strategy)(counted))()
    print(f"fuzz {reader}: {len(examples)} examples, none failed")  # shown with pytest -s
