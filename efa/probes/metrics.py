"""Probe metrics: pure functions of reference and predicted curves of one model.

Notation: a probe has ``P`` points (structures) with scan coordinate ``x_k``, separation ``s_k``
(Å; the gap between the fragments, see :mod:`efa.probes.geometry`), reference energies ``E_k``
and predicted energies ``Ê_k`` (eV), forces ``F_k``, ``F̂_k`` of shape ``(P, A, 3)`` (eV/Å)
with an atom mask ``(P, A)``. Every function returns a flat ``{metric name: float}`` mapping;
a metric that cannot be computed (no points beyond the cutoff, no reference forces) is ``nan``.
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import Bool, Float

#: ``|ΔE|`` (eV) below which a reach curve counts as flat.
REACH_TOLERANCE_EV = 1e-3
#: Path forces smaller than this fraction of the largest reference path force count as zero
#: when counting sign flips.
FLIP_TOLERANCE = 1e-6

Curve = Float[np.ndarray, " P"]
Forces = Float[np.ndarray, "P A 3"]
Mask = Bool[np.ndarray, "P A"]


def _mean_or_nan(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else math.nan


def energy_errors(reference: Curve, predicted: Curve) -> dict[str, float]:
    """``energy_mae = mean_k |Ê_k − E_k|`` and the offset-free ``energy_mae_aligned``.

    ``energy_mae_aligned = mean_k |(Ê_k − mean Ê) − (E_k − mean E)|`` compares profile shapes
    when the reference carries an arbitrary energy offset (per-element shifted scans).
    """
    error = predicted - reference
    return {
        "energy_mae": float(np.mean(np.abs(error))),
        "energy_mae_aligned": float(np.mean(np.abs(error - error.mean()))),
    }


def forces_mae(reference: Forces, predicted: Forces, atom_mask: Mask) -> float:
    """Mean ``|F̂ − F|`` over the Cartesian components of real atoms; nan if the reference has
    no forces."""
    if not np.any(reference[atom_mask]):
        return math.nan
    return float(np.mean(np.abs(predicted - reference)[atom_mask]))


def path_forces(forces: Forces, positions: Float[np.ndarray, "P A 3"], coordinate: Curve) -> Curve:
    """Generalised force along the scan, ``f_k = Σ_i F_ik · ∂r_i/∂x`` at point ``k``.

    The tangent ``∂r/∂x`` is taken by finite differences of the scan (``np.gradient``); for a
    smooth path ``f = −dE/dx``. For two atoms at distance ``x`` it is the bond force.
    """
    tangent = np.gradient(positions, coordinate, axis=0)
    return np.einsum("pax,pax->p", forces, tangent)


def sign_flips(values: Curve, scale: float) -> int:
    """Sign changes along ``values``, ignoring entries with ``|v| ≤ FLIP_TOLERANCE · scale``."""
    signs = np.sign(values[np.abs(values) > FLIP_TOLERANCE * scale])
    return int(np.count_nonzero(signs[1:] != signs[:-1]))


def total_variation(values: Curve) -> float:
    """``Σ_k |v_{k+1} − v_k|``."""
    return float(np.sum(np.abs(np.diff(values))))


def dissociation_metrics(
    separation: Curve,
    reference: Curve,
    predicted: Curve,
    reference_path_forces: Curve | None,
    predicted_path_forces: Curve,
    cutoff: float,
) -> dict[str, float]:
    """Metrics of a dissociation curve (points ordered along the scan).

    - ``energy_mae_beyond_cutoff``: mean ``|Ê − E|`` over points with ``s_k > cutoff`` (the
      asymptotic region a local model cannot see);
    - ``dissociation_energy_error``: ``D̂ − D`` with ``D = E(far) − min_k E_k`` and "far" the point
      of largest separation;
    - ``force_sign_flips``: sign changes of the predicted path force (the reference has its own
      count, ``force_sign_flips_reference``; a smooth diatomic curve has one);
    - ``energy_jumps``: ``TV(Ê) − TV(E)``, the excess total variation of the predicted curve
      (eV): zero for a curve that follows the reference's ups and downs, positive for spurious
      jumps or wiggles, negative for a curve flatter than the reference.
    """
    far = int(np.argmax(separation))
    beyond = separation > cutoff
    scale = (
        float(np.max(np.abs(reference_path_forces)))
        if reference_path_forces is not None
        else float(np.max(np.abs(predicted_path_forces)))
    )
    return {
        "energy_mae_beyond_cutoff": _mean_or_nan(np.abs(predicted - reference)[beyond]),
        "dissociation_energy_error": float(
            (predicted[far] - predicted.min()) - (reference[far] - reference.min())
        ),
        "force_sign_flips": float(sign_flips(predicted_path_forces, scale)),
        "force_sign_flips_reference": (
            float(sign_flips(reference_path_forces, scale))
            if reference_path_forces is not None
            else math.nan
        ),
        "energy_jumps": total_variation(predicted) - total_variation(reference),
    }


def torsion_metrics(reference: Curve, predicted: Curve) -> dict[str, float]:
    """Barrier and shape of a torsion profile.

    - ``barrier``/``barrier_reference``: ``max_k E_k − min_k E_k`` (eV);
    - ``barrier_error``: ``B̂ − B``; ``barrier_relative_error``: ``|B̂ − B| / B``;
    - ``profile_correlation``: Pearson correlation of ``Ê`` and ``E`` (0 for a flat prediction,
      which carries no profile).
    """
    barrier = float(np.ptp(predicted))
    barrier_reference = float(np.ptp(reference))
    flat = np.std(predicted) == 0 or np.std(reference) == 0
    correlation = 0.0 if flat else float(np.corrcoef(predicted, reference)[0, 1])
    return {
        "barrier": barrier,
        "barrier_reference": barrier_reference,
        "barrier_error": barrier - barrier_reference,
        "barrier_relative_error": abs(barrier - barrier_reference) / barrier_reference,
        "profile_correlation": correlation,
    }


def charge_transfer_metrics(
    reference_energy_change: Float[np.ndarray, " K"],
    predicted_energy_change: Float[np.ndarray, " K"],
    reference_force_change: Float[np.ndarray, "K F 3"],
    predicted_force_change: Float[np.ndarray, "K F 3"],
) -> dict[str, float]:
    """Errors of the change caused by protonating one end, over ``K`` pairs and ``F`` far atoms.

    With ``ΔE_k = E(cation_k) − E(neutral_k)`` and ``ΔF_k`` the change of the far-end forces
    (flattened to ``3F`` components, Euclidean norm ``‖·‖``):

    - ``energy_change_error``: ``mean_k |ΔÊ_k − ΔE_k|`` (eV);
    - ``far_force_change_reference``: ``mean_k ‖ΔF_k‖`` (eV/Å), the size of the effect;
    - ``far_force_change_predicted``: ``mean_k ‖ΔF̂_k‖``;
    - ``far_force_change_error``: ``mean_k ‖ΔF̂_k − ΔF_k‖``;
    - ``far_force_change_relative_error``: error / reference; a model that predicts no change
      scores 1.
    """
    count = reference_force_change.shape[0]
    reference_norm = np.linalg.norm(reference_force_change.reshape(count, -1), axis=1)
    predicted_norm = np.linalg.norm(predicted_force_change.reshape(count, -1), axis=1)
    error = np.linalg.norm(
        (predicted_force_change - reference_force_change).reshape(count, -1), axis=1
    )
    return {
        "energy_change_error": float(
            np.mean(np.abs(predicted_energy_change - reference_energy_change))
        ),
        "far_force_change_reference": float(reference_norm.mean()),
        "far_force_change_predicted": float(predicted_norm.mean()),
        "far_force_change_error": float(error.mean()),
        "far_force_change_relative_error": float(error.mean() / reference_norm.mean()),
    }


def far_fragment_metrics(
    reference_change: Float[np.ndarray, "K P F 3"],
    predicted_change: Float[np.ndarray, "K P F 3"],
    charged: Bool[np.ndarray, " K"],
) -> dict[str, float]:
    """How a molecule's forces respond to a far atom moved along ``K`` scans of ``P`` points.

    ``ΔF_kp`` is the change of the forces on the molecule's ``F`` atoms at point ``p`` of scan
    ``k`` against the scan's last (farthest) point, flattened to ``3F`` components with the
    Euclidean norm ``‖·‖``; scans with a charged far atom form ``C``, those with a neutral one
    ``N``, and ``R = Σ_{C,p} ‖ΔF_kp‖`` is the size of the physical (Coulomb) response:

    - ``far_response_reference``: ``R / (|C| P)`` (eV/Å);
    - ``charged_response_error``: ``Σ_{C,p} ‖ΔF̂ − ΔF‖ / R``; a model that feels nothing scores 1;
    - ``neutral_response``: ``Σ_{N,p} ‖ΔF̂‖ / R``, the response to the neutral atom relative to
      the physical one; ``neutral_response_reference`` the same of the reference (short-range
      repulsion only, near zero);
    - ``neutral_response_error``: ``Σ_{N,p} ‖ΔF̂ − ΔF‖ / R``: spurious long range.
    """

    def norms(change: np.ndarray) -> np.ndarray:  # (K, P)
        return np.linalg.norm(change.reshape(*change.shape[:2], -1), axis=-1)

    reference = norms(reference_change)
    predicted = norms(predicted_change)
    error = norms(predicted_change - reference_change)
    response = reference[charged].sum()
    neutral = ~charged
    if not response > 0:
        return dict.fromkeys(
            (
                "far_response_reference",
                "charged_response_error",
                "neutral_response",
                "neutral_response_reference",
                "neutral_response_error",
            ),
            math.nan,
        )
    return {
        "far_response_reference": float(response / reference[charged].size),
        "charged_response_error": float(error[charged].sum() / response),
        "neutral_response": float(predicted[neutral].sum() / response),
        "neutral_response_reference": float(reference[neutral].sum() / response),
        "neutral_response_error": float(error[neutral].sum() / response),
    }


def reach_distance(
    separation: Curve, energy: Curve, tolerance: float = REACH_TOLERANCE_EV
) -> float:
    """Largest separation where ``|E_k − E_far|`` exceeds ``tolerance`` (the first point if none).

    ``E_far`` is the energy at the largest separation: beyond the returned distance the curve is
    flat to within ``tolerance``.
    """
    far = int(np.argmax(separation))
    varying = np.abs(energy - energy[far]) > tolerance
    return float(separation[varying].max()) if varying.any() else float(separation.min())


def reach_metrics(
    separation: Curve, reference: Curve, predicted: Curve, receptive_field: float
) -> dict[str, float]:
    """How far a model's interaction reaches when a fragment moves away.

    ``ΔE_k = E_k − E_0`` is the energy change from the closest point ``k = 0``.

    - ``energy_change_mae``: ``mean_k |ΔÊ_k − ΔE_k|``;
    - ``change_beyond_receptive_field``: ``max |Ê_k − Ê_j|`` over points with ``s > R`` (``R`` the
      model's receptive field ``T·r_c``): exactly 0 for a local model; nan when fewer than two
      points lie beyond ``R`` (EFA models, ``R = inf``);
    - ``reach_distance``/``reach_distance_reference``: :func:`reach_distance` of ``Ê`` and ``E``.
    """
    beyond = separation > receptive_field
    change = predicted[beyond]
    return {
        "energy_change_mae": float(
            np.mean(np.abs((predicted - predicted[0]) - (reference - reference[0])))
        ),
        "change_beyond_receptive_field": float(np.ptp(change)) if change.size > 1 else math.nan,
        "reach_distance": reach_distance(separation, predicted),
        "reach_distance_reference": reach_distance(separation, reference),
    }


def paired_differences(
    energy: Curve, size: Curve, groups: np.ndarray, first: str, second: str
) -> tuple[Curve, Curve]:
    """``(sizes, E(first) − E(second))`` of the structures of two groups paired by size (each
    size once per group), sizes ascending."""
    sizes = np.unique(size)
    difference = np.array(
        [
            energy[(size == s) & (groups == first)][0] - energy[(size == s) & (groups == second)][0]
            for s in sizes
        ]
    )
    return sizes, difference


def finite_size_metrics(reference: Curve, predicted: Curve, per: Curve) -> dict[str, float]:
    """Errors of a size-dependent energy difference ``D(L)`` (a charged vacancy's energy, a
    cut-out's surface energy), with ``per`` the count it is divided by (1, or ion pairs):

    - ``size_difference_error``: ``mean_L |D̂(L) − D(L)| / per_L``;
    - ``size_trend_error``: ``|(D̂(L_max) − D̂(L_min)) − (D(L_max) − D(L_min))|`` of the
      per-count values: how well the model follows the size dependence (a local model misses
      the part that comes from beyond its receptive field);
    - ``size_trend_reference``: ``(D(L_max) − D(L_min))`` per count.
    """
    reference, predicted = reference / per, predicted / per
    return {
        "size_difference_error": float(np.mean(np.abs(predicted - reference))),
        "size_trend_error": float(
            abs((predicted[-1] - predicted[0]) - (reference[-1] - reference[0]))
        ),
        "size_trend_reference": float(reference[-1] - reference[0]),
    }


def vacuum_metrics(width: Curve, reference: Curve, predicted: Curve) -> dict[str, float]:
    """Slope of the energy of a charged slab against the vacuum width ``w`` (eV/Å), fitted by
    least squares over the points with ``w ≥ w_max/2`` (where the reference is linear: a
    charged sheet in a neutralising background): ``vacuum_slope``, ``vacuum_slope_reference``
    and ``vacuum_slope_error = |slope − reference slope|``."""
    far = width >= width.max() / 2
    slope = float(np.polyfit(width[far], predicted[far], 1)[0])
    slope_reference = float(np.polyfit(width[far], reference[far], 1)[0])
    return {
        "vacuum_slope": slope,
        "vacuum_slope_reference": slope_reference,
        "vacuum_slope_error": abs(slope - slope_reference),
    }
