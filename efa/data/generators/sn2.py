"""The SN2 reaction F⁻ + CH₃I → CH₃F + I⁻ labelled with GFN2-xTB: a training set and a scan.

Reaction coordinate ρ = d(C–I) − d(C–F) (Å), from the reactant complex (ρ ≪ 0, F⁻ far away)
to the products (ρ ≫ 0, I⁻ far away). The collinear F–C–I path used here is a smooth model
path, not a minimum-energy path: with the softplus s(x) = w·ln(1 + eˣᐟʷ), b = r_CI − r_CF and
x = ρ − b,

    d(C–I) = r_CI + s(x),    d(C–F) = r_CF + s(−x)      (so d(C–I) − d(C–F) = ρ),

and the methyl umbrella inverts with the angle θ(ρ) = 90° − 18.5°·tanh(x / w) between each C–H
bond and the C→I direction. The total charge is −1. The SCF needs an electronic temperature of
1000 K at large ion separation (docs/science.md), the default here.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from efa.data.generators.geometry import rattle
from efa.data.generators.provenance import generator_attrs
from efa.data.generators.xtb import CITATION_XTB, LEVEL_OF_THEORY, xtb_dataset

#: Equilibrium C–I, C–F, C–H bond lengths (Å) and the width w (Å) of the bond switch.
R_CI, R_CF, R_CH, SWITCH_WIDTH = 2.14, 1.39, 1.09, 0.7
#: Atom order as in the EFA reference scan: C, H, H, H, F, I.
SN2_NUMBERS = np.array([6, 1, 1, 1, 9, 53])


def sn2_geometry(reaction_coordinate: float) -> np.ndarray:
    """(6, 3) positions (Å) of [C, H, H, H, F, I] at ρ = ``reaction_coordinate``; F on −z, I on
    +z."""
    x = reaction_coordinate - (R_CI - R_CF)
    d_ci = R_CI + SWITCH_WIDTH * np.logaddexp(0.0, x / SWITCH_WIDTH)
    d_cf = R_CF + SWITCH_WIDTH * np.logaddexp(0.0, -x / SWITCH_WIDTH)
    theta = np.deg2rad(90.0 - 18.5 * np.tanh(x / SWITCH_WIDTH))
    azimuth = np.deg2rad([0.0, 120.0, 240.0])
    hydrogens = R_CH * np.stack(
        [
            np.sin(theta) * np.cos(azimuth),
            np.sin(theta) * np.sin(azimuth),
            np.full(3, np.cos(theta)),
        ],
        axis=1,
    )
    return np.vstack([[0.0, 0.0, 0.0], hydrogens, [0.0, 0.0, -d_cf], [0.0, 0.0, d_ci]])


def sn2(
    num_structures: int,
    seed: int,
    coordinate_min: float = -11.0,
    coordinate_max: float = 11.0,
    rattle_stddev: float = 0.02,
    electronic_temperature: float = 1000.0,
    max_failure_fraction: float = 0.01,
) -> xr.Dataset:
    """F⁻ + CH₃I along the model path, ρ ~ U[coordinate_min, coordinate_max] Å, rattled.

    With the defaults the free ion is up to ≈ 13 Å from carbon. Extra variable
    ``reaction_coordinate`` (S,) Å holds ρ before rattling.
    """
    rng = np.random.default_rng(seed)
    rho = rng.uniform(coordinate_min, coordinate_max, num_structures)
    positions = [rattle(rng, sn2_geometry(value), rattle_stddev) for value in rho]
    params = dict(
        num_structures=num_structures,
        seed=seed,
        coordinate_min=coordinate_min,
        coordinate_max=coordinate_max,
        rattle_stddev=rattle_stddev,
        electronic_temperature=electronic_temperature,
    )
    attrs = generator_attrs(
        "sn2",
        params,
        LEVEL_OF_THEORY,
        "Rattled F- + CH3I -> CH3F + I- structures along a model reaction path (ion-molecule).",
        units={"reaction_coordinate": "Å"},
        citation=CITATION_XTB,
    )
    return xtb_dataset(
        [SN2_NUMBERS] * num_structures,
        positions,
        np.full(num_structures, -1),
        attrs,
        temperature_k=electronic_temperature,
        extra={"reaction_coordinate": rho},
        max_failure_fraction=max_failure_fraction,
        source="sn2",
    )


def sn2_scan(
    num_points: int = 401,
    coordinate_min: float = -10.0,
    coordinate_max: float = 10.0,
    electronic_temperature: float = 1000.0,
) -> xr.Dataset:
    """Scan of ρ from ``coordinate_min`` to ``coordinate_max`` (no rattling); ``coordinate`` in
    Å."""
    rho = np.linspace(coordinate_min, coordinate_max, num_points)
    params = dict(
        num_points=num_points,
        coordinate_min=coordinate_min,
        coordinate_max=coordinate_max,
        electronic_temperature=electronic_temperature,
    )
    attrs = generator_attrs(
        "sn2_scan",
        params,
        LEVEL_OF_THEORY,
        "F- + CH3I -> CH3F + I- reaction-coordinate scan, rho = d(C-I) - d(C-F) (probe).",
        units={"coordinate": "Å"},
        citation=CITATION_XTB,
    )
    return xtb_dataset(
        [SN2_NUMBERS] * num_points,
        [sn2_geometry(v) for v in rho],
        np.full(num_points, -1),
        attrs,
        temperature_k=electronic_temperature,
        coordinate=rho,
        max_failure_fraction=0.0,
        source="sn2_scan",
    )
