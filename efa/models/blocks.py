"""Building blocks of the energy models: embedding, message passing, EFA block, readout.

Features use the e3x layout ``(N, P, (L+1)², F)``: ``N`` atoms, ``P`` parity channels, spherical
components up to degree ``L`` and ``F`` channels. Atoms and pairs follow the padded layout of
:class:`efa.data.batching.Batch`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import e3x
import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from efa.nn import EuclideanFastAttention
from efa.nn.segments import contiguous_layout

#: Largest atomic number the element embedding and energy bias cover.
MAX_ATOMIC_NUMBER = 118


class MLP(nn.Module):
    """Two equivariant dense layers with an e3x ``silu`` between: ``W₂ silu(W₁ x)``."""

    features: int

    @nn.compact
    def __call__(self, x: Float[Array, "N P S F"]) -> Float[Array, "N P S F"]:
        x = e3x.nn.Dense(self.features)(x)
        return e3x.nn.Dense(self.features)(e3x.nn.silu(x))


class AtomEmbedding(nn.Module):
    """Initial features from the element and, optionally, total charge and atomic dipole.

    ``x_i = e(Z_i) + [c(Q_{s(i)})] + [W Y_1(μ_i)]`` with learned tables ``e`` (elements
    ``0 … 118``, 0 = padding) and ``c`` (integer charges ``−max_abs_charge … max_abs_charge``;
    larger ones are clipped), and a learned linear map ``W`` of the degree-1 solid harmonic of
    the atomic dipole ``μ_i`` (a vector, linear in ``μ_i``, so the features stay equivariant).

    Returns ``(N, 1, 1, F)`` scalars, or ``(N, 1, 4, F)`` with the dipole input.
    """

    features: int
    use_total_charge: bool = False
    max_abs_charge: int = 4
    use_atomic_dipoles: bool = False

    @nn.compact
    def __call__(
        self,
        atomic_numbers: Int[Array, " N"],
        total_charge: Int[Array, " B"],
        segment_ids: Int[Array, " N"],
        atomic_dipoles: Float[Array, "N 3"] | None = None,
    ) -> Float[Array, "N 1 S F"]:
        x = e3x.nn.Embed(MAX_ATOMIC_NUMBER + 1, self.features, name="element")(atomic_numbers)
        if self.use_total_charge:
            index = jnp.clip(total_charge, -self.max_abs_charge, self.max_abs_charge)
            index = jnp.append(index + self.max_abs_charge, self.max_abs_charge)  # padding: Q = 0
            charge = e3x.nn.Embed(2 * self.max_abs_charge + 1, self.features, name="charge")
            x = x + charge(index[segment_ids])
        if self.use_atomic_dipoles:
            harmonics = e3x.so3.spherical_harmonics(
                atomic_dipoles, max_degree=1, r_is_normalized=True
            )
            vector = harmonics.at[:, 0].set(0.0)[:, None, :, None]  # degree 1 only: (N, 1, 4, 1)
            dipole = e3x.nn.Dense(self.features, use_bias=False, name="dipole")(vector)
            x = e3x.nn.add(x.astype(dipole.dtype), dipole)
        return x


def pair_basis(
    positions: Float[Array, "N 3"],
    pair_dst: Int[Array, " P"],
    pair_src: Int[Array, " P"],
    pair_mask: Bool[Array, " P"],
    *,
    max_degree: int,
    num_basis: int,
    cutoff: float,
) -> Float[Array, "P 1 (L+1)**2 K"]:
    """Radial–angular basis of the pair displacements ``r_src − r_dst``.

    ``B_{klm}(r) = b_k(|r|) · f_c(|r|) · Y_lm(r̂)`` with reciprocal-Bernstein radial functions
    ``b_k`` (``K = num_basis``), the smooth cutoff ``f_c(r) = exp(1 − 1/(1 − (r/r_c)²))`` for
    ``r < r_c`` (0 beyond) and real spherical harmonics up to ``max_degree``. Padding pairs
    (``pair_mask`` False) get a zero basis, so they carry no message.
    """
    displacements = positions[pair_src] - positions[pair_dst]
    basis = e3x.nn.basis(
        displacements,
        max_degree=max_degree,
        num=num_basis,
        radial_fn=e3x.nn.reciprocal_bernstein,
        cutoff_fn=functools.partial(e3x.nn.smooth_cutoff, cutoff=cutoff),
    )
    return jnp.where(pair_mask[:, None, None, None], basis, 0.0)


class Interaction(nn.Module):
    """Local update ``MP_t(x)``: one e3x message pass followed by an :class:`MLP`.

    ``m_i = Σ_{j ∈ N(i)} x_j ⊗ W(B_ij)`` (e3x ``MessagePass``: a tensor product of neighbour
    features with filters linear in the pair basis), then ``MLP(m_i)``.
    """

    features: int
    max_degree: int
    include_pseudotensors: bool = False

    @nn.compact
    def __call__(
        self,
        x: Float[Array, "N P S F"],
        basis: Float[Array, "P 1 S K"],
        pair_dst: Int[Array, " P"],
        pair_src: Int[Array, " P"],
    ) -> Float[Array, "N P S F"]:
        m = e3x.nn.MessagePass(
            max_degree=self.max_degree, include_pseudotensors=self.include_pseudotensors
        )(x, basis, dst_idx=pair_dst, src_idx=pair_src, num_segments=x.shape[0])
        return MLP(self.features)(m)


class EFABlock(nn.Module):
    """Long-range update ``EFA-block_t(x) = MLP(x̃ + W·EFA(x))`` (SCIENCE.md §1).

    ``x̃`` is ``x`` restricted to the degree and parity of the EFA values (usually scalars), so
    the block's dense layers and MLP work on those components only; its output is added to the
    full features by the caller. EFA acts within each structure of the padded batch (atom
    ``s·n + i`` is slot ``i`` of structure ``s``, :func:`efa.nn.segments.contiguous_layout`);
    padding atoms take no part and their outputs are zeroed.

    Attributes:
      features: output channels ``F``.
      attention: keyword options of :class:`efa.nn.EuclideanFastAttention` as a tuple of
        ``(name, value)`` pairs (Flax attributes must be hashable).
    """

    features: int
    attention: tuple[tuple[str, object], ...]

    @nn.compact
    def __call__(
        self,
        x: Float[Array, "N P S F"],
        positions: Float[Array, "N 3"],
        segment_ids: Int[Array, " N"],
        atom_mask: Bool[Array, " N"],
        num_structures: int,
    ) -> Float[Array, "N Pv Sv F"]:
        options = dict(self.attention)
        layout = contiguous_layout(atom_mask, num_structures)
        y = EuclideanFastAttention(**options, name="attention")(
            x, positions, segment_ids, num_structures, layout=layout
        )
        residual = e3x.nn.change_max_degree_or_type(
            x,
            max_degree=options["max_degree_v"],
            include_pseudotensors=options["include_pseudotensors_v"],
        )
        return MLP(self.features)(e3x.nn.add(residual, e3x.nn.Dense(self.features)(y)))


def structure_energy(
    atomic_energy: Float[Array, " N"],
    segment_ids: Int[Array, " N"],
    atom_mask: Bool[Array, " N"],
    num_structures: int,
) -> Float[Array, " B"]:
    """``E_s = Σ_{i ∈ s} ε_i`` over the real atoms of each structure slot."""
    atomic_energy = jnp.where(atom_mask, atomic_energy, 0.0)
    return jax.ops.segment_sum(atomic_energy, segment_ids, num_segments=num_structures + 1)[:-1]


class AtomicEnergy(nn.Module):
    """Atomic energies ``ε_i = w·silu(W s_i + b) + β_{Z_i}`` from the scalar features ``s_i``.

    ``β`` is the per-element energy bias (initialised to 0).
    """

    features: int

    @nn.compact
    def __call__(
        self, x: Float[Array, "N P S F"], atomic_numbers: Int[Array, " N"]
    ) -> Float[Array, " N"]:
        scalars = x[:, 0, 0, :]
        hidden = nn.silu(nn.Dense(self.features)(scalars))
        energy = nn.Dense(1)(hidden)[:, 0]
        bias = self.param("element_bias", nn.initializers.zeros, (MAX_ATOMIC_NUMBER + 1,))
        return energy + bias[atomic_numbers]


#: Activations that may be named in a configuration (``qk_activation``).
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "gelu": e3x.nn.gelu,
    "silu": e3x.nn.silu,
}

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "AtomEmbedding",
    "AtomicEnergy",
    "EFABlock",
    "Interaction",
    "pair_basis",
    "structure_energy",
]
