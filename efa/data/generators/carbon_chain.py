"""Carbon chains C₁₀H₂ and C₁₀H₃⁺ labelled with GFN2-xTB: charge transfer along ~12 Å.

Adding a proton at one end of the polyyne H–(C≡C)₅–H changes the partial charges and forces at
the *other* end (the 4G-HDNNP charge-transfer example, docs/science.md). The chain lies on z
with alternating triple/single bonds; C₁₀H₃⁺ carries two H on the first carbon (H–C–H 120°,
in the xz plane) instead of one.

Size of the effect and of the rattling. Protonation shifts the force on the far carbon (atom 9)
by ΔF_z ≈ +0.26 eV/Å and on the far H (atom 10) by ≈ +0.15 eV/Å, while the rattled bonds
themselves spread those force components with a standard deviation roughly proportional to the
rattle σ: ≈ 7 eV/Å (atom 9) at σ = 0.05 Å, ≈ 2.7 eV/Å at σ = 0.02 Å (25 probe pairs, GFN2-xTB).
The default σ = 0.02 Å keeps the effect at ~1/10 instead of ~1/30 of the force spread, so that
a model which can see the proton learns the far-end change within a laptop training budget.

Which end is protonated carries no information for an E(3)-invariant, permutation-invariant
model: the chain protonated at the other end is the same structure rotated by 180° about an
axis perpendicular to it, so the proton is always put on the first carbon.
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
    """Atomic numbers and positions (Å): 10 carbons, the far-end H, then the H of the first
    carbon."""
    bonds = [TRIPLE_CC if k % 2 == 0 else SINGLE_CC for k in range(NUM_CARBONS - 1)]
    carbons = np.zeros((NUM_CARBONS, 3))
    carbons[1:, 2] = np.cumsum(bonds)
    far_h = carbons[-1] + [0.0, 0.0, CH_POLYYNE]
    if protonated:
        half = np.deg2rad(60.0)
        near_h = [
            carbons[0] + CH_PROTONATED * np.array([s * np.sin(half), 0.0, -np.cos(half)])
            for s in (1.0, -1.0)
        ]
    else:
        near_h = [carbons[0] - [0.0, 0.0, CH_POLYYNE]]
    positions = np.vstack([carbons, far_h, near_h])
    return np.array([6] * NUM_CARBONS + [1] * (1 + len(near_h))), positions


#: Default standard deviation (Å) of the Gaussian displacement of every coordinate.
RATTLE_STDDEV = 0.02


def chain_pairs(
    rng: np.random.Generator, num_pairs: int, rattle_stddev: float, rattle_protons: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Atomic numbers and positions of ``num_pairs`` pairs (C₁₀H₂, C₁₀H₃⁺) sharing the far end.

    Pair k is entries 2k (neutral) and 2k+1 (cation). With ``r = r⁰ + σ·N(0, 1)`` the rattled
    neutral chain (every coordinate), the cation takes ``r`` for the 10 carbons and the far-end
    H, and puts its two CH₂ hydrogens at ``r_C0 + d_±`` (``+ σ·N(0, 1)`` if ``rattle_protons``),
    ``d_±`` being the ideal C–H offsets of :func:`carbon_chain_geometry`.
    """
    neutral_z, neutral_r = carbon_chain_geometry(False)
    cation_z, cation_r = carbon_chain_geometry(True)
    shared = NUM_CARBONS + 1  # carbons and far-end H
    offsets = cation_r[shared:] - cation_r[0]
    numbers, positions = [], []
    for _ in range(num_pairs):
        neutral = rattle(rng, neutral_r, rattle_stddev)
        protons = neutral[0] + offsets
        if rattle_protons:
            protons = rattle(rng, protons, rattle_stddev)
        numbers += [neutral_z, cation_z]
        positions += [neutral, np.vstack([neutral[:shared], protons])]
    return numbers, positions


def carbon_chain(
    num_structures: int,
    seed: int,
    rattle_stddev: float = RATTLE_STDDEV,
    electronic_temperature: float = 300.0,
    max_failure_fraction: float = 0.01,
) -> xr.Dataset:
    """Rattled pairs C₁₀H₂ (total charge 0) / C₁₀H₃⁺ (+1) that share the carbons and far-end H.

    Structures 2k and 2k+1 are pair k of :func:`chain_pairs` with rattled CH₂ hydrogens; an odd
    ``num_structures`` drops the last cation. Both charge states thus appear with the same
    far-end geometry: the far-end force difference between them (≈ 0.3 eV/Å over atoms 9 and
    10) is the training signal of the charge transfer, not buried under independently rattled
    bonds (those forces spread by ≈ 2.7 eV/Å at σ = 0.02 Å).
    """
    rng = np.random.default_rng(seed)
    numbers, positions = chain_pairs(rng, (num_structures + 1) // 2, rattle_stddev, True)
    numbers, positions = numbers[:num_structures], positions[:num_structures]
    charges = np.arange(num_structures) % 2
    params = dict(
        num_structures=num_structures,
        seed=seed,
        rattle_stddev=rattle_stddev,
        electronic_temperature=electronic_temperature,
    )
    attrs = generator_attrs(
        "carbon_chain",
        params,
        LEVEL_OF_THEORY,
        "Rattled C10H2 / C10H3+ pairs sharing the carbons and far-end H (long-range charge "
        "transfer).",
        citation=CITATION_XTB,
    )
    return xtb_dataset(
        numbers,
        positions,
        charges,
        attrs,
        temperature_k=electronic_temperature,
        max_failure_fraction=max_failure_fraction,
        source="carbon_chain",
    )


def carbon_chain_probe(
    num_pairs: int,
    seed: int,
    rattle_stddev: float = RATTLE_STDDEV,
    electronic_temperature: float = 300.0,
) -> xr.Dataset:
    """Pairs (C₁₀H₂, C₁₀H₃⁺) that differ only at the protonated end.

    Pair k is structures 2k (neutral) and 2k+1 (cation) of :func:`chain_pairs`: the same rattled
    carbons and far-end H; the cation's first carbon carries two ideal CH₂ hydrogens instead of
    the rattled one. Extra variable ``pair`` (S,) holds k. The probe compares charges and forces
    at the far end (atoms 9 and 10) within each pair.
    """
    numbers, positions = chain_pairs(np.random.default_rng(seed), num_pairs, rattle_stddev, False)
    params = dict(
        num_pairs=num_pairs,
        seed=seed,
        rattle_stddev=rattle_stddev,
        electronic_temperature=electronic_temperature,
    )
    attrs = generator_attrs(
        "carbon_chain_probe",
        params,
        LEVEL_OF_THEORY,
        "Pairs C10H2 / C10H3+ identical except at the protonated end (charge-transfer probe).",
        units={"pair": "1"},
        citation=CITATION_XTB,
    )
    return xtb_dataset(
        numbers,
        positions,
        np.tile([0, 1], num_pairs),
        attrs,
        temperature_k=electronic_temperature,
        extra={"pair": np.repeat(np.arange(num_pairs), 2)},
        max_failure_fraction=0.0,
        source="carbon_chain_probe",
    )
