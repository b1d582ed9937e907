"""Lebedev grids and the quadrature bound."""

import math

import numpy as np
import pytest

from efa.errors import ConfigError
from efa.nn.quadrature import (
    SAFE_MAX_FREQUENCY,
    check_quadrature_bound,
    lebedev_grid,
    max_safe_frequency,
    smallest_safe_grid,
)


@pytest.mark.parametrize("size", sorted(SAFE_MAX_FREQUENCY))
def test_every_tabulated_grid_exists_and_integrates_j0_at_its_bound(x64, size):
    points, weights = lebedev_grid(size, np.float64)
    assert points.shape == (size, 3)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(float(weights.sum()), 1.0, atol=1e-12)
    direction = np.array([0.36, -0.48, 0.8])
    bound = SAFE_MAX_FREQUENCY[size]
    for phase in np.linspace(0.05, bound, 9):
        quadrature = float(np.sum(weights * np.cos(phase * points @ direction)))
        assert quadrature == pytest.approx(math.sin(phase) / phase, abs=1e-5)


def test_unknown_grid_size_is_rejected_with_the_nearest_size():
    with pytest.raises(ConfigError, match="lebedev_num=60.*50 points"):
        lebedev_grid(60)


def test_bound_lookup():
    assert max_safe_frequency(50) == pytest.approx(math.pi)
    assert max_safe_frequency(100) == pytest.approx(2 * math.pi)  # between 86 and 110
    assert max_safe_frequency(26) == 0.0
    assert smallest_safe_grid(4 * math.pi) == 194
    assert smallest_safe_grid(math.pi) == 50
    assert smallest_safe_grid(40 * math.pi) is None


def test_check_accepts_the_bound_itself():
    check_quadrature_bound(math.pi, 50)
    check_quadrature_bound(35 * math.pi, 5810)


def test_check_names_both_values_and_the_safe_grid():
    with pytest.raises(ConfigError) as error:
        check_quadrature_bound(4 * math.pi, 50)
    message = str(error.value)
    assert "max_frequency=12.5664" in message
    assert "lebedev_num=50" in message
    assert "194 points" in message


@pytest.mark.parametrize("value", [float("nan"), -1.0, float("inf")])
def test_check_rejects_non_finite_or_negative(value):
    with pytest.raises(ConfigError, match="max_frequency"):
        check_quadrature_bound(value, 50)


@pytest.mark.parametrize("size", [6, 50, 194, 5810])
def test_antipodal_half_grid_pairs_every_point_with_its_opposite(x64, size):
    from efa.nn.quadrature import antipodal_half_grid

    points, _ = lebedev_grid(size, np.float64)
    half, pair_weights = antipodal_half_grid(size, np.float64)
    assert half.shape == (size // 2, 3)
    np.testing.assert_allclose(float(pair_weights.sum()), 1.0, atol=1e-12)
    both = np.concatenate([np.asarray(half), -np.asarray(half)])
    order = np.lexsort(np.round(both, 9).T)
    expected = np.lexsort(np.round(np.asarray(points), 9).T)
    np.testing.assert_allclose(both[order], np.asarray(points)[expected], atol=1e-12)
