"""What a model can take and give: the capability flags of its model card.

============================  ==============================================================
flag                          meaning
============================  ==============================================================
``total_charge``              its energy depends on the structure's total charge (an input)
``spin``                      its energy depends on the spin multiplicity (an input)
``periodic``                  it takes periodic cells
``stress``                    it gives the stress of periodic cells
``elements``                  the atomic numbers it covers (None: not declared, any)
``energy``                    ``absolute`` (energies on the scale of its level of theory) or
                              ``relative`` (only differences between energies mean something)
============================  ==============================================================

The receptive field (a length in Å, or global) and the licence are the predictor's
``receptive_field`` and the card's ``license``. Trained models get their flags from the model and
its training data (:func:`trained_capabilities`); calculators and external trainers declare
them in the configuration (``capabilities:``), and what is not declared takes the defaults of
:class:`Capabilities` (``stress`` from the calculator's implemented properties). A probe, check
or target that needs a capability a model lacks is n/a for it, with :meth:`Capabilities.lacks`
as the reason.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ase.data import atomic_numbers, chemical_symbols

from efa.errors import ConfigError

#: The values of ``energy``.
ENERGY_SEMANTICS = ("absolute", "relative")


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """The capability flags of a model (module docstring)."""

    total_charge: bool = False
    spin: bool = False
    periodic: bool = True
    stress: bool = False
    elements: tuple[int, ...] | None = None
    energy: str = "absolute"

    def lacks(
        self,
        *,
        total_charge: bool = False,
        spin: bool = False,
        periodic: bool = False,
        stress: bool = False,
        elements: Iterable[int] = (),
        absolute_energy: bool = False,
    ) -> str:
        """Why the model cannot take what is asked for (``""`` if it can): ``takes no total
        charge``, ``covers no Ar``, …"""
        reasons = []
        if total_charge and not self.total_charge:
            reasons.append("takes no total charge")
        if spin and not self.spin:
            reasons.append("takes no spin")
        if periodic and not self.periodic:
            reasons.append("takes no periodic cells")
        if stress and not self.stress:
            reasons.append("gives no stress")
        missing = sorted(set(int(z) for z in elements) - set(self.elements or ()))
        if self.elements is not None and missing:
            reasons.append("covers no " + ",".join(chemical_symbols[z] for z in missing))
        if absolute_energy and self.energy != "absolute":
            reasons.append("gives relative energies only")
        return "; ".join(reasons)

    def to_mapping(self) -> dict[str, Any]:
        """JSON form (elements as symbols, ``"all"`` where not declared)."""
        return {
            **dataclasses.asdict(self),
            "elements": "all"
            if self.elements is None
            else [chemical_symbols[z] for z in self.elements],
        }

    def card_text(self) -> dict[str, str]:
        """The flags as leaderboard cells: ``yes``/``no``, element symbols, ``absolute``."""
        mapping = self.to_mapping()
        return {
            "charge": "yes" if self.total_charge else "no",
            "spin": "yes" if self.spin else "no",
            "periodic": "yes" if self.periodic else "no",
            "stress": "yes" if self.stress else "no",
            "elements": mapping["elements"]
            if isinstance(mapping["elements"], str)
            else " ".join(mapping["elements"]),
            "energy": self.energy,
        }


#: Leaderboard columns of the capability flags, in order.
CAPABILITY_COLUMNS = (
    "receptive_field",
    "charge",
    "spin",
    "periodic",
    "stress",
    "elements",
    "energy",
)


def receptive_field_text(value: float) -> str:
    """A receptive field as a card cell: ``10 Å``, ``global`` or ``unknown`` (nan)."""
    if math.isnan(value):
        return "unknown"
    return "global" if math.isinf(value) else f"{value:g} Å"


def _element(key: str, value: Any) -> int:
    if isinstance(value, str) and value in atomic_numbers and value != "X":
        return atomic_numbers[value]
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 1 <= value < len(chemical_symbols)
    ):
        return value
    raise ConfigError(f"{key}: {value!r}: expected an element symbol (H, He, …) or number", key=key)


def capabilities_from_mapping(
    given: Mapping[str, Any] | None, key: str = "capabilities", **defaults: Any
) -> Capabilities:
    """:class:`Capabilities` from a configuration's ``capabilities`` mapping over
    ``defaults``; every error names the key.

    Raises:
      ConfigError: an unknown key, a flag that is not true or false, an unknown element or
        energy semantics.
    """
    given = dict(given or {})
    fields = {field.name for field in dataclasses.fields(Capabilities)}
    unknown = sorted(set(given) - fields)
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}: not a capability; expected one of {', '.join(sorted(fields))}",
            key=f"{key}.{unknown[0]}",
        )
    values = {**defaults, **given}
    for flag in ("total_charge", "spin", "periodic", "stress"):
        if flag in values and not isinstance(values[flag], bool):
            raise ConfigError(
                f"{key}.{flag}: {values[flag]!r}: expected true or false", key=f"{key}.{flag}"
            )
    elements = values.get("elements")
    if elements is not None and elements != "all":
        if not isinstance(elements, (list, tuple)) or not elements:
            raise ConfigError(
                f"{key}.elements: {elements!r}: expected a list of elements or 'all'",
                key=f"{key}.elements",
            )
        values["elements"] = tuple(
            sorted({_element(f"{key}.elements", value) for value in elements})
        )
    elif elements == "all":
        values["elements"] = None
    if values.get("energy", "absolute") not in ENERGY_SEMANTICS:
        raise ConfigError(
            f"{key}.energy: {values['energy']!r}: expected one of {', '.join(ENERGY_SEMANTICS)}",
            key=f"{key}.energy",
        )
    return Capabilities(**values)


def trained_capabilities(model, elements: Iterable[int] | None) -> Capabilities:
    """The flags of a model trained here: charge and spin inputs from its attributes
    (``use_total_charge``, ``use_spin``), periodic cells and stress (every model trained here
    gives its stress by the strain derivative), the elements of its training split."""
    return Capabilities(
        total_charge=bool(getattr(model, "use_total_charge", False)),
        spin=bool(getattr(model, "use_spin", False)),
        periodic=bool(getattr(model, "takes_periodic_cells", True)),
        stress=True,
        elements=None if elements is None else tuple(sorted(int(z) for z in elements)),
        energy="absolute",
    )
