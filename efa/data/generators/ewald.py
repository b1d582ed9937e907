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

from efa.data.generators.analytic import COULOMB_EV_ANGSTROM, NACL_RADIUS

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


def _energy_function(numbers, cell0, born, alpha, real_cutoff, recip_cutoff):
    """``E(positions, strain)`` (eV) as a JAX function for fixed lattice-point sets."""
    from efa.data.generators.analytic import NACL_CHARGE

    charges = np.array([NACL_CHARGE[int(z)] for z in numbers], dtype=np.float64)
    radii = np.array([NACL_RADIUS[int(z)] for z in numbers], dtype=np.float64)
    repulsion, beta = born
    num_atoms = len(numbers)
    real_n = _lattice_points(cell0, max(real_cutoff, 0.0))
    reciprocal_basis = 2.0 * np.pi * np.linalg.inv(cell0).T
    bounds = [int(np.ceil(recip_cutoff * np.linalg.norm(a) / (2 * np.pi))) + 1 for a in cell0]
    axes = [np.arange(-b, b + 1) for b in bounds]
    recip_n = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    recip_n = recip_n[np.any(recip_n != 0, axis=1)]
    recip_n = recip_n[np.linalg.norm(recip_n @ reciprocal_basis, axis=1) <= recip_cutoff * 1.5]
    same = np.eye(num_atoms, dtype=bool)
    at_origin = np.all(real_n == 0, axis=1)
    decay = beta * (radii[:, None] + radii[None, :])
    qq = charges[:, None] * charges[None, :]
    total_charge = charges.sum()
    k_e = COULOMB_EV_ANGSTROM

    def energy(positions, strain):
        deform = jnp.eye(3) + strain
        cell = jnp.asarray(cell0) @ deform
        r = positions @ deform
        volume = jnp.abs(jnp.linalg.det(cell))
        shifts = jnp.asarray(real_n, jnp.float64) @ cell  # (R, 3)
        d = r[:, None, None, :] - r[None, :, None, :] + shifts[None, None]  # (N, N, R, 3)
        exclude = jnp.asarray(same[:, :, None] & at_origin[None, None, :])
        squared = jnp.sum(d**2, axis=-1)
        distance = jnp.sqrt(jnp.where(exclude, 1.0, squared))
        real = jnp.where(exclude, 0.0, jax.scipy.special.erfc(alpha * distance) / distance)
        e_real = 0.5 * k_e * jnp.sum(qq[:, :, None] * real)
        born_terms = jnp.where(exclude, 0.0, jnp.exp(-distance / decay[:, :, None]))
        e_born = 0.5 * repulsion * jnp.sum(born_terms)
        g = jnp.asarray(recip_n, jnp.float64) @ (2.0 * jnp.pi * jnp.linalg.inv(cell).T)
        g2 = jnp.sum(g**2, axis=-1)
        phase = r @ g.T  # (N, G)
        structure_re = jnp.sum(charges[:, None] * jnp.cos(phase), axis=0)
        structure_im = jnp.sum(charges[:, None] * jnp.sin(phase), axis=0)
        factor = jnp.exp(-g2 / (4 * alpha**2)) / g2
        e_recip = (
            k_e * (2 * jnp.pi / volume) * jnp.sum(factor * (structure_re**2 + structure_im**2))
        )
        e_self = -k_e * alpha / math.sqrt(math.pi) * float(np.sum(charges**2))
        e_back = -k_e * jnp.pi * total_charge**2 / (2 * volume * alpha**2)
        return e_real + e_recip + e_self + e_back + e_born

    return energy


def ewald(
    positions: np.ndarray,
    numbers: np.ndarray,
    cell: np.ndarray,
    repulsion: float = 30.0,
    beta: float = 0.25,
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
    with jax.enable_x64(True):
        energy = _energy_function(
            numbers, cell, (repulsion, beta), alpha, real_cutoff, recip_cutoff
        )
        zero = jnp.zeros((3, 3), jnp.float64)
        r = jnp.asarray(positions)
        value, (gradient, strain_gradient) = jax.value_and_grad(energy, argnums=(0, 1))(r, zero)
        volume = abs(np.linalg.det(cell))
        return float(value), -np.asarray(gradient), np.asarray(strain_gradient) / volume
