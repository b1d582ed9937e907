"""Orbax checkpoints of a run: the latest training state and the best parameters.

``<run>/checkpoints/<step>/`` holds the training state (parameters and optimiser state) plus JSON
metadata (step, elapsed time, best validation loss); ``<run>/best/<step>/`` holds the parameters
with the lowest validation loss so far. Orbax writes each step to a temporary directory and
renames it when complete, so a killed process leaves either the previous or the new checkpoint,
never a partial one. The two newest complete steps of each are kept: when the newest cannot be
read (a damaged disk, a file removed by hand), :func:`restore` warns and falls back to the one
before.

Arrays may be sharded or replicated over several devices (data-parallel training,
:mod:`efa.train.sharding`); a checkpoint restores onto the devices of the tree it is restored
into, so a run saved on ``D`` devices resumes on another number of devices and its best
parameters load in a one-device process (``efa evaluate``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from efa.errors import EfaError

#: Complete checkpoints kept per directory (the newest and a fallback).
KEEP = 2


def _manager(directory: Path) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=KEEP, enable_async_checkpointing=False, create=True
    )
    return ocp.CheckpointManager(directory.absolute(), options=options)


def save(directory: str | os.PathLike, step: int, tree: Any, metadata: dict[str, Any]) -> None:
    """Save ``tree`` (a pytree of arrays) and JSON ``metadata`` as checkpoint ``step``.

    A complete checkpoint of the same step is replaced: it was written by an earlier attempt of
    the same deterministic run that was killed before its other checkpoint was saved (e.g.
    between ``best/`` and ``checkpoints/``), and the resumed run reproduces that state.
    """
    with _manager(Path(directory)) as manager:
        if step in manager.all_steps():
            manager.delete(step)
        manager.save(
            step,
            args=ocp.args.Composite(
                tree=ocp.args.StandardSave(tree), metadata=ocp.args.JsonSave(metadata)
            ),
            force=True,
        )


def latest_step(directory: str | os.PathLike) -> int | None:
    """Step of the newest complete checkpoint in ``directory``, or None."""
    if not Path(directory).is_dir():
        return None
    with _manager(Path(directory)) as manager:
        return manager.latest_step()


def _restore_target(leaf: Any) -> jax.ShapeDtypeStruct:
    """Shape, dtype and sharding to restore ``leaf`` with (default device if it has none).

    Never the devices recorded in the checkpoint: those of the saving process may not exist here.
    """
    target = ocp.utils.to_shape_dtype_struct(leaf)
    if target.sharding is not None:
        return target
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.ShapeDtypeStruct(target.shape, target.dtype, sharding=default)


def _restore_newest(directory: str | os.PathLike, args) -> Any:
    """Restore the newest readable checkpoint with ``args``; warn about each unreadable one."""
    with _manager(Path(directory)) as manager:
        steps = sorted(manager.all_steps(), reverse=True)
        if not steps:
            raise EfaError(f"{directory}: no complete checkpoint found")
        problems = []
        for step in steps:
            try:
                restored = manager.restore(step, args=args)
            except Exception as error:  # orbax and tensorstore raise many kinds
                problems.append(f"step {step}: {type(error).__name__}: {error}")
                continue
            if problems:
                warnings.warn(
                    f"{directory}: checkpoint {problems[0]}; restored step {step} instead",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return restored
    raise EfaError(
        f"{directory}: no readable checkpoint ({'; '.join(problems)}); delete the run "
        "directory to train it again"
    )


def restore(directory: str | os.PathLike, like: Any) -> tuple[Any, dict[str, Any]]:
    """Restore the newest readable checkpoint into the structure of ``like``; return
    ``(tree, metadata)``.

    Each array is placed like the leaf of ``like`` (a jax.Array or a ``jax.ShapeDtypeStruct``
    with a sharding), or on the default device when that leaf has no sharding (numpy arrays,
    ``jax.eval_shape`` results). An unreadable newest checkpoint is skipped with a warning.

    Raises:
      EfaError: if ``directory`` holds no readable checkpoint.
    """
    abstract = jax.tree.map(_restore_target, like)
    restored = _restore_newest(
        directory,
        ocp.args.Composite(
            tree=ocp.args.StandardRestore(abstract), metadata=ocp.args.JsonRestore()
        ),
    )
    tree = jax.tree.unflatten(jax.tree.structure(like), jax.tree.leaves(restored.tree))
    return tree, dict(restored.metadata)
