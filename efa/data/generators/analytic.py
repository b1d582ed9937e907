"""Analytic potentials with exact energies and forces (F = -∂E/∂r), as in docs/science.md.

Pair potentials are written as E = ½ Σ_{i≠j} u(r_ij; Z_i, Z_j) with forces
F_i = -Σ_{j≠i} u'(r_ij) (r_i - r_j) / r_ij. All lengths in Å, energies in eV.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy.special import erf

from efa.data.generators.geometry import random_ball_packing, random_unit_vectors
from efa.data.generators.provenance import generator_attrs
from efa.data.schema import make_dataset

#: Coulomb constant k_e = e² / (4π ε₀) in eV·Å.
COULOMB_EV_ANGSTROM = 14.3996

#: u(r, Z_i, Z_j) -> (u, du/dr), all arrays broadcast to (B, A, A).
PairFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def pair_energy_forces(
    positions: np.ndarray, atomic_numbers: np.ndarray, pair: PairFunction, max_pairs: int = 2**22
) -> tuple[np.ndarray, np.ndarray]:
    """Energies (S,) and forces (S, A, 3) of E = ½ Σ_{i≠j} u(r_ij; Z_i, Z_j).

    ``atomic_numbers`` (S, A) with 0 on padding; structures are processed in batches of at most
    ``max_pairs`` atom pairs to bound memory.
    """
    num_structures, num_atoms = atomic_numbers.shape
    energy = np.zeros(num_structures)
    forces = np.zeros(positions.shape)
    batch = max(1, max_pairs // num_atoms**2)
    off_diagonal = ~np.eye(num_atoms, dtype=bool)
    for start in range(0, num_structures, batch):
        part = slice(start, start + batch)
        z = atomic_numbers[part]
        delta = positions[part, :, None, :] - positions[part, None, :, :]  # r_i - r_j
        valid = (z[:, :, None] > 0) & (z[:, None, :] > 0) & off_diagonal
        distance = np.where(valid, np.linalg.norm(delta, axis=-1), 1.0)
        u, du = pair(distance, z[:, :, None], z[:, None, :])
        energy[part] = 0.5 * np.where(valid, u, 0.0).sum(axis=(1, 2))
        scale = np.where(valid, du / distance, 0.0)
        forces[part] = -np.einsum("bij,bijx->bix", scale, delta)
    return energy, forces


def two_atoms(
    num_structures: int, seed: int, r_min: float = 1.0, r_max: float = 10.0
) -> xr.Dataset:
    """Two atoms (Z = 1, 2) at distance r ~ U[r_min, r_max] Å in a random orientation.

    E(r) = (12/11) (r⁻¹² − r⁻¹) eV (minimum −1 eV at r = 1 Å); positions ±(r/2) û.
    """
    rng = np.random.default_rng(seed)
    distance = rng.uniform(r_min, r_max, num_structures)
    half = 0.5 * distance[:, None] * random_unit_vectors(rng, num_structures)
    positions = np.stack([-half, half], axis=1)
    numbers = np.broadcast_to(np.array([1, 2]), (num_structures, 2))

    def pair(r, zi, zj):
        return (12 / 11) * (r**-12 - r**-1), (12 / 11) * (-12 * r**-13 + r**-2)

    energy, forces = pair_energy_forces(positions, numbers, pair)
    params = dict(num_structures=num_structures, seed=seed, r_min=r_min, r_max=r_max)
    attrs = generator_attrs(
        "two_atoms",
        params,
        "analytic: E = (12/11)(r^-12 - r^-1) eV",
        "Two atoms (Z=1, 2) at random distance; tests interaction beyond the cutoff.",
    )
    return make_dataset(positions, numbers, energy, forces, attrs=attrs, source="two_atoms")


def cluster(
    num_structures: int,
    seed: int,
    num_atoms: int = 16,
    radius: float = 2.5,
    min_distance: float = 1.2,
) -> xr.Dataset:
    """Clusters of ``num_atoms`` identical atoms (Z = 1) packed randomly in a ball of ``radius`` Å.

    E = Σ_{i≠j} (r_ij⁻⁶ − r_ij⁻¹) eV over ordered pairs (= 2 Σ_{i<j}); all pair distances lie in
    [min_distance, 2·radius].
    """
    rng = np.random.default_rng(seed)
    positions = np.stack(
        [random_ball_packing(rng, num_atoms, radius, min_distance) for _ in range(num_structures)]
    )
    numbers = np.ones((num_structures, num_atoms), dtype=np.int32)

    def pair(r, zi, zj):  # u = 2 φ because E sums ordered pairs
        return 2 * (r**-6 - r**-1), 2 * (-6 * r**-7 + r**-2)

    energy, forces = pair_energy_forces(positions, numbers, pair)
    params = dict(
        num_structures=num_structures,
        seed=seed,
        num_atoms=num_atoms,
        radius=radius,
        min_distance=min_distance,
    )
    attrs = generator_attrs(
        "cluster",
        params,
        "analytic: E = sum_{i!=j} (r_ij^-6 - r_ij^-1) eV",
        f"3D clusters of {num_atoms} identical atoms in a ball of radius {radius} Å.",
    )
    return make_dataset(positions, numbers, energy, forces, attrs=attrs, source="cluster")


#: Toy NaCl parameters: charge (e) and radius R (Å) per atomic number.
NACL_CHARGE = {11: 1.0, 17: -1.0}
NACL_RADIUS = {11: 0.95, 17: 1.81}


def nacl_tables() -> tuple[np.ndarray, np.ndarray]:
    """Charges (e) and radii (Å) of Na and Cl indexed by atomic number, ``(18,)`` each (0 for
    the other elements)."""
    charge, radius = np.zeros(18), np.zeros(18)
    for z in NACL_CHARGE:
        charge[z], radius[z] = NACL_CHARGE[z], NACL_RADIUS[z]
    return charge, radius


def nacl_cluster(
    num_structures: int,
    seed: int,
    diameter: float = 10.0,
    num_atoms: int = 39,
    min_distance: float = 1.8,
    alpha: float = 0.5,
    repulsion: float = 30.0,
    beta: float = 0.25,
) -> xr.Dataset:
    """Toy NaCl clusters: ``num_atoms`` ions packed randomly in a sphere of ``diameter`` Å.

    E = ½ Σ_{i≠j} [k_e q_i q_j erf(α r)/r + C exp(−r / (β (R_i + R_j)))] with k_e = 14.3996 eV·Å,
    α = ``alpha`` Å⁻¹, C = ``repulsion`` eV, β = ``beta``, q = ±1 e and R = 0.95 / 1.81 Å for
    Na / Cl. Each cluster has ⌈N/2⌉ Na and ⌊N/2⌋ Cl in random order, so the total charge is
    N mod 2. The paper's sizes: D = 10/15/20/25/30 Å with N = 39/132/314/613/1060.
    """
    rng = np.random.default_rng(seed)
    species = np.array([11] * ((num_atoms + 1) // 2) + [17] * (num_atoms // 2))
    numbers = np.stack([rng.permutation(species) for _ in range(num_structures)])
    positions = np.stack(
        [
            random_ball_packing(rng, num_atoms, diameter / 2, min_distance)
            for _ in range(num_structures)
        ]
    )
    charge, size = nacl_tables()

    def pair(r, zi, zj):
        qq = COULOMB_EV_ANGSTROM * charge[zi] * charge[zj]
        decay = beta * (size[zi] + size[zj])
        born = repulsion * np.exp(-r / decay)
        screened = erf(alpha * r) / r
        d_screened = (2 * alpha / np.sqrt(np.pi)) * np.exp(-((alpha * r) ** 2)) / r - screened / r
        return qq * screened + born, qq * d_screened - born / decay

    energy, forces = pair_energy_forces(positions, numbers, pair)
    params = dict(
        num_structures=num_structures,
        seed=seed,
        diameter=diameter,
        num_atoms=num_atoms,
        min_distance=min_distance,
        alpha=alpha,
        repulsion=repulsion,
        beta=beta,
    )
    attrs = generator_attrs(
        "nacl_cluster",
        params,
        "analytic: E = 1/2 sum_{i!=j} [k_e q_i q_j erf(alpha r)/r + C exp(-r/(beta(R_i+R_j)))]",
        f"Toy NaCl clusters of {num_atoms} ions in a sphere of diameter {diameter} Å.",
    )
    total_charge = np.full(num_structures, num_atoms % 2)
    return make_dataset(
        positions,
        numbers,
        energy,
        forces,
        total_charge=total_charge,
        attrs=attrs,
        source="nacl_cluster",
    )


def charge_dipole(
    num_structures: int,
    seed: int,
    r_min: float = 2.0,
    r_max: float = 10.0,
    charge: float = 1.0,
    dipole_min: float = 0.5,
    dipole_max: float = 1.5,
    wall: float = 1.0,
) -> xr.Dataset:
    """A point charge (atom 0, Z = 1, charge q) and a point dipole (atom 1, Z = 2, dipole μ).

    With d = r₀ − r₁ (from the dipole to the charge) and r = |d|:

        E = k_e q (μ · d) / r³ + A / r¹²

    (the charge in the dipole's field plus a short-range wall A = ``wall`` eV·Å¹²), so
    F₀ = −k_e q [μ / r³ − 3 (μ · d) d / r⁵] + 12 A d / r¹⁴ and F₁ = −F₀. The dipole is an input,
    not a coordinate: ``dipoles`` (S, 2, 3) e·Å, zero on atom 0; |μ| ~ U[dipole_min, dipole_max],
    its direction and that of d uniform on the sphere, r ~ U[r_min, r_max]. The energy depends on
    the orientation of μ relative to d, so a model needs directional long-range information.
    """
    rng = np.random.default_rng(seed)
    distance = rng.uniform(r_min, r_max, num_structures)
    d = distance[:, None] * random_unit_vectors(rng, num_structures)
    mu = rng.uniform(dipole_min, dipole_max, num_structures)[:, None] * random_unit_vectors(
        rng, num_structures
    )
    positions = np.stack([0.5 * d, -0.5 * d], axis=1)
    r = distance[:, None]
    mu_d = np.sum(mu * d, axis=-1, keepdims=True)
    kq = COULOMB_EV_ANGSTROM * charge
    energy = (kq * mu_d / r**3 + wall / r**12)[:, 0]
    force_charge = -kq * (mu / r**3 - 3 * mu_d * d / r**5) + 12 * wall * d / r**14
    forces = np.stack([force_charge, -force_charge], axis=1)
    dipoles = np.stack([np.zeros_like(mu), mu], axis=1)
    params = dict(
        num_structures=num_structures,
        seed=seed,
        r_min=r_min,
        r_max=r_max,
        charge=charge,
        dipole_min=dipole_min,
        dipole_max=dipole_max,
        wall=wall,
    )
    attrs = generator_attrs(
        "charge_dipole",
        params,
        "analytic: E = k_e q (mu . d)/r^3 + A/r^12, d = r_charge - r_dipole",
        "A point charge (Z=1) and a point dipole (Z=2, input 'dipoles'); directional long range.",
        units={"dipoles": "e·Å"},
    )
    return make_dataset(
        positions,
        np.array([1, 2]),
        energy,
        forces,
        extra={"dipoles": dipoles},
        attrs=attrs,
        source="charge_dipole",
    )
