"""Model registry: resolve a model named in a configuration and build it from options.

A model is named either by a built-in name (:data:`BUILTIN_MODELS`) or by an import path
``package.module:Class``. **Contract** a model class must meet:

- it is a ``flax.linen.Module`` constructed with keyword options only (the ``model_options`` of
  the run configuration); unknown option names are rejected;
- it has a ``cutoff`` attribute (Å), the radius of the neighbour lists it receives;
- ``module.apply(variables, batch)`` takes an :class:`efa.data.packing.Batch` and returns the
  energies ``(B,)`` of its ``B`` structure slots (eV, before the per-element reference
  energies of the training split, :mod:`efa.train.reference`, are added back). It may read
  the inputs ``atomic_numbers (N,)``, ``positions (N, 3)``, ``atom_mask (N,)``,
  ``segment_ids (N,)`` (structure slot, ``B`` for padding atoms), ``structure_mask (B,)``,
  ``total_charge (B,)``, ``atomic_dipoles (N, 3)`` and the neighbour pairs
  ``pair_dst, pair_src, pair_mask (P,)``, never the labels ``energy`` or ``forces``;
- padding atoms, pairs and structure slots must not change the energy of real structures, and
  the energy must be differentiable with respect to ``positions`` (forces are ``−∂E/∂r``);
- ``module.init(key, batch)`` creates its parameters (collection ``params`` only);
- optionally, a method ``check_options()`` that raises :class:`~efa.errors.ConfigError` naming
  the first option out of range; it is called when the model is built, before any job runs;
- optionally, a ``max_length`` attribute (Å) for a global model that is exact only up to that
  distance (EFA's ``r_max``): ``efa train`` refuses data with longer distances;
- optionally, a ``receptive_field`` attribute or property (Å; ``math.inf`` for a global model)
  declares how far an atom's energy can see; the probes and the leaderboard report it, and a
  model without one has an unknown (``nan``) receptive field.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Mapping
from typing import Any

import flax.linen as nn

from efa.errors import ConfigError
from efa.option_types import fits_type

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
            "or an import path 'package.module:Class'",
            key="model",
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # not found, a syntax error, or an error raised on import
        raise ConfigError(
            f"model {name!r}: cannot import module {module_name!r} "
            f"({type(error).__name__}: {error})",
            key="model",
        ) from None
    model_class = getattr(module, class_name, None)
    if not (isinstance(model_class, type) and issubclass(model_class, nn.Module)):
        raise ConfigError(
            f"model {name!r}: {module_name}.{class_name} is not a flax.linen.Module class",
            key="model",
        )
    return model_class


def build_model(name: str, options: Mapping[str, Any] | None = None) -> nn.Module:
    """Instantiate model ``name`` with ``options``; lists become tuples (Flax needs hashables).

    Raises:
      ConfigError: naming an unknown option or a model without a ``cutoff``.
    """
    from efa.xla import ensure_xla

    ensure_xla("efa.models.build_model")
    model_class = resolve_model(name)
    fields = {
        field.name
        for field in dataclasses.fields(model_class)
        if field.init and field.name not in ("parent", "name")
    }
    if "cutoff" not in fields and not hasattr(model_class, "cutoff"):
        raise ConfigError(
            f"model {name!r}: the class has no 'cutoff' attribute (see the contract)", key="model"
        )
    options = dict(options or {})
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(
            f"model_options.{unknown[0]}: model {name!r} has no option {unknown[0]!r}; "
            f"known options: {', '.join(sorted(fields))}",
            key=f"model_options.{unknown[0]}",
        )
    options = {
        key: tuple(value) if isinstance(value, list) else value for key, value in options.items()
    }
    check_option_types(model_class, options)
    try:
        model = model_class(**options)
    except Exception as error:  # a user class may raise anything from its constructor
        raise ConfigError(
            f"model {name!r}: constructing it with {options} raised "
            f"{type(error).__name__}: {error}",
            key="model",
        ) from None
    check_options = getattr(model, "check_options", None)
    if callable(check_options):
        try:
            check_options()
        except ConfigError:
            raise
        except Exception as error:
            raise ConfigError(
                f"model {name!r}: its check_options() raised {type(error).__name__}: {error}",
                key="model",
            ) from None
    return model


def check_option_types(model_class: type, options: Mapping[str, Any]) -> None:
    """Check each option against the annotation of its field (``int``, ``float``, ``bool``,
    ``str``, ``X | None``, ``tuple[int, ...]``); other annotations are not checked.

    Raises:
      ConfigError: ``model_options.<name>=<value>: expected <type>`` for the first mismatch,
        also for a float that is not finite.
    """
    try:
        hints = typing.get_type_hints(model_class)
    except Exception:  # unresolvable annotations: the class checks its options itself
        return
    for name, value in options.items():
        hint = hints.get(name)
        if hint is not None and not fits_type(value, hint):
            raise ConfigError(
                f"model_options.{name}={value!r}: expected {_describe(hint)}",
                key=f"model_options.{name}",
            )


def _describe(hint: Any) -> str:
    """A reader's name for an annotation: ``an integer``, ``a finite number or null``, …"""
    names = {
        bool: "true or false",
        int: "an integer",
        float: "a finite number",
        str: "a string",
        type(None): "null",
    }
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(argument) for argument in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        plural = {bool: "booleans", int: "integers", float: "finite numbers", str: "strings"}
        items = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return "a list of " + ", ".join(plural.get(a, str(a)) for a in items)
    return names.get(hint, str(hint))
