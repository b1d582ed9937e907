"""Energy models: local e3x message passing and its EFA-augmented variant.

Both map a padded :class:`efa.data.packing.Batch` to per-structure energies (the model
contract, :mod:`efa.models.registry`). With scalar embeddings ``x⁰_i = e(Z_i) [+ c(Q)]`` and the
pair basis ``B_ij`` (reciprocal Bernstein × smooth cutoff × spherical harmonics), layer
``t = 0 … T−1`` updates

    local:  x ← x + MP_t(x)
    EFA:    x ← x + silu(c_t)·MP_t(x) + silu(1 − c_t)·EFA-block_t(x)      (t in efa_layers)

with a trainable switch ``c_t`` initialised to 0.5 (docs/science.md). The energy is
``E_s = Σ_{i ∈ s} ε_i`` with atomic energies from the scalar features plus a per-element bias;
forces ``F = −∂E/∂r`` are taken by the caller.
"""

from __future__ import annotations

import math

import e3x
import flax.linen as nn
from jaxtyping import Array, Float

from efa.data.packing import Batch
from efa.errors import ConfigError
from efa.models.blocks import (
    ACTIVATIONS,
    AtomEmbedding,
    AtomicEnergy,
    EFABlock,
    Interaction,
    structure_energy,
)
from efa.nn.attention import PeriodicInputs
from efa.nn.mesh import MESH_RESOLUTION, SPLINE_ORDER


class LocalModel(nn.Module):
    """Local equivariant message-passing network (e3x); sees ``T·cutoff`` at most.

    Attributes:
      features: channels ``F`` of the atomic features.
      num_iterations: message-passing layers ``T``.
      max_degree: largest degree ``L`` of the equivariant features.
      include_pseudotensors: keep both parity channels in message passing.
      cutoff: neighbour cutoff ``r_c`` in Å.
      num_basis: reciprocal-Bernstein radial functions ``K``.
      use_total_charge: add an embedding of the structure's total charge to every atom.
      max_abs_charge: largest ``|Q|`` the charge embedding distinguishes.
      use_atomic_dipoles: add the per-atom dipole input (data set variable ``dipoles``) as
        degree-1 features; needs ``max_degree >= 1``.
      pair_chunk_size: neighbour pairs passed at once (None: automatic); larger structures are
        processed in chunks of pairs with bounded memory (see
        :class:`~efa.models.blocks.Interaction`).
    """

    features: int = 64
    num_iterations: int = 2
    max_degree: int = 2
    include_pseudotensors: bool = False
    cutoff: float = 5.0
    num_basis: int = 32
    use_total_charge: bool = False
    max_abs_charge: int = 4
    use_atomic_dipoles: bool = False
    pair_chunk_size: int | None = None

    def check_options(self) -> None:
        """Raise :class:`ConfigError` naming the first option out of range."""
        positive = ("features", "num_iterations", "num_basis", "cutoff")
        if self.pair_chunk_size is not None:
            positive += ("pair_chunk_size",)
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"model option {name}={getattr(self, name)!r}: expected > 0",
                    key=f"model_options.{name}",
                )
        if self.max_degree < 0:
            raise ConfigError(
                f"model option max_degree={self.max_degree}: expected >= 0",
                key="model_options.max_degree",
            )
        if self.use_atomic_dipoles and self.max_degree < 1:
            raise ConfigError(
                f"model option use_atomic_dipoles=True needs max_degree >= 1 (got "
                f"{self.max_degree}): dipoles are degree-1 features",
                key="model_options.use_atomic_dipoles",
            )

    @property
    def receptive_field(self) -> float:
        """How far (Å) an atom's energy can see: ``T·r_c`` (its forces see twice that)."""
        return self.num_iterations * self.cutoff

    def layer_update(self, t: int, x, local, batch: Batch):
        """Combine the features with the local update of layer ``t`` (``x + MP_t(x)``)."""
        del t, batch
        return e3x.nn.add(x, local)

    @nn.compact
    def __call__(self, batch: Batch) -> Float[Array, " B"]:
        """Per-structure energies ``(B,)`` of the padded batch (padding slots give 0)."""
        self.check_options()
        x = AtomEmbedding(
            self.features, self.use_total_charge, self.max_abs_charge, self.use_atomic_dipoles
        )(batch.atomic_numbers, batch.total_charge, batch.segment_ids, batch.atomic_dipoles)
        x = x.astype(batch.positions.dtype)
        for t in range(self.num_iterations):
            last = t == self.num_iterations - 1
            local = Interaction(
                self.features,
                max_degree=0 if last else self.max_degree,  # only scalars reach the readout
                include_pseudotensors=self.include_pseudotensors and not last,
                basis_max_degree=self.max_degree,
                num_basis=self.num_basis,
                cutoff=self.cutoff,
                pair_chunk_size=self.pair_chunk_size,
                name=f"interaction_{t}",
            )(
                x,
                batch.positions,
                batch.pair_dst,
                batch.pair_src,
                batch.pair_mask,
                batch.pair_shift,
            )
            x = self.layer_update(t, x, local, batch)
        atomic_energy = AtomicEnergy(self.features)(x, batch.atomic_numbers)
        return structure_energy(
            atomic_energy, batch.segment_ids, batch.atom_mask, batch.num_structures
        )


#: The model option behind each option of :class:`efa.nn.EuclideanFastAttention` whose name
#: differs (the others have the same name).
_MODEL_OPTION_OF = {
    "max_degree_qk": "efa_max_degree",
    "max_degree_v": "efa_max_degree",
    "include_pseudotensors_qk": "efa_include_pseudotensors",
    "include_pseudotensors_v": "efa_include_pseudotensors",
}


class EFAModel(LocalModel):
    """:class:`LocalModel` with EFA blocks in chosen layers, mixed in by trainable switches.

    Attributes (besides those of :class:`LocalModel`):
      efa_layers: layer indices with an EFA block; None means every layer.
      qk_features, v_features: EFA query/key and value channels.
      efa_max_degree, efa_include_pseudotensors: degree and parity of queries, keys and values.
      qk_activation: None, ``"gelu"`` or ``"silu"`` applied to queries and keys.
      lebedev_num: Lebedev grid points ``M``.
      max_frequency: ``b_max`` (must respect the quadrature bound of the grid).
      max_length: ``r_max`` in Å, at least the largest pair distance in the data.
      trainable_frequencies: learn the ERoPE frequencies.
      tensor_integration, max_degree_sph, max_degree_out: directional EFA (see
        :class:`efa.nn.EuclideanFastAttention`).
      grid_chunk_size: antipodal grid pairs ``(u, −u)`` per chunk (None: automatic), as in
        :func:`efa.nn.erope_attention`.
      envelope_width: ``σ`` (1/Å) of the Gaussian envelope of periodic EFA
        (:mod:`efa.nn.periodic`): in periodic cells the kernel reaches about ``3/σ`` Å.
      molecular_kernel: ``"shell"`` (molecules get the molecular EFA, kernel ``j0(ω r)``) or
        ``"enveloped"`` (molecules get periodic EFA's kernel ``j0(ω r)·exp(−σ² r²/2)``, exact
        per atom pair: for a model trained on periodic cells, see
        :class:`efa.nn.EuclideanFastAttention`).
      mesh_spacing: None sums periodic EFA over the reciprocal vectors directly (cost
        ``∝ N · V``); a spacing (Å) evaluates it on an FFT mesh of about that spacing along each
        lattice vector (:mod:`efa.nn.mesh`, cost ``∝ N + V log V``), for large cells. It must
        resolve the largest shell: ``mesh_spacing · (max_frequency / max_length + 3 σ) ≤ π/2``.
      mesh_order: B-spline order ``p`` of the mesh (4, 6 or 8; ``p³`` mesh points per atom).
    """

    efa_layers: tuple[int, ...] | None = None
    qk_features: int = 32
    v_features: int = 16
    efa_max_degree: int = 0
    efa_include_pseudotensors: bool = False
    qk_activation: str | None = None
    lebedev_num: int = 50
    max_frequency: float = math.pi
    max_length: float = 10.0
    trainable_frequencies: bool = False
    tensor_integration: bool = False
    max_degree_sph: int = 1
    max_degree_out: int = 1
    grid_chunk_size: int | None = None
    envelope_width: float = 0.2
    molecular_kernel: str = "shell"
    mesh_spacing: float | None = None
    mesh_order: int = SPLINE_ORDER

    def check_options(self) -> None:
        super().check_options()
        if not self.envelope_width > 0:
            raise ConfigError(
                f"model option envelope_width={self.envelope_width!r}: expected a positive "
                "width in 1/Å",
                key="model_options.envelope_width",
            )
        if self.mesh_spacing is not None:
            finest = MESH_RESOLUTION / self.largest_shell
            if not 0 < self.mesh_spacing <= finest:
                raise ConfigError(
                    f"model option mesh_spacing={self.mesh_spacing!r}: expected a spacing in Å "
                    f"in (0, {finest:.3g}], which resolves the largest shell (max_frequency / "
                    f"max_length + 3 envelope_width = {self.largest_shell:.3g} 1/Å)",
                    key="model_options.mesh_spacing",
                )
        if self.mesh_order not in (4, 6, 8):
            raise ConfigError(
                f"model option mesh_order={self.mesh_order!r}: expected 4, 6 or 8",
                key="model_options.mesh_order",
            )
        if self.qk_activation is not None and self.qk_activation not in ACTIVATIONS:
            raise ConfigError(
                f"model option qk_activation={self.qk_activation!r}: expected null or one of "
                f"{sorted(ACTIVATIONS)}",
                key="model_options.qk_activation",
            )
        for layer in self.efa_layers or ():
            if not 0 <= layer < self.num_iterations:
                raise ConfigError(
                    f"model option efa_layers contains {layer}: expected layer indices in "
                    f"0..{self.num_iterations - 1}",
                    key="model_options.efa_layers",
                )
        from efa.nn.attention import EuclideanFastAttention

        try:
            EuclideanFastAttention(**dict(self.attention_options()), parent=None).check_options()
        except ConfigError as error:  # the attention's option is one of this model's options
            if error.key is not None:
                error.key = f"model_options.{_MODEL_OPTION_OF.get(error.key, error.key)}"
            raise

    @property
    def receptive_field(self) -> float:
        """``inf`` with at least one EFA block (EFA couples every pair of atoms), else ``T·r_c``."""
        if self.efa_layers is None or len(self.efa_layers) > 0:
            return math.inf
        return self.num_iterations * self.cutoff

    def attention_options(self) -> tuple[tuple[str, object], ...]:
        """Keyword options of :class:`efa.nn.EuclideanFastAttention` for every EFA block."""
        activation = ACTIVATIONS[self.qk_activation] if self.qk_activation else None
        return (
            ("qk_features", self.qk_features),
            ("v_features", self.v_features),
            ("max_degree_qk", self.efa_max_degree),
            ("include_pseudotensors_qk", self.efa_include_pseudotensors),
            ("max_degree_v", self.efa_max_degree),
            ("include_pseudotensors_v", self.efa_include_pseudotensors),
            ("qk_activation", activation),
            ("max_frequency", self.max_frequency),
            ("max_length", self.max_length),
            ("lebedev_num", self.lebedev_num),
            ("trainable_frequencies", self.trainable_frequencies),
            ("tensor_integration", self.tensor_integration),
            ("max_degree_sph", self.max_degree_sph),
            ("max_degree_out", self.max_degree_out),
            ("grid_chunk_size", self.grid_chunk_size),
            ("envelope_width", self.envelope_width),
            ("molecular_kernel", self.molecular_kernel),
            ("mesh_order", self.mesh_order),
        )

    @property
    def largest_shell(self) -> float:
        """``max_frequency / max_length + 3 σ`` (1/Å): where the weights of periodic EFA's
        largest shell have fallen to ``exp(−9/2)`` of their peak."""
        return self.max_frequency / self.max_length + 3.0 * self.envelope_width

    @property
    def reciprocal_cutoff(self) -> float | None:
        """``k_max`` (1/Å) of the direct reciprocal sum of periodic EFA: the largest frequency
        ``max_frequency / max_length`` plus the envelope's tail
        (:func:`efa.nn.periodic.reciprocal_cutoff`); None when a mesh evaluates the sum."""
        from efa.nn.periodic import reciprocal_cutoff

        if self.mesh_spacing is not None:
            return None
        return reciprocal_cutoff(self.max_frequency / self.max_length, self.envelope_width)

    def _periodic_inputs(self, batch: Batch) -> PeriodicInputs | None:
        if batch.cell is None:
            return None
        if self.mesh_spacing is not None:
            if batch.mesh is None:
                raise ValueError(
                    "a batch of periodic cells without a mesh; batch it with the model's "
                    "mesh_spacing"
                )
            return PeriodicInputs(batch.cell, mesh=batch.mesh)
        if batch.reciprocal is None:
            raise ValueError(
                "a batch of periodic cells without reciprocal vectors; batch it with "
                "the model's reciprocal_cutoff"
            )
        return PeriodicInputs(batch.cell, batch.reciprocal, batch.reciprocal_multiplicity)

    def layer_update(self, t: int, x, local, batch: Batch):
        """``x + silu(c_t)·MP_t(x) + silu(1 − c_t)·EFA-block_t(x)`` in EFA layers."""
        if self.efa_layers is not None and t not in self.efa_layers:
            return super().layer_update(t, x, local, batch)
        switch = self.param(f"switch_{t}", nn.initializers.constant(0.5), ())
        long_range = EFABlock(self.features, self.attention_options(), name=f"efa_block_{t}")(
            x,
            batch.positions,
            batch.segment_ids,
            batch.atom_mask,
            batch.num_structures,
            periodic=self._periodic_inputs(batch),
        )
        return e3x.nn.add(
            e3x.nn.add(x, nn.silu(switch) * local), nn.silu(1.0 - switch) * long_range
        )


__all__ = ["EFAModel", "LocalModel"]
