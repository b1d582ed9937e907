"""Lebedev grids for EFA and the bound that keeps their quadrature exact enough.

EFA integrates ``cos(ω u·d)`` over the unit sphere with a Lebedev rule ``{u_m, w_m}``. For a
grid that is symmetric under ``u → −u`` the exact integral is the spherical Bessel function
``j0(ω|d|)``; the rule reproduces it (and hence rotational invariance) only while the largest
phase ``ω_max · r`` stays below a bound that grows with the number of grid points. The table
below is the one used by the reference implementation of the paper (docs/science.md): it maps the
number of Lebedev points to the largest safe ``b_max = ω_max · r_max``.
"""

from __future__ import annotations

import functools
import math

import e3x
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from efa.errors import ConfigError

#: Lebedev grid size → largest safe ``max_frequency`` (``b_max``, dimensionless).
#: 5810 is the largest grid e3x ships (the paper's code asks e3x for "6000" and receives it).
SAFE_MAX_FREQUENCY: dict[int, float] = {
    50: math.pi,
    86: 2.0 * math.pi,
    110: 2.5 * math.pi,
    146: 3.0 * math.pi,
    194: 4.0 * math.pi,
    230: 4.5 * math.pi,
    266: 5.0 * math.pi,
    302: 5.5 * math.pi,
    350: 6.5 * math.pi,
    434: 7.5 * math.pi,
    590: 9.0 * math.pi,
    770: 11.0 * math.pi,
    974: 12.5 * math.pi,
    5810: 35.0 * math.pi,
}

# Relative slack so that b_max = π with 50 points, written as 3.14159265..., is accepted.
_BOUND_RTOL = 1e-9


def lebedev_grid(
    lebedev_num: int, dtype=jnp.float32
) -> tuple[Float[Array, "M 3"], Float[Array, " M"]]:
    """Return the Lebedev grid with exactly ``lebedev_num`` points and weights summing to 1.

    Args:
      lebedev_num: number of grid points ``M``; must be the size of a grid that e3x ships
        (6, 14, 26, 38, 50, 74, 86, 110, 146, 170, 194, …, 5810).
      dtype: floating point type of the returned arrays.

    Returns:
      ``(points, weights)`` with ``points`` of shape ``(M, 3)`` (unit vectors) and ``weights``
      of shape ``(M,)``.

    Raises:
      ConfigError: if e3x has no grid of exactly that size.
    """
    with jax.ensure_compile_time_eval():  # a constant, also when called under jit
        points, weights = e3x.so3.lebedev_quadrature(num=int(lebedev_num))
        points, weights = jnp.asarray(points, dtype=dtype), jnp.asarray(weights, dtype=dtype)
    if points.shape[0] != lebedev_num:
        raise ConfigError(
            f"lebedev_num={lebedev_num}: there is no Lebedev grid with exactly that many points; "
            f"the largest grid with fewer points has {points.shape[0]} points "
            f"(grids with a tabulated quadrature bound: {sorted(SAFE_MAX_FREQUENCY)})",
            key="lebedev_num",
        )
    return points, weights


def antipodal_half_grid(
    lebedev_num: int, dtype=jnp.float32
) -> tuple[Float[Array, "M/2 3"], Float[Array, " M/2"]]:
    """One point of every antipodal pair ``(u, −u)`` of the Lebedev grid, with weight ``2 w``.

    Lebedev grids have octahedral symmetry, which includes inversion, so every point ``u`` has a
    partner ``−u`` of equal weight. EFA uses this to halve its trigonometric work: ``cos`` is even
    and ``sin`` is odd in ``u``.

    Returns:
      ``(points, weights)`` of shapes ``(M/2, 3)`` and ``(M/2,)``; weights sum to 1.

    Raises:
      ConfigError: if the grid is not centrally symmetric (never for e3x's Lebedev grids).
    """
    points, weights = (np.asarray(a) for a in lebedev_grid(lebedev_num, dtype))
    keep = _first_of_antipodal_pairs(lebedev_num, points.dtype.name)
    return jnp.asarray(points[keep], dtype), jnp.asarray(2.0 * weights[keep], dtype)


@functools.cache
def _first_of_antipodal_pairs(lebedev_num: int, dtype_name: str) -> np.ndarray:
    """Indices ``i`` of the grid whose partner ``−u_i`` comes later; checks the symmetry once.

    Points are matched by their coordinates rounded to 1e-6 (``+ 0.0`` merges ``−0.0`` and
    ``0.0``), in O(M) instead of an O(M²) distance matrix.
    """
    points, weights = (np.asarray(a) for a in lebedev_grid(lebedev_num, np.dtype(dtype_name)))
    index = {tuple(np.round(point, 6) + 0.0): i for i, point in enumerate(points)}
    partner = np.array([index.get(tuple(np.round(-point, 6) + 0.0), -1) for point in points])
    own = np.arange(lebedev_num)
    if (
        np.any(partner < 0)
        or np.any(partner == own)
        or not np.allclose(weights, weights[partner], rtol=1e-5, atol=0)
    ):
        raise ConfigError(
            f"lebedev_num={lebedev_num}: grid is not centrally symmetric", key="lebedev_num"
        )
    return own[own < partner]


def max_safe_frequency(lebedev_num: int) -> float:
    """Largest ``max_frequency`` (``b_max``) a grid of ``lebedev_num`` points integrates safely.

    Grids between tabulated sizes get the bound of the largest tabulated grid below them.
    Grids smaller than 50 points have no tabulated bound and return 0.
    """
    safe = [bound for size, bound in SAFE_MAX_FREQUENCY.items() if size <= lebedev_num]
    return max(safe, default=0.0)


def smallest_safe_grid(max_frequency: float) -> int | None:
    """Smallest tabulated Lebedev grid whose bound admits ``max_frequency`` (None if none does)."""
    for size in sorted(SAFE_MAX_FREQUENCY):
        if max_frequency <= SAFE_MAX_FREQUENCY[size] * (1.0 + _BOUND_RTOL):
            return size
    return None


def check_quadrature_bound(max_frequency: float, lebedev_num: int) -> None:
    """Raise ``ConfigError`` if ``max_frequency`` exceeds the safe bound of the grid.

    ``max_frequency`` is ``b_max = ω_max · r_max``. The check assumes that ``r_max``
    (``max_length``) is at least the largest pair distance in the data; that part is a property
    of the data and cannot be checked here.
    """
    if not np.isfinite(max_frequency) or max_frequency < 0:
        raise ConfigError(
            f"max_frequency={max_frequency!r}: expected a finite value >= 0", key="max_frequency"
        )
    if lebedev_num not in SAFE_MAX_FREQUENCY:
        raise ConfigError(
            f"lebedev_num={lebedev_num!r}: expected the size of a Lebedev grid "
            f"with a tabulated quadrature bound, one of {sorted(SAFE_MAX_FREQUENCY)}",
            key="lebedev_num",
        )
    bound = max_safe_frequency(lebedev_num)
    if max_frequency <= bound * (1.0 + _BOUND_RTOL):
        return
    needed = smallest_safe_grid(max_frequency)
    advice = (
        f"the smallest Lebedev grid that integrates it safely has {needed} points"
        if needed is not None
        else f"no tabulated grid is safe for it (the largest, 5810 points, allows "
        f"{SAFE_MAX_FREQUENCY[5810] / math.pi:g}π)"
    )
    raise ConfigError(
        f"max_frequency={max_frequency:.6g} ({max_frequency / math.pi:.4g}π) exceeds the "
        f"quadrature bound {bound:.6g} ({bound / math.pi:.4g}π) of lebedev_num={lebedev_num}; "
        f"{advice}. Outside the bound EFA is no longer rotationally invariant. "
        "Use a larger grid, lower max_frequency, or pass "
        "unsafe_ignore_quadrature_bound=True if you know what you are doing.",
        key="max_frequency",
    )
