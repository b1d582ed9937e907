"""Reference labels for probe geometries, at the level of theory of the data set they came from.

Probe structures (a pulled-apart pair, a scan) are new geometries, so their reference energies and
forces are computed here and the result goes through :func:`efa.data.schema.make_dataset`, the
validated path of every data set:

- the analytic two-atom potential of the ``two_atoms`` data set (docs/science.md),

      E(r) = (12/11) (r⁻¹² − r⁻¹) eV,   F₁ = −F₀ = −E'(r) r̂,   r̂ = (r₁ − r₀)/r;

- GFN2-xTB through :func:`efa.data.generators.xtb.xtb_dataset` (tblite), for data sets whose
  ``level_of_theory`` is GFN2-xTB;
- the exact Coulomb + Born pair sum of the ``far_fragment`` data set
  (:func:`efa.data.generators.analytic.far_fragment_labels`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from jaxtyping import Float

from efa.data.generators.xtb import LEVEL_OF_THEORY as GFN2_LEVEL
from efa.data.generators.xtb import xtb_dataset
from efa.data.schema import make_dataset, pad_atoms
from efa.errors import ConfigError

#: ``level_of_theory`` of the analytic two-atom data set (as written by its generator).
TWO_ATOM_LEVEL = "analytic: E = (12/11)(r^-12 - r^-1) eV"
TWO_ATOM_NUMBERS = np.array([1, 2])


def two_atom_energy(r: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
    """``E(r) = (12/11)(r⁻¹² − r⁻¹)`` eV of the two-atom data set (r in Å)."""
    return (12 / 11) * (r**-12 - r**-1)


def two_atom_derivative(r: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
    """``E'(r) = (12/11)(−12 r⁻¹³ + r⁻²)`` eV/Å."""
    return (12 / 11) * (-12 * r**-13 + r**-2)


def two_atom_labels(
    positions: Float[np.ndarray, "S 2 3"],
) -> tuple[Float[np.ndarray, " S"], Float[np.ndarray, "S 2 3"]]:
    """Energies and forces of the two-atom potential for pairs ``positions``."""
    delta = positions[:, 1] - positions[:, 0]
    r = np.linalg.norm(delta, axis=-1)
    force_on_second = -two_atom_derivative(r)[:, None] * delta / r[:, None]
    return two_atom_energy(r), np.stack([-force_on_second, force_on_second], axis=1)


def has_labeller(level_of_theory: str) -> bool:
    """Whether :func:`label_structures` can label structures at ``level_of_theory``."""
    from efa.data.generators.analytic import FAR_FRAGMENT_LEVEL

    return level_of_theory.startswith(GFN2_LEVEL.split(" ")[0]) or level_of_theory in (
        TWO_ATOM_LEVEL,
        FAR_FRAGMENT_LEVEL,
    )


def label_structures(
    numbers: Sequence[np.ndarray],
    positions: Sequence[np.ndarray],
    total_charge: Sequence[int],
    level_of_theory: str,
    attrs: Mapping,
    coordinate: Sequence[float] | None = None,
    electronic_temperature: float = 300.0,
    source: str = "probe",
) -> xr.Dataset:
    """A canonical data set of the given structures labelled at ``level_of_theory``.

    Args:
      numbers, positions: per structure ``(N_s,)`` atomic numbers and ``(N_s, 3)`` Å.
      total_charge: per structure total charge (e).
      level_of_theory: :data:`TWO_ATOM_LEVEL`, the ``far_fragment`` level or GFN2-xTB (any
        string starting with "GFN2-xTB"); :func:`has_labeller` tells.
      attrs: data set attrs (``description``, ``source``, ``units`` of the coordinate, …).
      coordinate: scan coordinate per structure.
      electronic_temperature: first SCF temperature (K) of GFN2-xTB.
      source: name used in error messages.

    Raises:
      ConfigError: for a level of theory no labeller exists for.
    """
    if level_of_theory.startswith(GFN2_LEVEL.split(" ")[0]):
        return xtb_dataset(
            numbers,
            positions,
            total_charge,
            dict(attrs),
            temperature_k=electronic_temperature,
            coordinate=coordinate,
            max_failure_fraction=0.0,
            source=source,
        )
    if level_of_theory == TWO_ATOM_LEVEL:
        stacked = pad_atoms([np.asarray(r, np.float64) for r in positions])
        z = pad_atoms([np.asarray(n) for n in numbers])
        if stacked.shape[1] != 2 or not np.all(z == TWO_ATOM_NUMBERS):
            raise ConfigError(f"{source}: the two-atom potential needs pairs of atoms Z = (1, 2)")
        energy, forces = two_atom_labels(stacked)
        return make_dataset(
            stacked,
            z,
            energy,
            forces,
            total_charge=np.asarray(total_charge),
            coordinate=coordinate,
            attrs={**attrs, "level_of_theory": level_of_theory},
            source=source,
        )
    from efa.data.generators.analytic import FAR_FRAGMENT_LEVEL, far_fragment_labels

    if level_of_theory == FAR_FRAGMENT_LEVEL:
        return far_fragment_labels(
            pad_atoms([np.asarray(r, np.float64) for r in positions]),
            pad_atoms([np.asarray(n) for n in numbers]),
            dict(attrs),
            source,
            coordinate=coordinate,
        )
    raise ConfigError(
        f"{source}: no reference labeller for level of theory {level_of_theory!r}; expected "
        f"{TWO_ATOM_LEVEL!r}, {FAR_FRAGMENT_LEVEL!r} or {GFN2_LEVEL!r}"
    )
