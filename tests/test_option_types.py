"""The one type rule of model, probe and run options (efa.option_types.fits_type)."""

import math
from collections.abc import Mapping

import pytest

from efa.option_types import fits_type


@pytest.mark.parametrize(
    "value, hint, fits",
    [
        (3, int, True),
        (True, int, False),  # a bool is never an int
        (3.0, int, False),
        (3, float, True),  # a float option takes integers
        (2.5, float, True),
        (math.inf, float, False),
        (math.nan, float, False),
        (10**400, float, False),  # beyond the float range, not an OverflowError
        (False, bool, True),
        (0, bool, False),
        ("a", str, True),
        (None, None, True),
        (None, float | None, True),
        (1.5, float | None, True),
        ("x", float | None, False),
        ({"a": 1}, Mapping, True),
        ({"a": 1}, dict[str, int], True),
        (3, dict[str, int], False),
        ((1, 2.5), tuple[int, float], True),
        ((1, 2), tuple[int, int, int], False),
        ((1, 2, 3), tuple[int, ...], True),
        ((1, "2"), tuple[int, ...], False),
        ([1, 2], tuple[int, ...], False),
        (object(), list[int], True),  # not understood: the option's own check decides
    ],
)
def test_fits_type(value, hint, fits):
    assert fits_type(value, hint) is fits
