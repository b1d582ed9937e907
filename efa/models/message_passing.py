"""Equivariant message passing with filters that factor into a radial and an angular part.

The messages are those of e3x's ``MessagePass`` (same function, same parameters and parameter
names, so runs and checkpoints stay interchangeable), evaluated with less work. For a pair
``(i, j)`` with displacement ``r = r_j − r_i``, e3x forms the filter
``f_{lm}(r) = Σ_k B_{klm}(r) W_{l,k}`` from the basis ``B_{klm} = R_k(|r|) Y_{lm}(r̂)`` and
couples it with the neighbour's features through a learned, Clebsch–Gordan-weighted tensor
product:

    m_i[r, n] = Σ_j Σ_{l,m,q} C_{l m n} K[deg l, q, deg m, r, deg n] f_l(r_ij) x_j[q, m]

(``q``, ``r``: parity channels; ``K`` has one weight per channel for each allowed path). Since
the basis is a product, ``f_l = Y_l(r̂) ρ_{deg l}(|r|)`` with the radial filter
``ρ_a = R W_a`` (one ``K × F`` matrix per degree ``a`` instead of one per component). The sum
runs only over the nonzero Clebsch–Gordan coefficients of the paths that parity allows
(:func:`coupling_paths`), as a few elementwise products of ``(pairs, F)`` arrays that XLA fuses
into one loop, where e3x contracts dense ``(L+1)² × (L+1)² × (L+1)²`` tensors per channel.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import e3x
import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from efa.nn.so3 import clebsch_gordan

#: Smallest Clebsch–Gordan coefficient counted as nonzero (they are O(1) where they are not 0).
_ZERO = 1e-12


class CouplingPath(NamedTuple):
    """One learned path ``(a, q, b) → (r, c)`` of the tensor product and its nonzero terms.

    Attributes:
      kernel_index: ``(0, a, q, b, r, c)``, the path's weights in the tensor kernel.
      terms: for each output component ``n`` of degree ``c``, the tuple of ``(k, m, C_kmn)``
        (filter component ``k`` of degree ``a``, feature component ``m`` of degree ``b``,
        ``C_kmn ≠ 0``).
    """

    kernel_index: tuple[int, int, int, int, int, int]
    terms: tuple[tuple[int, tuple[tuple[int, int, float], ...]], ...]


def _channels(num_parity: int, degree: int) -> list[tuple[int, int]]:
    """``(channel, parity)`` of degree ``degree`` in e3x's layout: with one channel the parity
    of degree ``l`` is ``l mod 2``; with two, channel 0 is even and channel 1 odd."""
    return [(0, degree % 2)] if num_parity == 1 else [(0, 0), (1, 1)]


@functools.lru_cache(maxsize=None)
def coupling_paths(
    max_degree1: int, max_degree2: int, num_parity2: int, max_degree3: int, num_parity3: int
) -> tuple[CouplingPath, ...]:
    """The allowed paths of the tensor product of a filter (one parity channel, degrees up to
    ``max_degree1``) with features (``num_parity2`` channels, degrees up to ``max_degree2``)
    into ``num_parity3`` channels of degrees up to ``max_degree3``.

    A path is allowed when the parities multiply (``p₃ = p₁ p₂``) and the degrees satisfy the
    triangle rule; its terms are the nonzero Clebsch–Gordan coefficients ``C_lmn`` (e3x's real
    coefficients in its component order, computed in float64)."""
    cg = clebsch_gordan(max_degree1, max_degree2, max_degree3)
    paths = []
    for a, b, c in itertools.product(
        range(max_degree1 + 1), range(max_degree2 + 1), range(max_degree3 + 1)
    ):
        for (q, parity2), (r, parity3) in itertools.product(
            _channels(num_parity2, b), _channels(num_parity3, c)
        ):
            if parity3 != (a % 2) ^ parity2:
                continue
            terms = []
            for n in range(c**2, (c + 1) ** 2):
                found = tuple(
                    (k, m, float(cg[k, m, n]))
                    for k in range(a**2, (a + 1) ** 2)
                    for m in range(b**2, (b + 1) ** 2)
                    if abs(cg[k, m, n]) > _ZERO
                )
                if found:
                    terms.append((n, found))
            if terms:
                paths.append(CouplingPath((0, a, q, b, r, c), tuple(terms)))
    return tuple(paths)


class RadialFilter(nn.Module):
    """``ρ_a = R W_a`` for every degree ``a ≤ max_degree``: ``(C, K)`` radial features to
    ``max_degree + 1`` arrays ``(C, F)`` (the parameters of e3x's ``Dense`` on the basis, named
    ``"0+"``, ``"1-"``, …, without bias)."""

    features: int
    max_degree: int

    @nn.compact
    def __call__(self, radial: Float[Array, "C K"]) -> list[Float[Array, "C F"]]:
        return [
            nn.Dense(
                self.features,
                use_bias=False,
                kernel_init=jax.nn.initializers.lecun_normal(),
                name=f"{a}{'+-'[a % 2]}",
            )(radial)
            for a in range(self.max_degree + 1)
        ]


class MessagePass(nn.Module):
    """``m_i = Σ_{(i, j) ∈ pairs} T(Y(r̂_ij) ρ(|r_ij|), x_j)`` (module docstring), summed into
    ``num_segments`` atoms. Parameters: ``filter`` (:class:`RadialFilter`) and
    ``tensor/kernel`` of shape ``(1, L_Y + 1, P_x, L_x + 1, P_out, L_out + 1, F)``, as in e3x.

    Attributes:
      max_degree: ``L_out`` of the messages.
      include_pseudotensors: two parity channels in the output (e3x's rule: not when filter
        and features have one channel and one of the three degrees is 0).
    """

    max_degree: int
    include_pseudotensors: bool = False

    @nn.compact
    def __call__(
        self,
        x: Float[Array, "N Px Sx F"],
        radial: Float[Array, "C K"],
        harmonics: Float[Array, "C SY"],
        dst: Int[Array, " C"],
        src: Int[Array, " C"],
        num_segments: int,
    ) -> Float[Array, "N Pout Sout F"]:
        features = x.shape[-1]
        degree_y = math.isqrt(harmonics.shape[-1]) - 1
        degree_x = math.isqrt(x.shape[-2]) - 1
        parity_x = x.shape[-3]
        parity_out = 2 if self.include_pseudotensors else 1
        if parity_x == 1 and 0 in (degree_y, degree_x, self.max_degree):
            parity_out = 1
        rho = RadialFilter(features, degree_y, name="filter")(radial)
        shape = (1, degree_y + 1, parity_x, degree_x + 1, parity_out, self.max_degree + 1)
        kernel = _TensorKernel(shape + (features,), name="tensor")()
        # Every array per pair is (C, F): one feature component of the neighbours gathered on
        # its own, one message component summed on its own, so no (C, P, S, F) array (and no
        # change of layout of one) is formed.
        neighbours = {}
        out = {}
        for path in coupling_paths(degree_y, degree_x, parity_x, self.max_degree, parity_out):
            _, a, q, _, r, _ = path.kernel_index
            weighted = rho[a] * kernel[path.kernel_index]  # (C, F)
            for n, terms in path.terms:
                coupled = 0.0
                for k, m, coefficient in terms:
                    if (q, m) not in neighbours:
                        neighbours[q, m] = x[:, q, m][src]
                    coupled = coupled + coefficient * harmonics[:, k, None] * neighbours[q, m]
                out[r, n] = out.get((r, n), 0.0) + weighted * coupled
        zeros = jnp.zeros((num_segments, features), rho[0].dtype)
        summed = {
            key: jax.ops.segment_sum(value, dst, num_segments=num_segments)
            for key, value in out.items()
        }
        return jnp.stack(
            [
                jnp.stack([summed.get((r, n), zeros) for n in range((self.max_degree + 1) ** 2)], 1)
                for r in range(parity_out)
            ],
            axis=1,
        )  # (N, Pout, Sout, F)


class _TensorKernel(nn.Module):
    """The tensor product's weights (e3x's ``tensor/kernel``: same initialiser, float32)."""

    shape: tuple[int, ...]

    @nn.compact
    def __call__(self) -> Float[Array, "..."]:
        return self.param(
            "kernel", e3x.nn.initializers.tensor_lecun_normal(), self.shape, jnp.float32
        )


__all__ = ["CouplingPath", "MessagePass", "RadialFilter", "coupling_paths"]
