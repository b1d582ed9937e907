"""Sine and cosine of one argument together, vectorisable on CPUs.

A large part of EFA's cost at small and medium sizes is ``cos`` and ``sin`` of the ERoPE phases
``ω_k u_m·r_i``. XLA's CPU backend does not vectorise ``jnp.sin``/``jnp.cos``, so for float32
:func:`sincos` evaluates both from one range reduction and two short polynomials, which XLA
fuses into one vectorised loop (``efa bench attention`` measures the operator that uses it).

Math (float32). With ``n = round(2x/π)`` and ``r = x − n·π/2`` (``|r| ≤ π/4``; ``π/2`` split
into three float32 parts so that ``n·c₁`` is exact, Cody–Waite reduction),

    sin r ≈ Σ_{j=0}^{4} (−1)^j r^{2j+1} / (2j+1)!,    cos r ≈ Σ_{j=0}^{5} (−1)^j r^{2j} / (2j)!,

whose truncation errors on ``|r| ≤ π/4`` are below ``(π/4)^{11}/11! < 2·10⁻⁹`` and
``(π/4)^{12}/12! < 2·10⁻¹⁰``, under float32 rounding. The quadrant ``n mod 4`` maps
``(sin r, cos r)`` to ``(sin x, cos x)``. Derivatives are exact identities
(``d sin = cos dx``, ``d cos = −sin dx``), so gradients of any order reuse the same pair.
Other dtypes (float64) use ``jnp.sin`` and ``jnp.cos``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

#: π/2 = C1 + C2 + C3 in float32; C1 = 201/128 has 8 significant bits, so n·C1 is exact for
#: |n| < 2¹⁶ (|x| < 10⁵).
_C1 = np.float32(201 / 128)
_C2 = np.float32(math.pi / 2 - float(_C1))
_C3 = np.float32(math.pi / 2 - float(_C1) - float(_C2))
#: Taylor coefficients (−1)^j / (2j+1)! and (−1)^j / (2j)!, highest power first (Horner).
_SIN = tuple(np.float32((-1) ** j / math.factorial(2 * j + 1)) for j in range(4, -1, -1))
_COS = tuple(np.float32((-1) ** j / math.factorial(2 * j)) for j in range(5, -1, -1))


def _horner(coefficients, x):
    total = jnp.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        total = total * x + c
    return total


@jax.custom_jvp
def sincos(x: Float[Array, "*shape"]) -> tuple[Float[Array, "*shape"], Float[Array, "*shape"]]:
    """``(sin x, cos x)`` elementwise; float32 by the reduced polynomials of the module doc."""
    if x.dtype != jnp.float32:
        return jnp.sin(x), jnp.cos(x)
    n = jnp.round(x * np.float32(2 / math.pi))
    r = ((x - n * _C1) - n * _C2) - n * _C3
    r2 = r * r
    sin_r = r * _horner(_SIN, r2)
    cos_r = _horner(_COS, r2)
    quadrant = n.astype(jnp.int32) & 3
    swap = (quadrant & 1) == 1
    sine = jnp.where(swap, cos_r, sin_r)
    cosine = jnp.where(swap, sin_r, cos_r)
    sine = jnp.where(quadrant >= 2, -sine, sine)
    cosine = jnp.where((quadrant == 1) | (quadrant == 2), -cosine, cosine)
    return sine, cosine


@sincos.defjvp
def _sincos_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    sine, cosine = sincos(x)
    return (sine, cosine), (cosine * dx, -sine * dx)
