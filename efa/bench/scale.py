"""``efa bench scale``: energy + forces of one large structure, local model vs EFA model.

Systems: one structure of ``N`` atoms (``N ∈ {10³, 10⁴, 10⁵, 10⁶}`` by default, ``--sizes``),
uniform at random in a cube at the constant density ρ = 0.1 Å⁻³ (the atom density of liquid
water, 3 × 0.033 molecules/Å³), so the cube edge is ``(N/ρ)^{1/3}`` (215 Å at 10⁶ atoms) and an
atom away from the surface has ``ρ·(4/3)π·r_c³ ≈ 52`` neighbours within the 5 Å cutoff.
Elements are drawn from H, C, N, O.

Models: those of the default suite's ``two_atoms`` experiment (config/config.yaml), built with
:func:`efa.models.build_model`: 64 features, 2 layers, degree 0, cutoff 5 Å; the EFA model adds
EFA in layers 0 and 1 with ``F_qk = 32``, ``F_v = 16``, 50 Lebedev points, ``b_max = π`` and
``r_max`` = the cube diagonal ``√3·(N/ρ)^{1/3}`` (so every pair is inside the frequency range).
Parameters are randomly initialised (seed 0, the same for every ``N``); cost does not depend
on their values. ``--runs LOCAL_RUN EFA_RUN`` times two trained runs instead (their own options
and best parameters, e.g. the default suite's ``results/runs/two_atoms/{local,efa}/seed0``;
the EFA run keeps its trained ``r_max``).

``--periodic`` times the periodic case instead: the same cube as one periodic cell (pbc along
every axis, neighbour pairs across its faces from vesin), and an EFA model that evaluates
periodic EFA on an FFT mesh (:mod:`efa.nn.mesh`): ``r_max`` = 10 Å (largest shell
``b_max / r_max`` = 0.31 Å⁻¹), envelope σ = 0.1 Å⁻¹ (the kernel reaches about 30 Å, images
included) and a mesh spacing of 2.5 Å, so the mesh grows with the cell and the cost stays
linear in ``N`` (up to the FFT's logarithm). Its results go to the group ``scale_periodic``.

Per ``N``, measured in float32 after compilation and warm-up:

- neighbour list: the cell-list search that :func:`efa.data.packing.pack` runs
  (:func:`efa.data.pairs.structure_pairs`), median and spread;
- forward energy + forces (``E`` and ``F = −∂E/∂r``, one jitted call), median and spread, the
  two models called in alternation so that both see the same background load;
- XLA's planned peak memory of that call (arguments + outputs + temporaries) per atom, the
  stable memory figure; the process peak RSS is process-wide and only grows.

A model is run at a size only if its planned peak fits ``--max-memory-gib`` (default: 90 % of
the memory available at that moment); otherwise it is compiled only, its planned peak is
reported and its timing is missing (the targets that need it are not met).

Targets, each printed with its measured value:

1. EFA cost ≤ 2 × local cost at every ``N``;
2. scaling exponent (log-log slope of time against ``N``) ≤ 1.1 from the smallest to the
   largest size run (10³ → 10⁶ by default), for the local model and for the EFA model;
3. memory per atom (XLA peak / ``N``) does not grow: at no size more than 20 % above its value
   at 10⁴ atoms, up to the largest ``N`` (from the smallest size if fewer than two are ≥ 10⁴),
   for each model. Fixed buffers (chunks of atoms, of the grid, of the mesh) make it fall with
   ``N`` at first; what must not happen is memory growing faster than the atoms.

Outputs (:func:`efa.bench.timing.write_report`): group ``scale`` (``scale_periodic``) of
``<output-dir>/bench.zarr`` and the table ``<output-dir>/bench/scale.md``
(``scale_periodic.md``); the last line printed is ``targets met: K/N``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
from collections.abc import Callable

import numpy as np

from efa.bench.options import add_output_dir, count, positive_number
from efa.errors import ConfigError

DENSITY = 0.1  # atoms per Å³
SIZES = (1_000, 10_000, 100_000, 1_000_000)
ELEMENTS = (1, 6, 7, 8)
MODELS = ("local", "efa")
MODEL_OPTIONS = {"features": 64, "num_iterations": 2, "max_degree": 0, "cutoff": 5.0}
EFA_OPTIONS = {
    "efa_layers": (0, 1),
    "qk_features": 32,
    "v_features": 16,
    "lebedev_num": 50,
    "max_frequency": math.pi,
}
#: Periodic EFA of the ``--periodic`` case (replacing ``max_length`` = the cube diagonal).
PERIODIC_EFA_OPTIONS = {"max_length": 10.0, "envelope_width": 0.1, "mesh_spacing": 2.5}
MAX_COST_RATIO = 2.0
MAX_SCALING_EXPONENT = 1.1
MEMORY_FLAT_FROM = 10_000
MAX_MEMORY_GROWTH = 1.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``efa bench scale``."""
    parser.add_argument(
        "--sizes",
        type=count(1),
        nargs="+",
        default=list(SIZES),
        help="atoms N of the single structures (default: %(default)s)",
    )
    parser.add_argument(
        "--max-memory-gib",
        type=positive_number,
        help="run a model at a size only if XLA plans at most this peak (default: 90%% of the "
        "memory available when the case starts); larger cases are compiled, not run",
    )
    parser.add_argument(
        "--runs",
        nargs=2,
        metavar=("LOCAL_RUN", "EFA_RUN"),
        help="time these trained run directories instead of randomly initialised models",
    )
    parser.add_argument(
        "--periodic",
        action="store_true",
        help="time the cube as one periodic cell, EFA on an FFT mesh (group 'scale_periodic')",
    )
    add_output_dir(
        parser,
        "group 'scale' (or 'scale_periodic') of bench.zarr and bench/scale.md (scale_periodic.md)",
    )


def cube_side(num_atoms: int) -> float:
    """Edge (Å) of the cube holding ``num_atoms`` atoms at :data:`DENSITY`."""
    return (num_atoms / DENSITY) ** (1.0 / 3.0)


def make_structure(num_atoms: int, seed: int = 0, periodic: bool = False):
    """One :class:`~efa.data.structures.Structures` entry: ``num_atoms`` atoms uniform in a cube
    (with ``periodic``, the cube is a periodic cell)."""
    from efa.data.structures import Structures

    rng = np.random.default_rng(seed)
    side = cube_side(num_atoms)
    cell = {"cell": side * np.eye(3)[None], "pbc": np.ones((1, 3), bool)} if periodic else {}
    return Structures(
        positions=rng.uniform(0.0, side, size=(1, num_atoms, 3)),
        atomic_numbers=rng.choice(np.array(ELEMENTS, np.int32), size=(1, num_atoms)),
        atom_mask=np.ones((1, num_atoms), bool),
        energy=np.zeros(1),
        forces=np.zeros((1, num_atoms, 3)),
        total_charge=np.zeros(1, np.int32),
        **cell,
    )


def model_options(name: str, num_atoms: int, periodic: bool = False) -> dict:
    """Options of model ``name`` (``local`` or ``efa``) for a cube of ``num_atoms`` atoms (a
    periodic cell with ``periodic``)."""
    if name == "local":
        return dict(MODEL_OPTIONS)
    if periodic:
        return {**MODEL_OPTIONS, **EFA_OPTIONS, **PERIODIC_EFA_OPTIONS}
    diagonal = math.sqrt(3.0) * cube_side(num_atoms)
    return {**MODEL_OPTIONS, **EFA_OPTIONS, "max_length": diagonal}


def energy_and_forces(model):
    """Jitted ``(params, batch) → (E (B,), F (N, 3))`` with ``F = −∂(Σ E)/∂r``."""
    import jax

    def total_energy(positions, params, batch):
        energies = model.apply(params, batch._replace(positions=positions))
        return energies.sum(), energies

    def evaluate(params, batch):
        gradient, energies = jax.grad(total_energy, has_aux=True)(batch.positions, params, batch)
        return energies, -gradient

    return jax.jit(evaluate)


def exponent(time_small: float, time_large: float, size_small: int, size_large: int) -> float:
    """Log-log slope ``log(t₂/t₁) / log(N₂/N₁)`` (1 for linear scaling)."""
    return math.log(time_large / time_small) / math.log(size_large / size_small)


def _initial_params(name: str):
    """Random parameters of model ``name`` (seed 0); their shapes depend neither on ``N`` nor on
    periodicity."""
    import jax

    from efa.data.packing import BucketShape, pack
    from efa.models import build_model

    structure = make_structure(8)
    batch = pack(structure, BucketShape(8, 56), 1, MODEL_OPTIONS["cutoff"])
    model = build_model(name, model_options(name, 8))
    return jax.jit(model.init)(jax.random.PRNGKey(0), batch)


def _random_models(periodic: bool = False) -> tuple[dict, Callable]:
    """Parameters and ``build(name, N)`` of the randomly initialised default-size models."""
    from efa.models import build_model

    params = {name: _initial_params(name) for name in MODELS}
    return params, lambda name, num_atoms: build_model(
        name, model_options(name, num_atoms, periodic)
    )


def _trained_models(run_dirs: list[str]) -> tuple[dict, Callable]:
    """Parameters and ``build(name, N)`` of trained runs (local first, then EFA)."""
    from efa.train.trained_model import load_trained

    trained = {name: load_trained(run_dir) for name, run_dir in zip(MODELS, run_dirs, strict=True)}
    params = {name: model.params for name, model in trained.items()}
    return params, lambda name, num_atoms: trained[name].model


def _measure_size(
    num_atoms: int,
    params: dict,
    build: Callable,
    memory_limit: int | None,
    periodic: bool = False,
) -> dict:
    """Neighbour list and per-model figures for one cube of ``num_atoms`` atoms (one periodic
    cell with ``periodic``).

    Returns ``{"num_pairs": P, "neighbours": Timing, model: (Timing | None, XLA peak bytes,
    process peak RSS bytes)}``. A model whose planned XLA peak exceeds ``memory_limit``
    (default: 90 % of the memory available now) is compiled but not run: its timing is None.
    """
    import jax

    from efa.bench.timing import (
        available_memory_bytes,
        compiled_peak_bytes,
        process_peak_rss_bytes,
        time_alternating,
        time_calls,
    )
    from efa.data.packing import BucketShape, pack, reciprocal_options
    from efa.data.pairs import max_reciprocal, periodic_structure_pairs, structure_pairs

    cutoff = MODEL_OPTIONS["cutoff"]
    structure = make_structure(num_atoms, periodic=periodic)
    if periodic:
        search = functools.partial(periodic_structure_pairs, structure, cutoff)
        num_pairs = search()[0][0].size  # (dst, src, shift) of the one cell
    else:
        search = functools.partial(
            structure_pairs, structure.positions, structure.atom_mask, cutoff
        )
        num_pairs = search()[0].size  # (dst, src)
    figures = {
        "num_pairs": num_pairs,
        "neighbours": time_calls(search, budget_s=2.0, max_repeats=5),
    }
    calls, peaks = {}, {}
    for name in MODELS:
        model = build(name, num_atoms)
        reciprocal = reciprocal_options(model)
        vectors = max_reciprocal(structure, reciprocal["reciprocal_cutoff"])
        shape = BucketShape(num_atoms, num_pairs, vectors)
        batch = jax.device_put(pack(structure, shape, 1, cutoff, **reciprocal))
        if float(model.cutoff) != cutoff:
            raise ConfigError(
                f"{name} model: cutoff {model.cutoff} Å, expected the benchmark's {cutoff} Å"
            )
        compiled = energy_and_forces(model).lower(params[name], batch).compile()
        peaks[name] = compiled_peak_bytes(compiled)
        limit = memory_limit or int(0.9 * available_memory_bytes())
        if peaks[name] <= limit:
            calls[name] = functools.partial(compiled, params[name], batch)
        else:
            print(
                f"{name}, N={num_atoms}: not run, planned peak {peaks[name] / 2**30:.2f} GiB "
                f"> limit {limit / 2**30:.2f} GiB",
                flush=True,
            )
    timings = time_alternating(calls, budget_s=3.0, max_repeats=50) if calls else {}
    for name in MODELS:
        figures[name] = (timings.get(name), peaks[name], process_peak_rss_bytes())
    return figures


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the tables and targets, write its store group; returns 0."""
    import xarray as xr
    from tqdm import tqdm

    from efa.bench.timing import publish
    from efa.report.tables import markdown_table

    sizes = sorted(set(args.sizes))
    limit = int(args.max_memory_gib * 2**30) if args.max_memory_gib else None
    periodic = bool(args.periodic)
    params, build = _trained_models(args.runs) if args.runs else _random_models(periodic)
    figures = {}
    for num_atoms in tqdm(sizes, desc="bench scale", unit="size"):
        figures[num_atoms] = _measure_size(num_atoms, params, build, limit, periodic)

    def seconds(name, n):
        timing = figures[n][name][0]
        return timing.median_s if timing else math.nan

    ratios = {n: seconds("efa", n) / seconds("local", n) for n in sizes}
    rows = []
    for n in sizes:
        search = figures[n]["neighbours"]
        for name in MODELS:
            timing, peak, rss = figures[n][name]
            rows.append(
                [
                    name,
                    n,
                    f"{figures[n]['num_pairs'] / n:.1f}",
                    f"{search.median_s * 1e3:.4g} ({search.spread()})",
                    f"{timing.median_s * 1e3:.4g}" if timing else "not run (memory)",
                    timing.spread() if timing else "",
                    f"{timing.median_s / n * 1e6:.3g}" if timing else "",
                    f"{ratios[n]:.2f}" if name == "efa" and math.isfinite(ratios[n]) else "",
                    f"{peak / 2**20:.1f}",
                    f"{peak / n / 2**10:.2f}",
                    f"{rss / 2**30:.2f}",
                ]
            )
    table = markdown_table(
        [
            "model",
            "N",
            "pairs/atom",
            "neighbour list ms (min–max)",
            "E+F median ms",
            "min–max ms",
            "µs/atom",
            "EFA/local",
            "peak MiB (XLA)",
            "peak KiB/atom",
            "RSS GiB (process)",
        ],
        rows,
    )
    measured = {name: [n for n in sizes if figures[n][name][0]] for name in MODELS}
    slope_rows = []
    for name in MODELS:
        steps = list(itertools.pairwise(measured[name]))
        if len(measured[name]) > 2:
            steps.append((measured[name][0], measured[name][-1]))
        slope_rows += [
            [name, f"{a} → {b}", f"{exponent(seconds(name, a), seconds(name, b), a, b):.3f}"]
            for a, b in steps
        ]
    slope_table = markdown_table(["model", "N range", "scaling exponent"], slope_rows)

    targets, lines = [], []
    compared = [n for n in sizes if math.isfinite(ratios[n])]
    worst = max(compared, key=ratios.get, default=None)
    targets.append(
        worst is not None and len(compared) == len(sizes) and ratios[worst] <= MAX_COST_RATIO
    )
    missing = [n for n in sizes if n not in compared]
    lines.append(
        "EFA / local cost of energy + forces at every N: "
        + (
            f"at most {ratios[worst]:.2f} (N={worst}; all: "
            + ", ".join(f"{ratios[n]:.2f}" for n in compared)
            + ")"
            if worst
            else "not measured"
        )
        + (f", not measured at N={missing}" if missing else "")
        + f" (target ≤ {MAX_COST_RATIO:g})"
    )
    for name in MODELS:
        run_sizes = measured[name]
        if len(run_sizes) < 2:
            targets.append(False)
            lines.append(
                f"scaling exponent of {name}: not measured (fewer than two sizes run) "
                f"(target ≤ {MAX_SCALING_EXPONENT})"
            )
            continue
        small, large = run_sizes[0], run_sizes[-1]
        slope = exponent(seconds(name, small), seconds(name, large), small, large)
        targets.append(slope <= MAX_SCALING_EXPONENT)
        lines.append(
            f"scaling exponent of {name}, {small} → {large} atoms: {slope:.3f} "
            f"(target ≤ {MAX_SCALING_EXPONENT})"
        )
    flat = [n for n in sizes if n >= MEMORY_FLAT_FROM]
    flat = flat if len(flat) > 1 else sizes
    for name in MODELS:
        per_atom = [figures[n][name][1] / n for n in flat]
        growth = max(per_atom) / per_atom[0]
        targets.append(len(flat) > 1 and growth <= MAX_MEMORY_GROWTH)
        lines.append(
            f"XLA peak memory per atom of {name}, {flat[0]} → {flat[-1]} atoms: "
            + ", ".join(f"{x / 2**10:.2f}" for x in per_atom)
            + f" KiB; largest / at {flat[0]} atoms {growth:.2f} (target ≤ {MAX_MEMORY_GROWTH})"
        )

    if args.runs:
        models = f"the trained runs {args.runs[0]} and {args.runs[1]}"
    elif periodic:
        models = (
            "64 features, 2 layers, degree 0; periodic EFA in both layers (F_qk=32, F_v=16, "
            "r_max = {max_length} Å, σ = {envelope_width} 1/Å, FFT mesh of spacing "
            "{mesh_spacing} Å); random parameters".format(**PERIODIC_EFA_OPTIONS)
        )
    else:
        models = (
            "64 features, 2 layers, degree 0; EFA in both layers (F_qk=32, F_v=16, 50 Lebedev "
            "points, r_max = cube diagonal); random parameters"
        )

    def per_model(value):
        return (("num_atoms", "model"), [[value(n, name) for name in MODELS] for n in sizes])

    def timing_field(field, missing=math.nan):
        return per_model(lambda n, name: getattr(figures[n][name][0], field, missing))

    def neighbours(field):
        return ("num_atoms", [getattr(figures[n]["neighbours"], field) for n in sizes])

    dataset = xr.Dataset(
        {
            "num_pairs": ("num_atoms", [figures[n]["num_pairs"] for n in sizes]),
            "neighbours_median_s": neighbours("median_s"),
            "neighbours_min_s": neighbours("min_s"),
            "neighbours_max_s": neighbours("max_s"),
            "median_s": timing_field("median_s"),
            "min_s": timing_field("min_s"),
            "max_s": timing_field("max_s"),
            "repeats": timing_field("repeats", 0),
            "peak_bytes": per_model(lambda n, name: figures[n][name][1]),
            "process_peak_rss_bytes": per_model(lambda n, name: figures[n][name][2]),
        },
        coords={"num_atoms": sizes, "model": list(MODELS)},
        attrs={"density_per_a3": DENSITY, "models": models, "periodic": int(periodic)},
    )
    system = "One periodic cubic cell" if periodic else "One cube"
    setup = (
        f"{system} of N atoms at {DENSITY} Å⁻³, cutoff {MODEL_OPTIONS['cutoff']} Å; {models}; "
        "float32; median of repeated calls after warm-up."
    )
    publish(
        "scale_periodic" if periodic else "scale",
        dataset,
        "Energy + forces of one large periodic cell"
        if periodic
        else "Energy + forces of one large structure",
        setup,
        [table, slope_table],
        lines,
        targets,
        args.output_dir,
    )
    return 0
