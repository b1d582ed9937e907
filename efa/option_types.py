"""Whether a value given in a configuration, a YAML file or on the command line fits a type.

One rule for every option of a model, a probe or a run: ``bool`` is never an ``int``, a
``float`` option takes integers too but only finite values, and an annotation this module does
not understand accepts anything (the option's own range check still runs).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from typing import Any


def fits_type(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the annotation ``hint`` (``int``, ``float``, ``str``, ``bool``,
    ``None``, ``Mapping`` or ``dict`` (any mapping; keys and values unchecked), fixed or
    variadic ``tuple[...]`` and unions of them)."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits_type(value, argument) for argument in arguments)
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        try:
            return math.isfinite(value)
        except OverflowError:  # an integer beyond the float range
            return False
    if hint is str:
        return isinstance(value, str)
    if hint in (Mapping, dict) or origin in (Mapping, dict):
        return isinstance(value, Mapping)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return all(fits_type(item, arguments[0]) for item in value)
        return len(arguments) == len(value) and all(map(fits_type, value, arguments))
    return True


__all__ = ["fits_type"]
