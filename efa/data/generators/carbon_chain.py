"""Carbon chains C₁₀H₂ and C₁₀H₃⁺ labelled with GFN2-xTB: charge transfer along ~12 Å.

Adding a proton at one end of the polyyne H–(C≡C)₅–H changes the partial charges and forces at
the *other* end (the 4G-HDNNP charge-transfer example, SCIENCE.md §2–3). The chain lies on z
with alternating triple/single bonds; C₁₀H₃⁺ carries two H on the first carbon (H–C–H 120°,
in the xz plane) instead of one.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from efa.data.generators.geometry import rattle
from efa.data.generators.provenance import generator_attrs
from efa.data.generators.xtb import CITATION_XTB, LEVEL_OF_THEORY, xtb_dataset

#: Idealised bond lengths (Å): C≡C, C–C, terminal C–H, C–H of the protonated CH₂ end.
TRIPLE_CC, SINGLE_CC, CH_POLYYNE, CH_PROTONATED = 1.21, 1.35, 1.06, 1.09
NUM_CARBONS = 10


def carbon_chain_geometry(protonated: bool) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers and positions (Å): 10 carbons, the far-end H, then the H of the first carbon."""
    bonds = [TRIPLE_CC if k % 2 == 0 else SINGLE_CC for k in range(NUM_CARBONS - 1)]
    carbons = np.zeros((NUM_CARBONS, 3))
    carbons[1:, 2] = np.cumsum(bonds)
    far_h = carbons[-1] + [0.0, 0.0, CH_POLYYNE]
    if protonated:
        half = np.deg2rad(60.0)
        near_h = [carbons[0] + CH_PROTONATED * np.array([s * np.sin(half), 0.0, -np.cos(half)])
                  for s in (1.0, -1.0)]
    else:
        near_h = [carbons[0] - [0.0, 0.0, CH_POLYYNE]]
    positions = np.vstack([carbons, far_h, near_h])
    return np.array([6] * NUM_CARBONS + [1] * (1 + len(near_h))), positions


def carbon_chain(
    num_structures: int, seed: int, rattle_stddev: float = 0.05,
    electronic_temperature: float = 300.0, max_failure_fraction: float = 0.01,
) -> xr.Dataset:
    """Rattled C₁₀H₂ (total charge 0) and C₁₀H₃⁺ (+1), each with probability ½."""
    rng = np.random.default_rng(seed)
    protonated = rng.random(num_structures) < 0.5
    numbers, positions = [], []
    for flag in protonated:
        z, r = carbon_chain_geometry(bool(flag))
        numbers.append(z)
        positions.append(rattle(rng, r, rattle_stddev))
    params = dict(num_structures=num_structures, seed=seed, rattle_stddev=rattle_stddev,
                  electronic_temperature=electronic_temperature)
    attrs = generator_attrs(
        "carbon_chain", params, LEVEL_OF_THEORY,
        "Rattled C10H2 and C10H3+ chains (long-range charge transfer).", citation=CITATION_XTB,
    )
    return xtb_dataset(numbers, positions, protonated.astype(int), attrs,
                       temperature_k=electronic_temperature,
                       max_failure_fraction=max_failure_fraction, source="carbon_chain")


def carbon_chain_probe(
    num_pairs: int, seed: int, rattle_stddev: float = 0.05, electronic_temperature: float = 300.0,
) -> xr.Dataset:
    """Pairs (C₁₀H₂, C₁₀H₃⁺) that differ only at the protonated end.

    Pair k is structures 2k (neutral) and 2k+1 (cation): the same rattled carbons and far-end H;
    the cation's first carbon carries two ideal CH₂ hydrogens instead of the rattled one. Extra
    variable ``pair`` (S,) holds k. The probe compares charges and forces at the far end (atoms
    9 and 10) within each pair.
    """
    rng = np.random.default_rng(seed)
    neutral_z, neutral_r = carbon_chain_geometry(False)
    cation_z, cation_r = carbon_chain_geometry(True)
    shared = NUM_CARBONS + 1  # carbons and far-end H
    numbers, positions = [], []
    for _ in range(num_pairs):
        rattled = rattle(rng, neutral_r, rattle_stddev)
        cation = np.vstack([rattled[:shared], rattled[0] + (cation_r[shared:] - cation_r[0])])
        numbers += [neutral_z, cation_z]
        positions += [rattled, cation]
    params = dict(num_pairs=num_pairs, seed=seed, rattle_stddev=rattle_stddev,
                  electronic_temperature=electronic_temperature)
    attrs = generator_attrs(
        "carbon_chain_probe", params, LEVEL_OF_THEORY,
        "Pairs C10H2 / C10H3+ identical except at the protonated end (charge-transfer probe).",
        units={"pair": "1"}, citation=CITATION_XTB,
    )
    return xtb_dataset(numbers, positions, np.tile([0, 1], num_pairs), attrs,
                       temperature_k=electronic_temperature,
                       extra={"pair": np.repeat(np.arange(num_pairs), 2)},
                       max_failure_fraction=0.0, source="carbon_chain_probe")
