"""Data parallelism of ``efa train``: the device mesh and the placement of batches and state.

Training runs in one process on ``D`` devices (GPUs, or CPU devices made with
``XLA_FLAGS=--xla_force_host_platform_device_count=D``) arranged as a 1-D mesh with the axis
``"structures"``. A batch of ``B`` structure slots (a multiple of ``D``:
``Batcher(slot_multiple=D)``; the extra slots are empty and masked out of the loss) is cut by
:func:`~efa.data.packing.split_batch` into ``D`` parts of ``B/D`` whole structures, each with
atom and pair indices of its own, stacked along a leading axis of size ``D``: ``(N,) → (D, N/D)``,
``(B,) → (D, B/D)``. That axis is sharded over the mesh, so device ``d`` holds part ``d``;
parameters and optimiser state are replicated.

The step maps the model over the parts (``jax.vmap``) and sums their error sums, and ``jax.jit``
with these shardings (GSPMD) runs each part on its own device: since no index points outside its
part, the devices exchange only the summed loss terms and gradients (all-reduces inserted by the
compiler) and every device applies the same Adam update. The numbers are those of one device up
to the order of floating-point sums. With ``D = 1`` batches are not split and the step is the
one-device program, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from efa.data.packing import Batch, split_batch
from efa.errors import ConfigError

#: Name of the mesh axis that batches are split along.
AXIS = "structures"


class DataParallel:
    """The mesh of ``num_devices`` devices and the shardings of a data-parallel training step.

    Args:
      num_devices: devices to use, the first ``num_devices`` of ``jax.devices()``; None: all.

    Raises:
      ConfigError: naming the key ``devices`` if fewer than ``num_devices`` devices are visible
        or ``num_devices < 1``.
    """

    def __init__(self, num_devices: int | None = None):
        visible = jax.devices()
        if num_devices is None:
            num_devices = len(visible)
        if not 1 <= num_devices <= len(visible):
            raise ConfigError(
                f"devices={num_devices}: expected 1 to {len(visible)}, the number of JAX devices "
                f"visible to this process ({len(visible)} × {visible[0].platform}), or no value "
                "to use all of them"
            )
        self.mesh = Mesh(np.array(visible[:num_devices]), (AXIS,))
        #: Sharding of parameters, optimiser state and results: a full copy on every device.
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        #: Sharding of every array of a split batch: the leading (part) axis across devices.
        self.batches = NamedSharding(self.mesh, PartitionSpec(AXIS))

    @property
    def num_devices(self) -> int:
        """``D``, the devices of the mesh."""
        return self.mesh.size

    def split(self, batch: Batch) -> Batch:
        """``batch`` (``B`` slots, a multiple of ``D``) as ``D`` stacked parts, one per device.

        With one device the batch is returned unchanged (flat arrays, no part axis).
        """
        return batch if self.num_devices == 1 else split_batch(batch, self.num_devices)

    def replicate(self, tree: Any) -> Any:
        """``tree`` (a pytree of arrays) copied to every device of the mesh."""
        return jax.device_put(tree, self.replicated)

    def jit(self, function: Callable, **kwargs) -> Callable:
        """``jax.jit`` of ``function(replicated_tree, batch)`` with a replicated result.

        Batches are those of :meth:`split`; passed as host (numpy) arrays, their parts are copied
        to their devices on the way in. ``kwargs`` go to ``jax.jit`` (e.g. ``donate_argnums``).
        """
        return jax.jit(
            function,
            in_shardings=(self.replicated, self.batches),
            out_shardings=self.replicated,
            **kwargs,
        )
