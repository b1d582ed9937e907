"""Checkpoint files: a step written by a killed earlier attempt is replaced, not an error; an
unreadable newest checkpoint falls back to the one before."""

import numpy as np
import pytest

from efa.errors import EfaError
from efa.train import checkpoints


def test_saving_an_existing_step_replaces_it(tmp_path):
    checkpoints.save(tmp_path, 300, {"a": np.ones(3)}, {"attempt": 1})
    checkpoints.save(tmp_path, 300, {"a": np.zeros(3)}, {"attempt": 2})
    tree, metadata = checkpoints.restore(tmp_path, {"a": np.ones(3)})
    np.testing.assert_array_equal(tree["a"], np.zeros(3))
    assert metadata == {"attempt": 2}
    assert checkpoints.latest_step(tmp_path) == 300


def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    for step in (100, 200, 300):
        checkpoints.save(tmp_path, step, {"a": np.full(3, float(step))}, {"step": step})
    assert sorted(int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()) == [200, 300]
    for item in (tmp_path / "300").rglob("*"):  # damage every file of the newest step
        if item.is_file():
            item.write_bytes(b"\0garbage")
    with pytest.warns(RuntimeWarning, match="checkpoint step 300: .*restored step 200 instead"):
        tree, metadata = checkpoints.restore(tmp_path, {"a": np.ones(3)})
    np.testing.assert_array_equal(tree["a"], np.full(3, 200.0))
    assert metadata == {"step": 200}
    for item in (tmp_path / "200").rglob("*"):
        if item.is_file():
            item.write_bytes(b"\0garbage")
    with pytest.raises(EfaError, match="no readable checkpoint .*step 300.*step 200"):
        checkpoints.restore(tmp_path, {"a": np.ones(3)})
