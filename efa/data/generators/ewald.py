"""Exact energies, forces and stress of periodic point charges (Ewald summation) plus a
short-range Born–Mayer repulsion, for the periodic NaCl data sets.

Coulomb energy of charges ``q_i`` at ``r_i`` in a cell with lattice vectors ``a_1, a_2, a_3``
(rows of ``cell``), summed over all images ``R`` (``k_e = 14.3996 eV·Å``):

    E = (k_e/2) Σ'_{i,j,R} q_i q_j / |r_ij + R|

split with a Gaussian width ``α`` into parts that converge fast (``r_ij = r_i − r_j``):

    E_real  = (k_e/2) Σ'_{i,j,R} q_i q_j erfc(α |r_ij + R|) / |r_ij + R|
    E_recip = (k_e 2π / V) Σ_{g ≠ 0} exp(−g²/(4α²)) / g² · |Σ_j q_j exp(i g·r_j)|²
    E_self  = −k_e (α/√π) Σ_i q_i²
    E_back  = −k_e π Q² / (2 V α²)     (a uniform background neutralising a net charge Q)

``Σ'`` leaves out ``i = j`` at ``R = 0``; ``g`` runs over the reciprocal lattice. The total does
not depend on ``α``; :func:`ewald` picks ``α`` and both cutoffs from a tolerance. Forces are
``−∂E/∂r_i`` and the stress ``(1/V) ∂E/∂ε`` (cell and atoms strained together), both taken
analytically through JAX's automatic differentiation of the same expressions in float64.
The repulsion ``(1/2) Σ'_{i,j,R} C exp(−|r_ij + R| / (β (R_i + R_j)))`` (self-images
included) uses the NaCl toy potential's constants (:mod:`efa.data.generators.analytic`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from efa.data.generators.analytic import (
    BORN_BETA,
    BORN_REPULSION,
    COULOMB_EV_ANGSTROM,
    NACL_RADIUS,
)

#: Relative size of the neglected terms of each Ewald part.
TOLERANCE = 1e-12
#: The repulsion is summed out to this many of its longest decay lengths (e⁻²⁵ ≈ 1e-11).
BORN_DECAYS = 25.0


def _lattice_points(cell: np.ndarray, cutoff: float) -> np.ndarray:
    """Integer coordinates ``n`` of every lattice vector ``n @ cell`` shorter than ``cutoff``
    plus the largest distance between two atoms of the cell, ``Σ |a_i|`` (a superset; 2 Å more
    for atoms rattled out of the cell)."""
    diagonal = sum(np.linalg.norm(a) for a in cell) + 2.0
    reciprocal = np.linalg.inv(cell).T  # rows: the spacing of lattice planes is 1/|b_i|
    bounds = [int(np.ceil((cutoff + diagonal) * np.linalg.norm(b))) for b in reciprocal]
    axes = [np.arange(-b, b + 1) for b in bounds]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def ewald_parameters(cell: np.ndarray, num_atoms: int) -> tuple[float, float, float]:
    """``(α, real-space cutoff, reciprocal cutoff)`` for :data:`TOLERANCE`: the real and the
    reciprocal sums then cost about the same."""
    volume = abs(np.linalg.det(cell))
    alpha = math.sqrt(math.pi) * (num_atoms / volume**2) ** (1.0 / 6.0)
    p = math.sqrt(-math.log(TOLERANCE))
    return alpha, p / alpha, 2.0 * alpha * p


#: Integer coordinate of the padding entries of both sums: so far out that their terms are 0.
_FAR = 1.0e4


def _sum_sets(cell0, real_cutoff, recip_cutoff) -> tuple[np.ndarray, np.ndarray]:
    """Integer coordinates of the real-space lattice points and of the nonzero reciprocal
    vectors (a superset of those within the cutoffs, for strains of a few per cent), each
    padded to a power of two with points at :data:`_FAR`, whose terms vanish (``erfc``,
    ``exp(−g²/4α²)`` and the repulsion underflow to 0), so that cells of similar shape share
    one compiled function."""
    real_n = _lattice_points(cell0, max(real_cutoff, 0.0))
    reciprocal_basis = 2.0 * np.pi * np.linalg.inv(cell0).T
    bounds = [int(np.ceil(recip_cutoff * np.linalg.norm(a) / (2 * np.pi))) + 1 for a in cell0]
    axes = [np.arange(-b, b + 1) for b in bounds]
    recip_n = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    recip_n = recip_n[np.any(recip_n != 0, axis=1)]
    recip_n = recip_n[np.linalg.norm(recip_n @ reciprocal_basis, axis=1) <= recip_cutoff * 1.5]

    def padded(points):
        size = 1 << (len(points) - 1).bit_length()
        far = np.full((size - len(points), 3), _FAR)
        return np.concatenate([points.astype(np.float64), far])

    return padded(real_n), padded(recip_n)


def _energy(positions, strain, cell0, charges, decay, real_n, recip_n, alpha, repulsion):
    """Ewald energy plus Born repulsion (eV) of ``positions (N, 3)`` in ``cell0`` deformed by
    ``I + strain``, over the lattice points ``real_n (R, 3)`` and reciprocal vectors
    ``recip_n (G, 3)`` (integer coordinates); ``decay (N, N)`` is ``β (R_i + R_j)``."""
    k_e = COULOMB_EV_ANGSTROM
    deform = jnp.eye(3) + strain
    cell = cell0 @ deform
    r = positions @ deform
    volume = jnp.abs(jnp.linalg.det(cell))
    shifts = real_n @ cell  # (R, 3)
    d = r[:, None, None, :] - r[None, :, None, :] + shifts[None, None]  # (N, N, R, 3)
    same = jnp.eye(len(charges), dtype=bool)
    at_origin = jnp.all(real_n == 0, axis=1)
    exclude = same[:, :, None] & at_origin[None, None, :]
    distance = jnp.sqrt(jnp.where(exclude, 1.0, jnp.sum(d**2, axis=-1)))
    real = jnp.where(exclude, 0.0, jax.scipy.special.erfc(alpha * distance) / distance)
    qq = charges[:, None] * charges[None, :]
    e_real = 0.5 * k_e * jnp.sum(qq[:, :, None] * real)
    born_terms = jnp.where(exclude, 0.0, jnp.exp(-distance / decay[:, :, None]))
    e_born = 0.5 * repulsion * jnp.sum(born_terms)
    g = recip_n @ (2.0 * jnp.pi * jnp.linalg.inv(cell).T)
    g2 = jnp.sum(g**2, axis=-1)
    phase = r @ g.T  # (N, G)
    structure_re = jnp.sum(charges[:, None] * jnp.cos(phase), axis=0)
    structure_im = jnp.sum(charges[:, None] * jnp.sin(phase), axis=0)
    factor = jnp.exp(-g2 / (4 * alpha**2)) / g2
    e_recip = k_e * (2 * jnp.pi / volume) * jnp.sum(factor * (structure_re**2 + structure_im**2))
    e_self = -k_e * alpha / math.sqrt(math.pi) * jnp.sum(charges**2)
    e_back = -k_e * jnp.pi * jnp.sum(charges) ** 2 / (2 * volume * alpha**2)
    return e_real + e_recip + e_self + e_back + e_born


#: Energy and its gradients in positions and strain, compiled once per array shape.
_energy_and_gradients = jax.jit(jax.value_and_grad(_energy, argnums=(0, 1)))


def ewald(
    positions: np.ndarray,
    numbers: np.ndarray,
    cell: np.ndarray,
    repulsion: float = BORN_REPULSION,
    beta: float = BORN_BETA,
    alpha: float | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Energy (eV), forces ``(N, 3)`` (eV/Å) and stress ``(3, 3)`` (eV/Å³, ``(1/V) ∂E/∂ε``) of
    Na⁺/Cl⁻ ions (``numbers`` 11 and 17) in a periodic ``cell`` (rows, Å).

    ``alpha`` overrides the Ewald splitting width (the result does not depend on it).
    """
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    default_alpha, real_cutoff, recip_cutoff = ewald_parameters(cell, len(numbers))
    if alpha is not None:
        p = math.sqrt(-math.log(TOLERANCE))
        real_cutoff, recip_cutoff = p / alpha, 2.0 * alpha * p
    else:
        alpha = default_alpha
    # the Born tail must also vanish within the real-space cutoff
    real_cutoff = max(real_cutoff, BORN_DECAYS * beta * 2 * max(NACL_RADIUS.values()))
    from efa.data.generators.analytic import NACL_CHARGE

    charges = np.array([NACL_CHARGE[int(z)] for z in numbers], dtype=np.float64)
    radii = np.array([NACL_RADIUS[int(z)] for z in numbers], dtype=np.float64)
    real_n, recip_n = _sum_sets(cell, real_cutoff, recip_cutoff)
    with jax.enable_x64(True):
        value, (gradient, strain_gradient) = _energy_and_gradients(
            positions,
            np.zeros((3, 3)),
            cell,
            charges,
            beta * (radii[:, None] + radii[None, :]),
            real_n,
            recip_n,
            alpha,
            repulsion,
        )
        volume = abs(np.linalg.det(cell))
        return float(value), -np.asarray(gradient), np.asarray(strain_gradient) / volume


def coulomb_born_cluster(
    positions: np.ndarray,
    numbers: np.ndarray,
    repulsion: float = BORN_REPULSION,
    beta: float = BORN_BETA,
) -> tuple[float, np.ndarray]:
    """Energy (eV) and forces ``(N, 3)`` (eV/Å) of the same Na⁺/Cl⁻ ions without periodic
    images, by the direct pair sum ``(1/2) Σ_{i≠j} [k_e q_i q_j / r_ij + C exp(−r_ij /
    (β (R_i + R_j)))]`` (the cluster a crystal is cut into)."""
    from efa.data.generators.analytic import coulomb_born_pair, pair_energy_forces

    energy, forces = pair_energy_forces(
        np.asarray(positions, np.float64)[None],
        np.asarray(numbers)[None],
        coulomb_born_pair(repulsion, beta),
    )
    return float(energy[0]), forces[0]
