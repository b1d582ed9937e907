"""Cumulenes H₂C=(C=)ₙ₋₂=CH₂ labelled with GFN2-xTB: a training set and a terminal torsion scan.

Torsion of one terminal CH₂ group changes the energy through the conjugated π system, ~10 Å
away (docs/science.md). For an odd number of carbons (C₉H₄) the two CH₂ planes are
perpendicular at the minimum; rotating them to coplanar (90° → 0°) costs ≈ 0.84 eV in GFN2-xTB.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from efa.data.generators.geometry import rattle
from efa.data.generators.provenance import generator_attrs
from efa.data.generators.xtb import CITATION_XTB, LEVEL_OF_THEORY, xtb_dataset

#: Idealised bond lengths (Å) and the H–C–H angle of the terminal groups.
TERMINAL_CC, INNER_CC, CH = 1.31, 1.28, 1.09
HCH_ANGLE_DEG = 117.0


def cumulene_geometry(num_carbons: int, torsion_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers (n + 4,) and positions (n + 4, 3) Å of CₙH₄ along z.

    Carbons first, then the two H of the first CH₂ (in the xz plane), then the two H of the
    last CH₂, whose plane is rotated by ``torsion_deg`` about the chain axis.
    """
    bonds = [TERMINAL_CC] + [INNER_CC] * (num_carbons - 3) + [TERMINAL_CC]
    carbons = np.zeros((num_carbons, 3))
    carbons[1:, 2] = np.cumsum(bonds)
    tilt = np.deg2rad(180.0 - HCH_ANGLE_DEG / 2)  # angle between C–H and the chain direction
    torsion = np.deg2rad(torsion_deg)
    hydrogens = []
    for end, axis_sign, phase in ((0, 1.0, 0.0), (-1, -1.0, torsion)):
        for side in (1.0, -1.0):
            radial = side * np.sin(tilt) * np.array([np.cos(phase), np.sin(phase), 0.0])
            hydrogens.append(carbons[end] + CH * (radial + [0, 0, axis_sign * np.cos(tilt)]))
    numbers = np.array([6] * num_carbons + [1] * 4)
    return numbers, np.vstack([carbons, hydrogens])


def cumulene(
    num_structures: int,
    seed: int,
    lengths: Sequence[int] = (7, 9, 11),
    rattle_stddev: float = 0.02,
    electronic_temperature: float = 300.0,
    max_failure_fraction: float = 0.01,
) -> xr.Dataset:
    """Cumulenes CₙH₄, n drawn from ``lengths``, terminal torsion φ ~ U[0°, 180°), rattled.

    Every atom is displaced by Gaussian noise of ``rattle_stddev`` Å. Extra variable ``torsion``
    (S,) deg holds φ before rattling. The default lengths are odd: odd cumulenes have their
    energy minimum at perpendicular CH₂ planes, even ones at coplanar planes, so with both the
    sign of the torsion energy depends on the parity of the chain length. Measured with the
    default suite's degree-1 EFA model: lengths 7–11 gave a C₉H₄ barrier of 0.065 eV, lengths
    7, 9, 11 gave 0.24 eV (reference 0.84 eV).

    The default rattle keeps the torsion the largest part of the energy variation. A fit of
    ``a cos 2φ + b`` per chain length to the 600-structure sets of the default suite (energies
    less the per-element references of :mod:`efa.train.reference`) gives amplitudes a of
    0.29–0.47 eV; the rest spreads by 0.13 eV (standard deviation) at 0.02 Å, but by 0.6–0.8 eV
    at 0.05 Å, where the suite's EFA model learned the torsion for one training seed in three.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.asarray(lengths), size=num_structures)
    torsion = rng.uniform(0.0, 180.0, num_structures)
    numbers, positions = [], []
    for n, phi in zip(chosen, torsion):
        z, r = cumulene_geometry(int(n), phi)
        numbers.append(z)
        positions.append(rattle(rng, r, rattle_stddev))
    params = dict(
        num_structures=num_structures,
        seed=seed,
        lengths=list(lengths),
        rattle_stddev=rattle_stddev,
        electronic_temperature=electronic_temperature,
    )
    attrs = generator_attrs(
        "cumulene",
        params,
        LEVEL_OF_THEORY,
        "Rattled cumulenes CnH4 with random terminal torsion (non-local electronic effect).",
        units={"torsion": "deg"},
        citation=CITATION_XTB,
    )
    return xtb_dataset(
        numbers,
        positions,
        np.zeros(num_structures, dtype=int),
        attrs,
        temperature_k=electronic_temperature,
        extra={"torsion": torsion},
        max_failure_fraction=max_failure_fraction,
        source="cumulene",
    )


def cumulene_torsion(
    num_points: int = 91,
    num_carbons: int = 9,
    start_deg: float = 90.0,
    stop_deg: float = 0.0,
    electronic_temperature: float = 300.0,
) -> xr.Dataset:
    """Torsion scan of one terminal CH₂ of CₙH₄ from ``start_deg`` to ``stop_deg`` (no rattling).

    ``coordinate`` (S,) deg is the torsion angle.
    """
    angles = np.linspace(start_deg, stop_deg, num_points)
    numbers, positions = zip(*(cumulene_geometry(num_carbons, phi) for phi in angles))
    params = dict(
        num_points=num_points,
        num_carbons=num_carbons,
        start_deg=start_deg,
        stop_deg=stop_deg,
        electronic_temperature=electronic_temperature,
    )
    attrs = generator_attrs(
        "cumulene_torsion",
        params,
        LEVEL_OF_THEORY,
        f"Torsion scan of one terminal CH2 of C{num_carbons}H4 (probe).",
        units={"coordinate": "deg"},
        citation=CITATION_XTB,
    )
    return xtb_dataset(
        numbers,
        positions,
        np.zeros(num_points, dtype=int),
        attrs,
        temperature_k=electronic_temperature,
        coordinate=angles,
        max_failure_fraction=0.0,
        source="cumulene_torsion",
    )
