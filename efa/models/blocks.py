"""Building blocks of the energy models: embedding, message passing, EFA block, readout.

Features use the e3x layout ``(N, P, (L+1)², F)``: ``N`` atoms, ``P`` parity channels, spherical
components up to degree ``L`` and ``F`` channels. Atoms and pairs follow the padded layout of
:class:`efa.data.packing.Batch`.
"""

from __future__ import annotations

from collections.abc import Callable

import e3x
import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from efa.data.schema import MAX_ATOMIC_NUMBER
from efa.models.message_passing import MessagePass
from efa.nn import EuclideanFastAttention
from efa.nn.attention import PeriodicInputs
from efa.nn.chunks import equal_chunk_size, split_into_chunks
from efa.nn.segments import contiguous_layout


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


def pair_radial_angular(
    positions: Float[Array, "N 3"],
    pair_dst: Int[Array, " P"],
    pair_src: Int[Array, " P"],
    pair_mask: Bool[Array, " P"],
    pair_shift: Float[Array, "P 3"] | None = None,
    *,
    max_degree: int,
    num_basis: int,
    cutoff: float,
) -> tuple[Float[Array, "P K"], Float[Array, "P S"]]:
    """The two factors of the pair basis ``B_{klm}(r) = R_k(|r|) · Y_lm(r̂)`` of the
    displacements ``r = r_src + shift − r_dst`` (``shift``: the lattice vector to a periodic
    image, None for molecules): the radial part ``R_k(r) = b_k(r) · f_c(r)`` ``(P, K)`` and the
    real spherical harmonics ``Y_lm`` ``(P, S = (L+1)²)`` (Racah normalisation, e3x's order).

    ``b_k`` are the reciprocal-Bernstein radial functions (``K = num_basis``) and
    ``f_c(r) = exp(1 − 1/(1 − (r/r_c)²))`` for ``r < r_c`` (0 beyond) the smooth cutoff, as in
    ``e3x.nn.basis``. Padding pairs (``pair_mask`` False) get ``R = 0``, so they carry no message.
    """
    displacements = positions[pair_src] - positions[pair_dst]
    if pair_shift is not None:
        displacements = displacements + pair_shift
    norm = e3x.ops.norm(displacements, axis=-1, keepdims=True)
    directions = displacements / jnp.where(norm > 0, norm, 1.0)
    norm = norm[:, 0]
    radial = (
        e3x.nn.reciprocal_bernstein(norm, num_basis)
        * e3x.nn.smooth_cutoff(norm, cutoff=cutoff)[:, None]
    )
    harmonics = e3x.so3.spherical_harmonics(
        directions, max_degree, r_is_normalized=True, cartesian_order=e3x.Config.cartesian_order
    )
    return jnp.where(pair_mask[:, None], radial, 0.0), harmonics


#: Smallest automatic chunk of pairs (training batches of molecules stay in one chunk).
MIN_PAIR_CHUNK = 2**15
#: Automatic chunk of pairs per atom slot: a chunk's intermediates (about 1.5 kB per pair with
#: 64 features, forward and backward) then cost about 3 kB per atom at every size.
PAIRS_PER_ATOM_CHUNK = 2


class PairMessages(nn.Module):
    """Messages of one set of pairs: ``m_i = Σ_{(i, j) ∈ pairs} x_j ⊗ W(B_ij)``, added to ``total``.

    e3x's message pass (:class:`efa.models.message_passing.MessagePass`): a tensor product of
    neighbour features with filters linear in the pair basis, whose radial and angular factors
    (:func:`pair_radial_angular`) are computed here from the positions so that a chunk of pairs
    never needs the basis of all pairs. Masked pairs carry no message.

    Attributes:
      max_degree, include_pseudotensors: of the messages.
      basis_max_degree, num_basis, cutoff: of :func:`pair_radial_angular`.
    """

    max_degree: int
    include_pseudotensors: bool
    basis_max_degree: int
    num_basis: int
    cutoff: float

    @nn.compact
    def __call__(
        self,
        total: Float[Array, "N P S F"] | None,
        pairs: tuple,
        x: Float[Array, "N P S F"],
        positions: Float[Array, "N 3"],
    ) -> tuple[Float[Array, "N P S F"], None]:
        """``pairs``: ``(dst, src, mask)`` of ``C`` pairs, and for periodic cells their
        ``shift (C, 3)`` as a fourth entry."""
        pair_dst, pair_src, pair_mask = pairs[:3]
        radial, harmonics = pair_radial_angular(
            positions,
            pair_dst,
            pair_src,
            pair_mask,
            pairs[3] if len(pairs) > 3 else None,
            max_degree=self.basis_max_degree,
            num_basis=self.num_basis,
            cutoff=self.cutoff,
        )
        messages = MessagePass(
            max_degree=self.max_degree,
            include_pseudotensors=self.include_pseudotensors,
            name="MessagePass_0",
        )(x, radial, harmonics, pair_dst, pair_src, num_segments=x.shape[0])
        return (messages if total is None else total + messages), None


class Interaction(nn.Module):
    """Local update ``MP_t(x)``: one e3x message pass (:class:`PairMessages`), then an :class:`MLP`.

    Up to ``pair_chunk_size`` pairs are passed at once. More pairs (large structures) are split
    into equal chunks whose messages are summed in a ``scan`` under ``remat``, so memory is
    ``O(N·F + chunk·F)`` instead of ``O(pairs·F)``; the parameters are the same either way.
    The automatic chunk, ``max(MIN_PAIR_CHUNK, PAIRS_PER_ATOM_CHUNK · N)`` pairs, keeps memory
    proportional to the number of atom slots ``N``.

    Attributes:
      features: output channels ``F``.
      max_degree, include_pseudotensors: of the messages.
      basis_max_degree, num_basis, cutoff: of the pair basis.
      pair_chunk_size: largest number of pairs passed at once (None: automatic).
    """

    features: int
    max_degree: int
    include_pseudotensors: bool = False
    basis_max_degree: int = 0
    num_basis: int = 32
    cutoff: float = 5.0
    pair_chunk_size: int | None = None

    @nn.compact
    def __call__(
        self,
        x: Float[Array, "N P S F"],
        positions: Float[Array, "N 3"],
        pair_dst: Int[Array, " P"],
        pair_src: Int[Array, " P"],
        pair_mask: Bool[Array, " P"],
        pair_shift: Float[Array, "P 3"] | None = None,
    ) -> Float[Array, "N P S F"]:
        options = dict(
            max_degree=self.max_degree,
            include_pseudotensors=self.include_pseudotensors,
            basis_max_degree=self.basis_max_degree,
            num_basis=self.num_basis,
            cutoff=self.cutoff,
        )
        num_pairs, chunk = pair_dst.shape[0], self.pair_chunk_size
        if chunk is None:
            chunk = max(MIN_PAIR_CHUNK, PAIRS_PER_ATOM_CHUNK * x.shape[0])
        given = (pair_dst, pair_src, pair_mask) + (() if pair_shift is None else (pair_shift,))
        if num_pairs <= chunk:
            m, _ = PairMessages(**options, name="messages")(None, given, x, positions)
            return MLP(self.features)(m)
        # padded pairs have pair_mask False: no message
        pairs = tuple(split_into_chunks(a, equal_chunk_size(num_pairs, chunk)) for a in given)
        first = jax.tree.map(lambda a: a[0], pairs)
        unbound = PairMessages(**options, parent=None)
        messages = jax.eval_shape(
            lambda: unbound.init_with_output(jax.random.PRNGKey(0), None, first, x, positions)[0][0]
        )
        scan = nn.scan(
            nn.remat(PairMessages),
            variable_broadcast="params",
            split_rngs={"params": False},
            in_axes=(0, nn.broadcast, nn.broadcast),
        )
        zeros = jnp.zeros(messages.shape, messages.dtype)
        m, _ = scan(**options, name="messages")(zeros, pairs, x, positions)
        return MLP(self.features)(m)


class EFABlock(nn.Module):
    """Long-range update ``EFA-block_t(x) = MLP(x̃ + W·EFA(x))`` (docs/science.md).

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
        periodic: PeriodicInputs | None = None,
    ) -> Float[Array, "N Pv Sv F"]:
        """``periodic``: the cells of a batch of periodic structures and the evaluation of
        their reciprocal sum (:class:`efa.nn.attention.PeriodicInputs`), None for molecules."""
        options = dict(self.attention)
        layout = contiguous_layout(atom_mask, num_structures)
        y = EuclideanFastAttention(**options, name="attention")(
            x, positions, segment_ids, num_structures, layout=layout, periodic=periodic
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
    "pair_radial_angular",
    "structure_energy",
]
