"""Checkpoint files: a step written by a killed earlier attempt is replaced, not an error."""

import numpy as np

from efa.train import checkpoints


def test_saving_an_existing_step_replaces_it(tmp_path):
    checkpoints.save(tmp_path, 300, {"a": np.ones(3)}, {"attempt": 1})
    checkpoints.save(tmp_path, 300, {"a": np.zeros(3)}, {"attempt": 2})
    tree, metadata = checkpoints.restore(tmp_path, {"a": np.ones(3)})
    np.testing.assert_array_equal(tree["a"], np.zeros(3))
    assert metadata == {"attempt": 2}
    assert checkpoints.latest_step(tmp_path) == 300
