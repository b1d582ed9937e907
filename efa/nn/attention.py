"""Flax module for Euclidean fast attention (EFA) on e3x features."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import e3x
import flax.linen as nn
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from efa.errors import ConfigError
from efa.nn.erope import erope_attention, erope_tensor_attention
from efa.nn.mesh import SPLINE_ORDER, mesh_periodic_attention
from efa.nn.periodic import isolated_attention, periodic_attention, reciprocal_from_cell
from efa.nn.quadrature import check_quadrature_bound
from efa.nn.segments import SegmentLayout

#: Kernels of :class:`EuclideanFastAttention` for molecules (option ``molecular_kernel``).
MOLECULAR_KERNELS = ("shell", "enveloped")


class PeriodicInputs(NamedTuple):
    """The cells of a batch of periodic structures and how their reciprocal sum is evaluated.

    Attributes:
      cell: ``(B, 3, 3)`` lattice vectors as rows (Å).
      reciprocal: ``(B, G, 3)`` integer coordinates of the reciprocal vectors of the direct sum
        (:func:`efa.nn.periodic.periodic_attention`), None on a mesh.
      multiplicity: ``(B, G)`` their multiplicities (0 on padding), None on a mesh.
      mesh: for the mesh evaluation (:func:`efa.nn.mesh.mesh_periodic_attention`), an empty
        array ``(B, K₁, K₂, K₃, 0)`` whose shape gives the mesh; None for the direct sum.
    """

    cell: Float[Array, "B 3 3"]
    reciprocal: Int[Array, "B G 3"] | None = None
    multiplicity: Float[Array, "B G"] | None = None
    mesh: Array | None = None


class EuclideanFastAttention(nn.Module):
    """Trainable EFA layer: equivariant q/k/v projections followed by :func:`erope_attention`.

    ``q = ψ(W_q x)``, ``k = ψ(W_k x)``, ``v = W_v x`` with one e3x equivariant dense layer (then
    truncated to the requested max degrees and parities), frequencies
    ``ω = linspace(0, max_frequency, qk_features / 2) / max_length`` and a Lebedev grid of
    ``lebedev_num`` points. ``max_frequency`` (``b_max``) must lie inside the quadrature bound
    of the grid and ``max_length`` (``r_max``) should be at least the largest pair distance in
    the data; otherwise rotational invariance is lost.

    Attributes:
      qk_features: channels ``F_qk`` of queries and keys (even).
      v_features: channels ``F_v`` of values (and of the output).
      max_degree_qk, include_pseudotensors_qk: degree ``L`` and parity channels of q and k.
      max_degree_v, include_pseudotensors_v: degree ``L_v`` and parity channels of v.
      qk_activation: optional equivariant activation ``ψ`` (e.g. ``e3x.nn.gelu``).
      max_frequency: ``b_max`` (dimensionless, default π).
      max_length: ``r_max`` in Å.
      lebedev_num: number of Lebedev grid points.
      trainable_frequencies: learn ``ω`` starting from the linspace initialisation.
      tensor_integration: directional EFA (see :func:`erope_tensor_attention`).
      max_degree_sph, max_degree_out, include_pseudotensors_out: ``L_Y``, ``L_out`` and output
        parity channels for tensor integration.
      rescale_degrees: with tensor integration, learn one scale per output degree.
      grid_chunk_size: antipodal grid pairs per chunk (None: automatic), as in
        :func:`erope_attention`.
      envelope_width: ``σ`` (1/Å) of the Gaussian envelope of periodic EFA
        (:mod:`efa.nn.periodic`).
      molecular_kernel: how molecules (structures without a cell) are evaluated: ``"shell"``,
        the molecular EFA of :func:`erope_attention` (kernel ``j0(ω r)``, the paper's); or
        ``"enveloped"``, periodic EFA's kernel ``j0(ω r)·exp(−σ² r²/2)`` summed exactly per atom
        pair (:func:`efa.nn.periodic.isolated_attention`), so that a model trained on periodic
        cells gives molecules the function it learned.
      mesh_order: B-spline order ``p`` of periodic EFA on a mesh (:mod:`efa.nn.mesh`).
      unsafe_ignore_quadrature_bound: skip the quadrature-bound check (experts only).
    """

    qk_features: int = 16
    v_features: int = 32
    max_degree_qk: int = 0
    include_pseudotensors_qk: bool = False
    max_degree_v: int = 0
    include_pseudotensors_v: bool = False
    qk_activation: Callable[[Array], Array] | None = None
    max_frequency: float = math.pi
    max_length: float = 10.0
    lebedev_num: int = 50
    trainable_frequencies: bool = False
    tensor_integration: bool = False
    max_degree_sph: int = 1
    max_degree_out: int = 1
    include_pseudotensors_out: bool = True
    rescale_degrees: bool = False
    grid_chunk_size: int | None = None
    envelope_width: float = 0.2
    molecular_kernel: str = "shell"
    mesh_order: int = SPLINE_ORDER
    unsafe_ignore_quadrature_bound: bool = False
    param_dtype: jnp.dtype = jnp.float32

    def check_options(self) -> None:
        """Raise :class:`ConfigError` naming the first option out of range (before tracing)."""
        if self.qk_features < 2 or self.qk_features % 2:
            raise ConfigError(
                f"qk_features={self.qk_features}: expected an even number >= 2", key="qk_features"
            )
        if self.v_features < 1:
            raise ConfigError(
                f"v_features={self.v_features}: expected a positive number", key="v_features"
            )
        if not self.max_length > 0:
            raise ConfigError(
                f"max_length={self.max_length}: expected a positive length in Å", key="max_length"
            )
        if self.molecular_kernel not in MOLECULAR_KERNELS:
            raise ConfigError(
                f"molecular_kernel={self.molecular_kernel!r}: expected one of "
                f"{list(MOLECULAR_KERNELS)}",
                key="molecular_kernel",
            )
        if self.molecular_kernel == "enveloped" and self.tensor_integration:
            raise ConfigError(
                "molecular_kernel='enveloped' is not available with tensor_integration yet",
                key="molecular_kernel",
            )
        if not self.unsafe_ignore_quadrature_bound:
            check_quadrature_bound(self.max_frequency, self.lebedev_num)

    def initial_frequencies(self) -> Float[Array, " K"]:
        """``ω_k = linspace(0, max_frequency, F_qk/2) / max_length`` (1/Å)."""
        return (
            jnp.linspace(0.0, self.max_frequency, self.qk_features // 2, dtype=self.param_dtype)
            / self.max_length
        )

    def _project(self, x):
        """``(W_q x, W_k x, W_v x)`` as one e3x dense layer ``"qkv"`` of ``2 F_qk + F_v`` channels.

        One layer (one matrix product per irrep, forward and backward) instead of three: for
        small structures the cost of a training step grows with the number of operations. The
        input has the larger of the two degrees and the union of the parities; each output is
        then truncated to its own (the weights of dropped irreps are unused).
        """
        max_degree = max(self.max_degree_qk, self.max_degree_v)
        pseudotensors = self.include_pseudotensors_qk or self.include_pseudotensors_v
        x = e3x.nn.change_max_degree_or_type(
            x, max_degree=max_degree, include_pseudotensors=pseudotensors
        )
        qkv = e3x.nn.Dense(
            2 * self.qk_features + self.v_features, param_dtype=self.param_dtype, name="qkv"
        )(x)
        q, k, v = jnp.split(qkv, [self.qk_features, 2 * self.qk_features], axis=-1)
        qk_type = {
            "max_degree": self.max_degree_qk,
            "include_pseudotensors": self.include_pseudotensors_qk,
        }
        v_type = {
            "max_degree": self.max_degree_v,
            "include_pseudotensors": self.include_pseudotensors_v,
        }
        return (
            e3x.nn.change_max_degree_or_type(q, **qk_type),
            e3x.nn.change_max_degree_or_type(k, **qk_type),
            e3x.nn.change_max_degree_or_type(v, **v_type),
        )

    @nn.compact
    def __call__(
        self,
        x: Float[Array, "N P S F"],
        positions: Float[Array, "N 3"],
        segment_ids: Int[Array, " N"],
        num_segments: int,
        max_segment_size: int | None = None,
        layout: SegmentLayout | None = None,
        periodic: PeriodicInputs | None = None,
    ) -> Float[Array, "N Po So Fv"]:
        """Apply EFA to features ``x`` of atoms at ``positions`` grouped by ``segment_ids``.

        ``layout`` optionally replaces the grouping by ``segment_ids`` with a precomputed one
        (see :func:`erope_attention`). ``periodic``, for periodic cells, gives the cells and the
        evaluation of the reciprocal sum (:class:`PeriodicInputs`): the output is then periodic
        EFA with the envelope ``envelope_width``, summed directly
        (:func:`efa.nn.periodic.periodic_attention`) or on a mesh
        (:func:`efa.nn.mesh.mesh_periodic_attention`).

        Returns ``(N, P_v, (L_v+1)², F_v)``, or with tensor integration
        ``(N, P_o, (L_out+1)², F_v)``.
        """
        self.check_options()
        q, k, v = self._project(x)
        if self.qk_activation is not None:
            q, k = self.qk_activation(q), self.qk_activation(k)

        if self.trainable_frequencies:
            frequencies = self.param("frequencies", lambda _: self.initial_frequencies())
        else:
            frequencies = self.initial_frequencies()

        common = dict(
            positions=positions,
            frequencies=frequencies,
            segment_ids=segment_ids,
            num_segments=num_segments,
            lebedev_num=self.lebedev_num,
            max_segment_size=max_segment_size,
            grid_chunk_size=self.grid_chunk_size,
            layout=layout,
        )
        if periodic is not None:
            if self.tensor_integration:
                raise ConfigError(
                    "tensor_integration is not available for periodic cells yet",
                    key="tensor_integration",
                )
            cell = periodic.cell.astype(positions.dtype)
            cells = dict(max_segment_size=max_segment_size, layout=layout)
            if periodic.mesh is not None:
                return mesh_periodic_attention(
                    q,
                    k,
                    v,
                    positions,
                    frequencies,
                    segment_ids,
                    num_segments,
                    cell,
                    periodic.mesh.shape[1:4],
                    self.envelope_width,
                    order=self.mesh_order,
                    **cells,
                )
            return periodic_attention(
                q,
                k,
                v,
                positions,
                frequencies,
                segment_ids,
                num_segments,
                reciprocal_from_cell(cell, periodic.reciprocal),
                periodic.multiplicity.astype(positions.dtype),
                jnp.abs(jnp.linalg.det(cell)),
                self.envelope_width,
                **cells,
            )
        if self.molecular_kernel == "enveloped":
            return isolated_attention(
                q,
                k,
                v,
                positions,
                frequencies,
                segment_ids,
                num_segments,
                self.envelope_width,
                max_segment_size=max_segment_size,
                layout=layout,
            )
        if not self.tensor_integration:
            return erope_attention(q, k, v, **common)

        y = erope_tensor_attention(
            q,
            k,
            v,
            max_degree_sph=self.max_degree_sph,
            max_degree_out=self.max_degree_out,
            include_pseudotensors_out=self.include_pseudotensors_out,
            **common,
        )
        if self.rescale_degrees:
            scale = self.param(
                "degree_scale", nn.initializers.ones, (self.max_degree_out + 1,), self.param_dtype
            )
            degrees = jnp.floor(jnp.sqrt(jnp.arange((self.max_degree_out + 1) ** 2))).astype(int)
            y = y * scale[degrees][:, None]
        return y
