"""Euclidean fast attention: the operator, its Flax module and the quadrature bound."""

from efa.nn.attention import EuclideanFastAttention
from efa.nn.erope import erope_attention, erope_tensor_attention
from efa.nn.quadrature import (
    SAFE_MAX_FREQUENCY,
    check_quadrature_bound,
    lebedev_grid,
    max_safe_frequency,
    smallest_safe_grid,
)

__all__ = [
    "SAFE_MAX_FREQUENCY",
    "EuclideanFastAttention",
    "check_quadrature_bound",
    "erope_attention",
    "erope_tensor_attention",
    "lebedev_grid",
    "max_safe_frequency",
    "smallest_safe_grid",
]
