"""Structures no model can be asked about are refused by index where they enter: coincident
atoms, absurd coordinates, cells narrower than an atom, empty structures, charges that are not
integers; every structure within the bounds passes."""

import numpy as np
import pytest
from ase import Atoms
from hypothesis import given
from hypothesis import strategies as st

from efa.data.atoms import structures_from_atoms
from efa.data.geometry_bounds import (
    MAX_COORDINATE_A,
    MIN_CELL_WIDTH_A,
    MIN_DISTANCE_A,
    check_geometry,
)
from efa.data.schema import make_dataset
from efa.errors import DataError


def dataset(positions, cell=None, pbc=None):
    positions = np.asarray(positions, float)[None]
    count = positions.shape[1]
    return make_dataset(
        positions,
        np.ones(count, int),
        np.zeros(1),
        np.zeros_like(positions),
        cell=None if cell is None else np.asarray(cell, float)[None],
        pbc=None if pbc is None else np.asarray(pbc)[None],
        source="file.xyz",
    )


@pytest.mark.parametrize(
    "positions, cell, pbc, message",
    [
        ([[0, 0, 0], [0, 0, 0.05]], None, None, "structure 0: atoms 0 and 1 are 0.05 Å apart"),
        ([[0, 0, 0], [0, 0, 1e300]], None, None, "a coordinate of 1e+300 Å"),
        ([[0, 0, 0], [0, 0, 2 * MAX_COORDINATE_A]], None, None, "within 100000 Å"),
        (
            [[0, 0, 0]],
            np.eye(3) * 0.01,
            [True, True, True],
            "a periodic cell 0.01 Å wide",
        ),
        # a sheared cell: long vectors, but only 0.1 Å between its lattice planes
        (
            [[0, 0, 0]],
            [[5, 0, 0], [5, 0.1, 0], [0, 0, 5]],
            [True, True, True],
            "a periodic cell 0.1 Å wide",
        ),
        ([[0, 0, 0]], [[0.2, 0, 0], [0, 0, 0], [0, 0, 0]], [True, False, False], "0.2 Å wide"),
    ],
)
def test_absurd_geometry_is_refused_by_file_and_structure(positions, cell, pbc, message):
    with pytest.raises(DataError, match="^file.xyz: .*" + message.replace("+", r"\+")):
        dataset(positions, cell, pbc)


def test_geometry_at_the_bounds_passes():
    dataset([[0, 0, 0], [0, 0, MIN_DISTANCE_A * 1.01]])
    dataset([[0, 0, 0]], np.eye(3) * MIN_CELL_WIDTH_A * 1.01, [True, True, True])
    dataset([[MAX_COORDINATE_A, 0, 0], [0, 0, 0]])
    # a slab: periodic in two directions, any third vector
    dataset([[0, 0, 0]], [[3, 0, 0], [0, 3, 0], [0, 0, 0]], [True, True, False])


def test_predictions_refuse_what_imports_refuse():
    frames = [
        Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]),
        Atoms("H2", positions=[[0] * 3] * 2),
    ]
    with pytest.raises(DataError, match="in.xyz: structure 1: atoms 0 and 1 are 0 Å apart"):
        structures_from_atoms(frames, source="in.xyz")
    for charge, accepted in [(2, True), ("-1", True), (1.0, True), (0.5, False), ("one", False)]:
        atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], info={"charge": charge})
        if accepted:
            assert structures_from_atoms([atoms]).total_charge[0] == int(float(charge))
        else:
            with pytest.raises(DataError, match="expected an integer charge"):
                structures_from_atoms([atoms], source="in.xyz")
    with pytest.raises(DataError, match="structure 0 has no atoms"):
        check_geometry(np.zeros((1, 2, 3)), np.zeros((1, 2), bool))


@given(
    st.lists(
        st.tuples(*[st.floats(-50, 50, allow_nan=False)] * 3), min_size=1, max_size=12, unique=True
    )
)
def test_the_distance_bound_is_exactly_the_closest_pair(points):
    """check_geometry refuses a structure if and only if its closest pair is nearer than the
    bound (brute force over every pair as the oracle)."""
    positions = np.asarray(points)[None]
    mask = np.ones(positions.shape[:2], bool)
    distances = [
        np.linalg.norm(positions[0, i] - positions[0, j])
        for i in range(len(points))
        for j in range(i)
    ]
    too_close = bool(distances) and min(distances) < MIN_DISTANCE_A
    try:
        check_geometry(positions, mask)
        refused = False
    except DataError:
        refused = True
    assert refused == too_close
