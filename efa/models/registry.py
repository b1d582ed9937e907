"""Model registry: resolve a model named in a configuration and build it from options.

A model is named either by a built-in name (:data:`BUILTIN_MODELS`) or by an import path
``package.module:Class``. **Contract** a model class must meet:

- it is a ``flax.linen.Module`` constructed with keyword options only (the ``model_options`` of
  the run configuration); unknown option names are rejected;
- it has a ``cutoff`` attribute (Å), the radius of the neighbour lists it receives;
- ``module.apply(variables, batch)`` takes an :class:`efa.data.batching.Batch` and returns the
  energies ``(B,)`` of its ``B`` structure slots (eV, before the per-element reference
  energies of the training split, :mod:`efa.train.reference`, are added back). It may read
  the inputs ``atomic_numbers (N,)``, ``positions (N, 3)``, ``atom_mask (N,)``,
  ``segment_ids (N,)`` (structure slot, ``B`` for padding atoms), ``structure_mask (B,)``,
  ``total_charge (B,)``, ``atomic_dipoles (N, 3)`` and the neighbour pairs
  ``pair_dst, pair_src, pair_mask (P,)``, never the labels ``energy`` or ``forces``;
- padding atoms, pairs and structure slots must not change the energy of real structures, and
  the energy must be differentiable with respect to ``positions`` (forces are ``−∂E/∂r``);
- ``module.init(key, batch)`` creates its parameters (collection ``params`` only);
- optionally, a ``receptive_field`` attribute or property (Å; ``math.inf`` for a global model)
  declares how far an atom's energy can see; the probes and the leaderboard report it, and a
  model without one has an unknown (``nan``) receptive field.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

import flax.linen as nn

from efa.errors import ConfigError

#: Built-in model names and the classes they stand for.
BUILTIN_MODELS: dict[str, str] = {
    "local": "efa.models.mpnn:LocalModel",
    "efa": "efa.models.mpnn:EFAModel",
}


def resolve_model(name: str) -> type[nn.Module]:
    """The model class for a built-in ``name`` or an import path ``package.module:Class``."""
    path = BUILTIN_MODELS.get(name, name)
    module_name, colon, class_name = path.partition(":")
    if not colon or not module_name or not class_name:
        raise ConfigError(
            f"model {name!r}: expected a built-in name ({', '.join(sorted(BUILTIN_MODELS))}) "
            "or an import path 'package.module:Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"model {name!r}: cannot import module {module_name!r} ({error})"
        ) from error
    model_class = getattr(module, class_name, None)
    if not (isinstance(model_class, type) and issubclass(model_class, nn.Module)):
        raise ConfigError(
            f"model {name!r}: {module_name}.{class_name} is not a flax.linen.Module class"
        )
    return model_class


def build_model(name: str, options: Mapping[str, Any] | None = None) -> nn.Module:
    """Instantiate model ``name`` with ``options``; lists become tuples (Flax needs hashables).

    Raises:
      ConfigError: naming an unknown option or a model without a ``cutoff``.
    """
    model_class = resolve_model(name)
    fields = {
        field.name
        for field in dataclasses.fields(model_class)
        if field.init and field.name not in ("parent", "name")
    }
    if "cutoff" not in fields and not hasattr(model_class, "cutoff"):
        raise ConfigError(f"model {name!r}: the class has no 'cutoff' attribute (see the contract)")
    options = dict(options or {})
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(
            f"model_options.{unknown[0]}: model {name!r} has no option {unknown[0]!r}; "
            f"known options: {', '.join(sorted(fields))}"
        )
    options = {
        key: tuple(value) if isinstance(value, list) else value for key, value in options.items()
    }
    model = model_class(**options)
    validate = getattr(model, "validate", None)
    if callable(validate):
        validate()
    return model
