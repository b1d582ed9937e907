"""A fuzzer for the readers: hypothesis generates malformed inputs, and each reader must either
give a correct result or refuse with a one-line :class:`~efa.errors.EfaError` naming the file,
field or option; never another exception (a traceback for the user).

Inputs: extended XYZ frames with fields replaced by other tokens, npz files with arrays of other
shapes and types, run configurations and trainer specifications with values of other types,
data set registries, splits files, YAML texts. The default run tries a short profile of each
(:data:`SHORT`); ``pytest -m extended`` the long one (:data:`LONG`).
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from efa.bounded_yaml import load_yaml
from efa.data.readers import read_extxyz, read_npz
from efa.data.registry import Registry
from efa.data.splits import load_splits
from efa.errors import EfaError
from efa.runs.config import config_from_mapping
from efa.runs.trainer_spec import check_trainer

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


CHECKS = {
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
    LONG(given(strategy)(check))()
