"""Attributes that record which generator, parameters and level of theory made a data set."""

from __future__ import annotations

from collections.abc import Mapping


def generator_attrs(
    generator: str,
    parameters: Mapping,
    level_of_theory: str,
    description: str,
    units: Mapping[str, str] | None = None,
    **extra,
) -> dict:
    """Data set attrs for a generated set; ``source`` reads like the call that made it."""
    arguments = ", ".join(f"{key}={value!r}" for key, value in sorted(parameters.items()))
    return {
        "description": description,
        "source": f"efa.data.generators.{generator}({arguments})",
        "generator": generator,
        "parameters": dict(parameters),
        "sha256": "",
        "level_of_theory": level_of_theory,
        "units": dict(units or {}),
        **extra,
    }
