"""Clebsch–Gordan coefficients in float64 for coupling tables built once and cached."""

from __future__ import annotations

import e3x
import jax
import numpy as np


def clebsch_gordan(max_degree1: int, max_degree2: int, max_degree3: int) -> np.ndarray:
    """e3x's real Clebsch–Gordan coefficients ``C[(l₁+1)², (l₂+1)², (l₃+1)²]`` as float64 numpy.

    Computed with 64-bit floats enabled whatever the caller's JAX precision, so a table cached at
    its first use serves float32 and float64 models alike (cast to the model's dtype on use).
    """
    with jax.enable_x64(True):
        return np.asarray(
            e3x.so3.clebsch_gordan(
                max_degree1, max_degree2, max_degree3, cartesian_order=e3x.Config.cartesian_order
            ),
            dtype=np.float64,
        )
