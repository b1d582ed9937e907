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
from efa.errors import DataError

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
#: Toy NaCl Born repulsion ``C exp(−r / (β (R_i + R_j)))``: ``C`` (eV) and ``β``.
BORN_REPULSION = 30.0
BORN_BETA = 0.25
#: The neutral, non-polar atom of ``far_fragment`` (argon): no charge, Born radius 1.88 Å.
NEUTRAL_NUMBER = 18
NEUTRAL_RADIUS = 1.88


def ion_tables() -> tuple[np.ndarray, np.ndarray]:
    """Charges (e) and Born radii (Å) indexed by atomic number, ``(19,)`` each: Na⁺ and Cl⁻ of
    the toy NaCl potential and the neutral Ar of ``far_fragment`` (0 for the other elements)."""
    charge, radius = np.zeros(19), np.zeros(19)
    for z in NACL_CHARGE:
        charge[z], radius[z] = NACL_CHARGE[z], NACL_RADIUS[z]
    radius[NEUTRAL_NUMBER] = NEUTRAL_RADIUS
    return charge, radius


def screened_coulomb_born_pair(
    alpha: float = 0.5, repulsion: float = BORN_REPULSION, beta: float = BORN_BETA
) -> PairFunction:
    """``u(r) = k_e q_i q_j erf(α r) / r + C exp(−r / (β (R_i + R_j)))`` with charges and radii
    of :func:`ion_tables`: the pair term of the paper's toy NaCl clusters and of
    ``far_fragment``. The screening (α = ``alpha`` Å⁻¹) keeps the attraction of two ions finite
    at contact, so that the repulsion gives Na–Cl a bond (about 2.4 Å); beyond ``3/α`` it is
    the bare Coulomb term to 1e-4."""
    charge, radius = ion_tables()

    def pair(r, zi, zj):
        qq = COULOMB_EV_ANGSTROM * charge[zi] * charge[zj]
        decay = beta * (radius[zi] + radius[zj])
        born = repulsion * np.exp(-r / decay)
        screened = erf(alpha * r) / r
        d_screened = (2 * alpha / np.sqrt(np.pi)) * np.exp(-((alpha * r) ** 2)) / r - screened / r
        return qq * screened + born, qq * d_screened - born / decay

    return pair


def coulomb_born_pair(repulsion: float = BORN_REPULSION, beta: float = BORN_BETA) -> PairFunction:
    """``u(r) = k_e q_i q_j / r + C exp(−r / (β (R_i + R_j)))`` with charges and radii of
    :func:`ion_tables` (C = ``repulsion`` eV): bare Coulomb between point charges plus a Born
    repulsion, the pair term of the toy NaCl crystal and of ``far_fragment``."""
    charge, radius = ion_tables()

    def pair(r, zi, zj):
        qq = COULOMB_EV_ANGSTROM * charge[zi] * charge[zj]
        decay = beta * (radius[zi] + radius[zj])
        born = repulsion * np.exp(-r / decay)
        return qq / r + born, -qq / r**2 - born / decay

    return pair


def nacl_cluster(
    num_structures: int,
    seed: int,
    diameter: float = 10.0,
    num_atoms: int = 39,
    min_distance: float = 1.8,
    alpha: float = 0.5,
    repulsion: float = BORN_REPULSION,
    beta: float = BORN_BETA,
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
    energy, forces = pair_energy_forces(
        positions, numbers, screened_coulomb_born_pair(alpha, repulsion, beta)
    )
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


#: The far atoms of ``far_fragment``: Na⁺ and Cl⁻ (charged) and Ar (neutral, non-polar).
FAR_SPECIES = (11, 17, NEUTRAL_NUMBER)
#: Level of theory of ``far_fragment`` and of the far-fragment probe's structures.
FAR_FRAGMENT_LEVEL = (
    "analytic: 1/2 sum_{i!=j} [k_e q_i q_j erf(0.5 r)/r + 30 exp(-r/(0.25 (R_i+R_j)))] eV, "
    "q = +1/-1/0 e, R = 0.95/1.81/1.88 Å for Na/Cl/Ar"
)


def far_fragment_molecules(
    rng: np.random.Generator,
    count: int,
    min_bond: float = 2.3,
    max_bond: float = 2.8,
    min_angle: float = 90.0,
    max_angle: float = 180.0,
) -> np.ndarray:
    """Positions ``(count, 3, 3)`` (Å) of Na⁺Cl⁻Na⁺ molecules (atoms Na, Cl, Na), centred on
    their centroid and randomly oriented: both Na–Cl bonds ~ U[min_bond, max_bond] Å, the
    Na–Cl–Na angle ~ U[min_angle, max_angle] degrees."""
    bonds = rng.uniform(min_bond, max_bond, (count, 2))
    angle = np.radians(rng.uniform(min_angle, max_angle, count))
    first = random_unit_vectors(rng, count)
    other = random_unit_vectors(rng, count)
    normal = other - np.sum(other * first, axis=1, keepdims=True) * first
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    second = np.cos(angle)[:, None] * first + np.sin(angle)[:, None] * normal
    positions = np.stack(
        [bonds[:, :1] * first, np.zeros((count, 3)), bonds[:, 1:] * second], axis=1
    )
    return positions - positions.mean(axis=1, keepdims=True)


def far_fragment_geometry(
    molecules: np.ndarray, far_number: np.ndarray, far_position: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(S, 4, 3)`` and atomic numbers ``(S, 4)`` of Na⁺Cl⁻Na⁺ ``molecules``
    ``(S, 3, 3)`` (:func:`far_fragment_molecules`) with one far atom ``far_number`` (S,) at
    ``far_position`` (S, 3) Å."""
    positions = np.concatenate([molecules, far_position[:, None]], axis=1)
    count = len(far_number)
    numbers = np.concatenate(
        [np.broadcast_to([11, 17, 11], (count, 3)), np.asarray(far_number)[:, None]], axis=1
    )
    return positions, numbers.astype(np.int32)


def far_fragment_labels(
    positions: np.ndarray, numbers: np.ndarray, attrs: dict, source: str, **fields
) -> xr.Dataset:
    """The canonical data set of ``far_fragment`` geometries with exact energies and forces of
    :func:`screened_coulomb_born_pair`; the total charge is the sum of the ions' charges.
    ``fields`` go on to :func:`efa.data.schema.make_dataset` (``coordinate``, ``labels``)."""
    energy, forces = pair_energy_forces(positions, numbers, screened_coulomb_born_pair())
    charge, _ = ion_tables()
    return make_dataset(
        positions,
        numbers,
        energy,
        forces,
        total_charge=charge[numbers].sum(axis=1).round().astype(np.int32),
        attrs={**attrs, "level_of_theory": FAR_FRAGMENT_LEVEL},
        source=source,
        **fields,
    )


def far_fragment(
    num_structures: int,
    seed: int,
    min_distance: float = 5.0,
    max_distance: float = 18.0,
) -> xr.Dataset:
    """A charged molecule Na⁺Cl⁻Na⁺ and one far atom: Na⁺, Cl⁻ or a neutral, non-polar Ar.

    The molecule (:func:`far_fragment_molecules`: bonds 2.3–2.8 Å, angle 90–180°, random
    orientation) is centred at the origin; the far atom, drawn from Na/Cl/Ar with equal
    probability, sits at distance D ~ U[min_distance, max_distance] Å from the origin in a
    random direction. Labels are exact:

        E = ½ Σ_{i≠j} [k_e q_i q_j erf(α r_ij) / r_ij + C exp(−r_ij / (β (R_i + R_j)))]

    with q = +1, −1, 0 e and R = 0.95, 1.81, 1.88 Å for Na, Cl, Ar, α = 0.5 Å⁻¹, C = 30 eV,
    β = 0.25 (the paper's toy NaCl potential, plus Ar). Beyond 6 Å the screening is below 1e-4,
    so a far ion pulls on the molecule with the Coulomb force k_e q q' / D²; the far Ar only
    repels at contact. A model with real long range responds to the one and not to the
    other (the ``far_fragment`` probe).
    """
    if not 3.0 < min_distance <= max_distance:
        raise DataError(
            f"far_fragment: expected 3 < min_distance <= max_distance (Å; the molecule reaches "
            f"2.8 Å from its centre); got {min_distance}, {max_distance}"
        )
    rng = np.random.default_rng(seed)
    molecules = far_fragment_molecules(rng, num_structures)
    far_number = rng.choice(FAR_SPECIES, num_structures)
    distance = rng.uniform(min_distance, max_distance, num_structures)
    far_position = distance[:, None] * random_unit_vectors(rng, num_structures)
    positions, numbers = far_fragment_geometry(molecules, far_number, far_position)
    params = dict(
        num_structures=num_structures,
        seed=seed,
        min_distance=min_distance,
        max_distance=max_distance,
    )
    attrs = generator_attrs(
        "far_fragment",
        params,
        FAR_FRAGMENT_LEVEL,
        "A Na+Cl-Na+ molecule and a far Na+, Cl- or neutral Ar; real against spurious long range.",
    )
    return far_fragment_labels(positions, numbers, attrs, "far_fragment")
