"""Shared test fixtures."""

import jax
import pytest


@pytest.fixture
def x64():
    """Run the test body with 64-bit floats enabled (symmetry and oracle checks)."""
    with jax.enable_x64(True):
        yield
