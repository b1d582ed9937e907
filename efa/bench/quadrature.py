"""``efa bench quadrature``: the accuracy–cost curve of EFA's two knobs.

EFA replaces the exact pairwise kernel ``j0(ω_k r_ij)`` by a Lebedev quadrature of
``cos(ω_k u·r_ij)`` over ``M`` directions (:mod:`efa.nn.quadrature`). Its two knobs are the grid
size ``M`` (``lebedev_num``) and the largest phase ``b_max = ω_max · r_max`` (``max_frequency``):
the frequencies are ``ω_k = linspace(0, b_max, F_qk/2) / r_max``, as in the layer. Cost grows
with ``M``; the quadrature error grows with ``b_max`` once it passes the bound that the grid
integrates safely. This benchmark measures both, through the operator a model runs
(:func:`efa.nn.erope_attention`), against the exact pairwise form of the same attention
(:func:`efa.nn.periodic.isolated_attention` without envelope, ``O(n²)`` and grid-free).

Inputs: scalar features, ``F_qk = 16``, ``F_v = 32``, features drawn from a standard normal
(seed 0), ``r_max`` = :data:`MAX_LENGTH`, float32 (as models run, so errors stop at float32
rounding, about 1e-6).

Errors, for every ``(M, b_max)`` (:data:`GRIDS` × :data:`MAX_FREQUENCIES` by default):

- **two-atom error**: :data:`TWO_ATOM_DISTANCES` two-atom structures at distances ``r`` evenly
  spaced in ``(0, r_max]``, each along its own random direction (so the error includes the
  loss of rotational invariance). With ``y`` the attention output and ``y°`` the exact one,
  the error is ``max_r ‖y(r) − y°(r)‖ / max_r ‖y°(r) − y°(∞)‖``: the quadrature error relative
  to the largest interaction between the two atoms (``y°(∞)``, each atom alone, is exact for
  any grid);
- **far-fragment error**: :data:`FRAGMENT_PAIRS` pairs of random 8-atom fragments (3 Å cubes)
  whose farthest atoms are ``r_max`` apart, each pair along a random direction. With
  ``Δy = y(both) − y(each alone)`` the interaction of a fragment with the other, the error is
  ``‖Δy − Δy°‖ / ‖Δy°‖`` over all atoms: how much of the long-range interaction is wrong.

Cost, for every ``M`` (``b_max`` changes no operation): forward + gradient with respect to the
positions of the operator on one structure of 1,024 atoms and on a batch of 64 structures of
16 atoms (the size of the suite's clusters), after compilation and warm-up, all grids timed in
alternation (median of repeats, :func:`efa.bench.timing.time_alternating`).

Targets, each printed with its measured value:

1. inside the tabulated bound (``b_max ≤`` :func:`efa.nn.quadrature.max_safe_frequency`), the
   two-atom error is at most :data:`MAX_SAFE_ERROR` for every grid measured;
2. cost is at most linear in the grid: forward + gradient time at the largest grid ≤
   :data:`MAX_COST_GROWTH` × ``M_max / M_min`` × that at the smallest, for each system.

Outputs (:func:`efa.bench.timing.publish`): group ``quadrature`` of ``<output-dir>/bench.zarr``,
the table ``<output-dir>/bench/quadrature.md`` and the figure
``<output-dir>/bench/quadrature.png`` (two-atom and far-fragment error against time, one curve
per ``b_max``, points inside the bound filled).
"""

from __future__ import annotations

import argparse
import functools
import math
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from efa.bench.options import add_output_dir, positive_number
from efa.data.generators.geometry import random_unit_vectors

QK_FEATURES = 16
V_FEATURES = 32
#: ``r_max`` (Å) of every case; errors depend on ``b_max`` only, not on the length scale.
MAX_LENGTH = 10.0
GRIDS = (50, 86, 110, 146, 194, 302, 590)
MAX_FREQUENCIES = (math.pi, 2.0 * math.pi, 4.0 * math.pi, 8.0 * math.pi)
TWO_ATOM_DISTANCES = 64
FRAGMENT_PAIRS = 16
FRAGMENT_ATOMS = 8
FRAGMENT_SIDE = 3.0
#: Systems whose forward + gradient is timed: (structures, atoms per structure).
COST_SYSTEMS = ((1, 1024), (64, 16))
#: Largest two-atom error inside the tabulated bound (target 1): a few float32 roundings.
MAX_SAFE_ERROR = 1e-5
#: Allowed excess of the cost growth over ``M_max / M_min`` (target 2).
MAX_COST_GROWTH = 1.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``efa bench quadrature``."""
    parser.add_argument(
        "--grids",
        type=int,
        nargs="+",
        default=list(GRIDS),
        metavar="M",
        help="Lebedev grid sizes with a tabulated bound (default: %(default)s)",
    )
    parser.add_argument(
        "--max-frequencies",
        type=positive_number,
        nargs="+",
        default=[b / math.pi for b in MAX_FREQUENCIES],
        metavar="B",
        help="b_max values in units of π (default: %(default)s)",
    )
    add_output_dir(
        parser, "group 'quadrature' of bench.zarr, bench/quadrature.md and bench/quadrature.png"
    )


def _frequencies(max_frequency: float) -> np.ndarray:
    """``ω_k = linspace(0, b_max, F_qk/2) / r_max`` (1/Å), as the EFA layer initialises them."""
    return (np.linspace(0.0, max_frequency, QK_FEATURES // 2) / MAX_LENGTH).astype(np.float32)


def two_atom_system(seed: int = 0) -> dict:
    """Positions ``(2S, 3)`` and segment ids ``(2S,)`` of :data:`TWO_ATOM_DISTANCES` two-atom
    structures at distances ``r_max·s/S`` (``s = 1 … S``) along random directions."""
    rng = np.random.default_rng(seed)
    count = TWO_ATOM_DISTANCES
    distances = MAX_LENGTH * np.arange(1, count + 1) / count
    second = distances[:, None] * random_unit_vectors(rng, count)
    positions = np.stack([np.zeros_like(second), second], axis=1).reshape(-1, 3)
    return dict(positions=positions, segments=np.repeat(np.arange(count), 2), atoms=2)


def far_fragment_system(seed: int = 0) -> dict:
    """:data:`FRAGMENT_PAIRS` pairs of random fragments of :data:`FRAGMENT_ATOMS` atoms, the
    second shifted along a random direction until its farthest atom from the first fragment is
    ``r_max`` away. Positions ``(2·F·n, 3)``; segment ids per pair, and per fragment."""
    rng = np.random.default_rng(seed)
    pairs, atoms = FRAGMENT_PAIRS, FRAGMENT_ATOMS
    structures = []
    for direction in random_unit_vectors(rng, pairs):
        first = rng.uniform(0.0, FRAGMENT_SIDE, (atoms, 3))
        second = rng.uniform(0.0, FRAGMENT_SIDE, (atoms, 3))

        def excess(shift, first=first, second=second, direction=direction):
            difference = second[None] + shift * direction - first[:, None]
            return np.linalg.norm(difference, axis=-1).max() - MAX_LENGTH

        # below r_max unshifted (the cubes' diagonal), beyond it at a shift of 2 r_max
        shift = brentq(excess, 0.0, 2.0 * MAX_LENGTH, xtol=1e-12)
        structures.append(np.concatenate([first, second + shift * direction]))
    return dict(
        positions=np.concatenate(structures),
        segments=np.repeat(np.arange(pairs), 2 * atoms),
        fragments=np.repeat(np.arange(2 * pairs), atoms),
        atoms=2 * atoms,
    )


def _features(num_atoms: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random scalar ``q, k (N, 1, 1, F_qk)`` and ``v (N, 1, 1, F_v)`` in float32."""
    rng = np.random.default_rng(seed)
    q, k = (rng.normal(size=(num_atoms, 1, 1, QK_FEATURES)).astype(np.float32) for _ in "qk")
    v = rng.normal(size=(num_atoms, 1, 1, V_FEATURES)).astype(np.float32)
    return q, k, v


@functools.cache
def _compiled_attention(exact: bool):
    """The operator under ``jax.jit`` (the segment count, size and grid static): EFA, or the
    exact pairwise form when ``exact``."""
    import jax

    from efa.nn import erope_attention
    from efa.nn.periodic import isolated_attention

    if exact:
        return jax.jit(
            lambda q, k, v, r, w, s, count, size, _: isolated_attention(
                q, k, v, r, w, s, count, 0.0, max_segment_size=size
            ),
            static_argnums=(6, 7, 8),
        )
    return jax.jit(
        lambda q, k, v, r, w, s, count, size, grid: erope_attention(
            q, k, v, r, w, s, count, grid, max_segment_size=size
        ),
        static_argnums=(6, 7, 8),
    )


def _attention(system, segments, size, frequencies, lebedev_num: int | None) -> np.ndarray:
    """The attention output ``(N, F_v)`` of ``system``'s atoms grouped by ``segments`` (``size``
    atoms each): EFA on a grid of ``lebedev_num`` points, or the exact pairwise form (None)."""
    q, k, v = _features(len(system["positions"]))
    positions = system["positions"].astype(np.float32)
    count = int(segments.max()) + 1
    attention = _compiled_attention(lebedev_num is None)
    y = attention(q, k, v, positions, frequencies, segments, count, size, lebedev_num)
    return np.asarray(y, np.float64).reshape(len(positions), -1)


def quadrature_errors(lebedev_num: int, max_frequency: float) -> tuple[float, float]:
    """``(two-atom error, far-fragment error)`` of EFA on a grid of ``lebedev_num`` points with
    ``b_max = max_frequency`` (module docstring)."""
    frequencies = _frequencies(max_frequency)
    pairs = two_atom_system()
    together = {
        grid: _attention(pairs, pairs["segments"], 2, frequencies, grid)
        for grid in (lebedev_num, None)
    }
    alone = _attention(pairs, np.arange(len(pairs["segments"])), 1, frequencies, None)
    per_structure = {
        name: np.linalg.norm(y.reshape(TWO_ATOM_DISTANCES, -1), axis=1)
        for name, y in {
            "error": together[lebedev_num] - together[None],
            "interaction": together[None] - alone,
        }.items()
    }
    two_atom = per_structure["error"].max() / per_structure["interaction"].max()

    fragments = far_fragment_system()
    interaction = {}
    for grid in (lebedev_num, None):
        both = _attention(fragments, fragments["segments"], fragments["atoms"], frequencies, grid)
        apart = _attention(fragments, fragments["fragments"], FRAGMENT_ATOMS, frequencies, grid)
        interaction[grid] = both - apart
    far = np.linalg.norm(interaction[lebedev_num] - interaction[None]) / np.linalg.norm(
        interaction[None]
    )
    return float(two_atom), float(far)


def grid_costs(grids) -> dict[tuple[int, int, int], object]:
    """Forward + gradient timings ``{(M, structures, atoms): Timing}`` of every grid on every
    system of :data:`COST_SYSTEMS`, compiled first and then timed in alternation."""
    from tqdm import tqdm

    from efa.bench.attention import efa_calls
    from efa.bench.timing import time_alternating

    calls = {
        (grid, structures, atoms): efa_calls(
            structures, atoms, QK_FEATURES, V_FEATURES, grid, operations=("forward+gradient",)
        )["forward+gradient"][0]
        for grid in tqdm(grids, desc="bench quadrature (compile)", unit="grid")
        for structures, atoms in COST_SYSTEMS
    }
    print("timing the grids in alternation …", flush=True)
    return time_alternating(calls, budget_s=2.0)


def _check_grids(grids) -> None:
    from efa.errors import ConfigError
    from efa.nn.quadrature import SAFE_MAX_FREQUENCY

    unknown = [grid for grid in grids if grid not in SAFE_MAX_FREQUENCY]
    if unknown:
        raise ConfigError(
            f"--grids {' '.join(map(str, unknown))}: expected Lebedev grid sizes with a "
            f"tabulated bound, from {sorted(SAFE_MAX_FREQUENCY)}"
        )


def quadrature_figure(dataset, path: Path) -> list[Path]:
    """Two panels, two-atom and far-fragment error against forward + gradient time at 1,024
    atoms (log-log): one curve per ``b_max`` through the grids in the order of ``M`` (a grid
    that costs less than a smaller one shows as a step back), filled where ``b_max`` is inside
    the grid's bound. Written as PNG and SVG (:func:`efa.report.figures.save_figure`)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from efa.report.figures import save_figure

    figure, axes = plt.subplots(1, 2, figsize=(10.0, 3.8), constrained_layout=True)
    structures, atoms = COST_SYSTEMS[0]
    seconds = dataset["median_s"].sel(system=f"{structures}x{atoms}").values * 1e3
    for axis, error, title in zip(
        axes, ("two_atom_error", "far_fragment_error"), ("two atoms", "far fragments")
    ):
        for b in dataset["max_frequency"].values:
            values = dataset[error].sel(max_frequency=b).values
            safe = dataset["within_bound"].sel(max_frequency=b).values.astype(bool)
            (line,) = axis.plot(
                seconds, values, "-", linewidth=1.0, label=f"b_max = {b / math.pi:g}π"
            )
            axis.plot(seconds[safe], values[safe], "o", color=line.get_color())
            axis.plot(seconds[~safe], values[~safe], "o", mfc="white", color=line.get_color())
            if b == dataset["max_frequency"].values[-1]:
                for grid, x, y in zip(dataset["lebedev_num"].values, seconds, values):
                    axis.annotate(
                        f"M={grid}", (x, y), textcoords="offset points", xytext=(3, 4), fontsize=7
                    )
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_yscale("log")
        axis.set_xlabel(f"forward + gradient, {atoms} atoms (ms)")
        axis.set_ylabel("relative error")
        axis.set_title(f"{title} (filled: inside the tabulated bound)")
    axes[0].legend(fontsize=8)
    return save_figure(figure, path)


def run(args: argparse.Namespace) -> int:
    """Measure errors and costs, print the table and targets, write store, table and figure."""
    import xarray as xr
    from tqdm import tqdm

    from efa.bench.timing import publish
    from efa.nn.quadrature import max_safe_frequency
    from efa.report.tables import markdown_table

    grids = sorted(set(args.grids))
    _check_grids(grids)
    frequencies = [b * math.pi for b in sorted(set(args.max_frequencies))]
    errors = {
        (grid, b): quadrature_errors(grid, b)
        for grid in tqdm(grids, desc="bench quadrature (errors)", unit="grid")
        for b in frequencies
    }
    costs = grid_costs(grids)
    within = {(grid, b): b <= max_safe_frequency(grid) * (1.0 + 1e-9) for grid, b in errors}

    error_table = markdown_table(
        ["M", "b_max", "inside bound", "two-atom error", "far-fragment error"],
        [
            [grid, f"{b / math.pi:g}π", "yes" if within[grid, b] else "no"]
            + [f"{e:.2e}" for e in errors[grid, b]]
            for grid in grids
            for b in frequencies
        ],
    )
    cost_table = markdown_table(
        ["M"] + [f"F+G ms, {s} × {a} atoms (min–max)" for s, a in COST_SYSTEMS],
        [
            [grid]
            + [
                f"{costs[grid, s, a].median_s * 1e3:.4g} ({costs[grid, s, a].spread()})"
                for s, a in COST_SYSTEMS
            ]
            for grid in grids
        ],
    )

    targets, lines = [], []
    safe = [key for key in errors if within[key]]
    worst = max(safe, key=lambda key: errors[key][0], default=None)
    targets.append(worst is not None and errors[worst][0] <= MAX_SAFE_ERROR)
    lines.append(
        "two-atom error inside the bound: "
        + (
            f"at most {errors[worst][0]:.2e} (M={worst[0]}, b_max={worst[1] / math.pi:g}π)"
            if worst
            else "no case inside the bound"
        )
        + f" (target ≤ {MAX_SAFE_ERROR:g})"
    )
    small, large = grids[0], grids[-1]
    for structures, atoms in COST_SYSTEMS:
        if len(grids) < 2:
            targets.append(False)
            lines.append(
                f"cost growth, {structures} × {atoms} atoms: not measured (one grid; "
                f"target ≤ {MAX_COST_GROWTH:g} × M_max/M_min)"
            )
            continue
        growth = costs[large, structures, atoms].median_s / costs[small, structures, atoms].median_s
        limit = MAX_COST_GROWTH * large / small
        targets.append(growth <= limit)
        lines.append(
            f"cost growth M={small} → {large}, {structures} × {atoms} atoms: {growth:.2f}× "
            f"(target ≤ {limit:.2f}× = {MAX_COST_GROWTH:g} × {large}/{small})"
        )

    def per_case(index):
        return (
            ("lebedev_num", "max_frequency"),
            [[errors[grid, b][index] for b in frequencies] for grid in grids],
        )

    def timing_field(field):
        return (
            ("lebedev_num", "system"),
            [[getattr(costs[(grid, *system)], field) for system in COST_SYSTEMS] for grid in grids],
        )

    dataset = xr.Dataset(
        {
            "two_atom_error": per_case(0),
            "far_fragment_error": per_case(1),
            "within_bound": (
                ("lebedev_num", "max_frequency"),
                [[within[grid, b] for b in frequencies] for grid in grids],
            ),
            "median_s": timing_field("median_s"),
            "min_s": timing_field("min_s"),
            "max_s": timing_field("max_s"),
        },
        coords={
            "lebedev_num": grids,
            "max_frequency": frequencies,
            "system": [f"{s}x{a}" for s, a in COST_SYSTEMS],
            "structures": ("system", [s for s, _ in COST_SYSTEMS]),
            "atoms": ("system", [a for _, a in COST_SYSTEMS]),
        },
        attrs={"qk_features": QK_FEATURES, "v_features": V_FEATURES, "max_length": MAX_LENGTH},
    )
    setup = (
        f"EFA operator, scalar features, F_qk={QK_FEATURES}, F_v={V_FEATURES}, "
        f"r_max={MAX_LENGTH:g} Å, ω_k = linspace(0, b_max, F_qk/2)/r_max; errors against the "
        "exact pairwise form; float32; forward + gradient w.r.t. positions, median of repeated "
        "calls after warm-up, grids timed in alternation."
    )
    figure = quadrature_figure(dataset, Path(args.output_dir) / "bench" / "quadrature.png")
    print(f"figure: {figure[0]}")
    publish(
        "quadrature",
        dataset,
        "Accuracy and cost of the quadrature",
        setup,
        [error_table, cost_table],
        lines,
        targets,
        args.output_dir,
    )
    return 0
