"""``efa bench attention``: cost of the EFA operator against system size and batching.

Cases (scalar features, ``F_qk = 16``, ``F_v = 32``, 50 Lebedev points, float32; atoms uniform in
cubes at a constant density of 0.1 Å⁻³, ``max_length`` = cube diagonal, ``b_max = π``):

- one structure of N ∈ {256, 1k, 4k, 16k, 65k} atoms: forward and forward + gradient w.r.t.
  positions;
- the same total atoms split into many small structures (512 × 32 atoms by default);
- naive O(N²) softmax attention of the same widths as the quadratic comparison (up to the
  largest N whose N × N matrices fit ``--softmax-max-atoms``);
- one structure of 1,000,000 atoms, forward + gradient (skip with ``--no-million``);
- with ``--orders``: forward + gradient in both linear contraction orders of the operator
  (``key_value`` and ``per_frequency``, see :func:`efa.nn.erope.contraction_order`) on the
  shapes of :data:`ORDER_CASES`, with the order ``contraction="auto"`` takes for each.

The EFA cases are all compiled first and then timed call by call in alternation (forward, then
forward + gradient), so a change of background load hits every case alike; the ratios below
compare medians from those same rounds.

Targets, each a ratio from the same run:
1. batched per-atom cost ≤ 1.3 × single-structure per-atom cost at the same total atoms;
2. scaling exponent of forward + gradient between 4k and 65k atoms ≤ 1.1;
3. per-atom cost at 65k atoms ≤ 1.1 × that at 16k, forward and forward + gradient (flat: the
   working set of a grid chunk grows with N);
4. one structure of 10⁶ atoms completes forward + gradient;
5. arithmetic rate of forward + gradient at the largest N ≥ 30 % of the measured float32
   matrix-product rate. Counted are the operator's matrix products: ``4·N·M·D_qk·D_v`` flops
   forward and three times that for forward + gradient.

Outputs (:func:`efa.bench.timing.write_report`): group ``attention`` of
``<output-dir>/bench.zarr`` and the table ``<output-dir>/bench/attention.md``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from efa.bench.options import add_output_dir, batch_shape, count
from efa.bench.scale import MAX_SCALING_EXPONENT, cube_side, exponent

QK_FEATURES = 16
V_FEATURES = 32
LEBEDEV_NUM = 50
SIZES = (256, 1024, 4096, 16384, 65536)
MILLION = 1_000_000
MAX_BATCHED_RATIO = 1.3
FLAT_SIZES = (16384, 65536)
MAX_PER_ATOM_GROWTH = 1.1
MIN_MATMUL_FRACTION = 0.30
#: Shapes of ``--orders``: (structures, atoms per structure, F_qk, F_v, Lebedev points).
ORDER_CASES = (
    (1, 4096, QK_FEATURES, V_FEATURES, LEBEDEV_NUM),  # this benchmark's single structure
    (1, 4096, 16, 8, 50),
    (1, 4096, 16, 16, 194),
    (32, 64, 16, 16, 86),
    (8, 314, 128, 8, 194),  # the paper's NaCl network (efa bench train --config nacl)
)
LINEAR_ORDERS = ("key_value", "per_frequency")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``efa bench attention``."""
    parser.add_argument(
        "--sizes",
        type=count(1),
        nargs="+",
        default=list(SIZES),
        help="atoms of the single-structure cases (default: %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=batch_shape,
        default="512x32",
        help="many-structure case as STRUCTURESxATOMS; its total is compared with one "
        "structure of the same size (default: %(default)s)",
    )
    parser.add_argument(
        "--softmax-max-atoms",
        type=count(1),
        default=16384,
        help="largest N for the O(N²) softmax comparison (default: %(default)s)",
    )
    parser.add_argument(
        "--no-million",
        dest="million",
        action="store_false",
        help="skip the 1,000,000-atom forward + gradient",
    )
    parser.add_argument(
        "--orders",
        action="store_true",
        help="also time the two linear contraction orders (key_value, per_frequency) on the "
        "shapes of efa.bench.attention.ORDER_CASES and show which one 'auto' takes",
    )
    add_output_dir(parser, "group 'attention' of bench.zarr and bench/attention.md")


def make_inputs(
    num_structures: int,
    atoms_per_structure: int,
    seed: int = 0,
    qk_features: int = QK_FEATURES,
    v_features: int = V_FEATURES,
) -> dict:
    """EFA inputs for ``num_structures`` cubes of ``atoms_per_structure`` atoms each."""
    rng = np.random.default_rng(seed)
    num_atoms = num_structures * atoms_per_structure
    side = cube_side(atoms_per_structure)
    max_length = side * math.sqrt(3.0)
    return dict(
        q=rng.normal(size=(num_atoms, 1, 1, qk_features)).astype(np.float32),
        k=rng.normal(size=(num_atoms, 1, 1, qk_features)).astype(np.float32),
        v=rng.normal(size=(num_atoms, 1, 1, v_features)).astype(np.float32),
        positions=rng.uniform(0.0, side, size=(num_atoms, 3)).astype(np.float32),
        frequencies=(np.linspace(0.0, math.pi, qk_features // 2) / max_length).astype(np.float32),
        segment_ids=np.repeat(np.arange(num_structures, dtype=np.int32), atoms_per_structure),
    )


def efa_functions(
    num_structures: int,
    atoms_per_structure: int,
    lebedev_num: int = LEBEDEV_NUM,
    contraction: str = "auto",
):
    """Jitted ``forward(inputs)`` and ``forward_and_gradient(inputs)`` (w.r.t. positions)."""
    import jax
    import jax.numpy as jnp

    from efa.nn import erope_attention

    def forward(q, k, v, positions, frequencies, segment_ids):
        return erope_attention(
            q,
            k,
            v,
            positions,
            frequencies,
            segment_ids,
            num_structures,
            lebedev_num,
            max_segment_size=atoms_per_structure,
            contraction=contraction,
        )

    def loss(positions, q, k, v, frequencies, segment_ids):
        return jnp.sum(forward(q, k, v, positions, frequencies, segment_ids))

    return jax.jit(forward), jax.jit(jax.value_and_grad(loss))


def softmax_functions():
    """Naive O(N²) softmax attention ``softmax(q kᵀ / sqrt(D)) v`` of one structure."""
    import jax
    import jax.numpy as jnp

    def forward(q, k, v):
        q, k, v = (x.reshape(x.shape[0], -1) for x in (q, k, v))
        weights = jax.nn.softmax(q @ k.T / math.sqrt(q.shape[1]), axis=-1)
        return weights @ v

    def loss(q, k, v):
        return jnp.sum(forward(q, k, v))

    return jax.jit(forward), jax.jit(jax.value_and_grad(loss))


def useful_flops(num_atoms: int, with_gradient: bool) -> float:
    """Matrix-product flops of EFA: ``4·N·M·D_qk·D_v`` forward, three times that with gradient."""
    forward = 4.0 * num_atoms * LEBEDEV_NUM * QK_FEATURES * V_FEATURES
    return 3.0 * forward if with_gradient else forward


def _compiled_call(function, arguments):
    """``(call, XLA peak bytes)``: ``function`` compiled for ``arguments``, bound to them."""
    import functools

    from efa.bench.timing import compiled_peak_bytes

    compiled = function.lower(*arguments).compile()
    return functools.partial(compiled, *arguments), compiled_peak_bytes(compiled)


def _measure(function, arguments, **timing_options):
    from efa.bench.timing import time_calls

    call, peak = _compiled_call(function, arguments)
    return time_calls(call, **timing_options), peak


def efa_calls(
    num_structures,
    atoms_per_structure,
    qk_features=QK_FEATURES,
    v_features=V_FEATURES,
    lebedev_num=LEBEDEV_NUM,
    contraction="auto",
    operations=("forward", "forward+gradient"),
):
    """Compiled ``{operation: (call, XLA peak bytes)}`` of EFA for one case, for the
    ``operations`` asked for."""
    import jax.numpy as jnp

    inputs = make_inputs(
        num_structures, atoms_per_structure, qk_features=qk_features, v_features=v_features
    )
    inputs = {key: jnp.asarray(value) for key, value in inputs.items()}
    forward, forward_and_gradient = efa_functions(
        num_structures, atoms_per_structure, lebedev_num, contraction
    )
    orders = {
        "forward": (forward, ("q", "k", "v", "positions", "frequencies", "segment_ids")),
        "forward+gradient": (
            forward_and_gradient,
            ("positions", "q", "k", "v", "frequencies", "segment_ids"),
        ),
    }
    return {
        operation: _compiled_call(orders[operation][0], [inputs[n] for n in orders[operation][1]])
        for operation in operations
    }


def _efa_cases(cases):
    """Time the EFA cases ``[(structures, atoms), …]``, every operation in alternation.

    All cases are compiled first; then the calls of one operation (forward, or forward +
    gradient) are timed round-robin, so every case sees the same background load and the
    batched/single ratio and the scaling exponent compare like with like.

    Returns ``{(structures, atoms, operation): (Timing, XLA peak bytes)}``.
    """
    from tqdm import tqdm

    from efa.bench.timing import time_alternating

    compiled = {
        case: efa_calls(*case)
        for case in tqdm(cases, desc="bench attention (compile EFA)", unit="case")
    }
    print("timing the EFA cases in alternation …", flush=True)
    results = {}
    for operation in ("forward", "forward+gradient"):
        timings = time_alternating(
            {case: compiled[case][operation][0] for case in cases}, budget_s=4.0
        )
        for case in cases:
            results[case + (operation,)] = (timings[case], compiled[case][operation][1])
    return results


def _order_cases(cases):
    """Forward + gradient of the cases ``[(structures, atoms, F_qk, F_v, M), …]`` in each of
    :data:`LINEAR_ORDERS`, all timed in alternation.

    Returns ``{(case, order): Timing}`` and ``{case: the order "auto" takes}``.
    """
    from tqdm import tqdm

    from efa.bench.timing import time_alternating
    from efa.nn.erope import contraction_order

    calls = {
        (case, order): efa_calls(*case, contraction=order, operations=("forward+gradient",))[
            "forward+gradient"
        ][0]
        for case in tqdm(cases, desc="bench attention (compile orders)", unit="case")
        for order in LINEAR_ORDERS
    }
    print("timing the contraction orders in alternation …", flush=True)
    timings = time_alternating(calls, budget_s=2.0)
    automatic = {}
    for case in cases:
        _, atoms, qk_features, v_features, lebedev_num = case
        pairs = lebedev_num // 2
        automatic[case] = contraction_order(
            "auto", atoms, pairs, pairs * 2 * qk_features, 1, v_features
        )
    return timings, automatic


def _order_table(timings, automatic):
    """Markdown table of :func:`_order_cases` and its store variables on dimension ``shape``."""
    import xarray as xr

    from efa.report.tables import markdown_table

    cases = list(automatic)
    medians = {key: timing.median_s for key, timing in timings.items()}
    rows = []
    for case in cases:
        structures, atoms, qk_features, v_features, lebedev_num = case
        ratio = medians[(case, "key_value")] / medians[(case, "per_frequency")]
        rows.append(
            [f"{structures} × {atoms}", qk_features, v_features, lebedev_num]
            + [f"{medians[(case, order)] * 1e3:.4g}" for order in LINEAR_ORDERS]
            + [f"{ratio:.2f}", automatic[case]]
        )
    header = ["structures × atoms", "F_qk", "F_v", "M", "key_value ms", "per_frequency ms"]
    table = markdown_table(header + ["key_value / per_frequency", "auto"], rows)
    variables = {
        "shape_structures": ("shape", [case[0] for case in cases]),
        "shape_atoms": ("shape", [case[1] for case in cases]),
        "shape_qk_features": ("shape", [case[2] for case in cases]),
        "shape_v_features": ("shape", [case[3] for case in cases]),
        "shape_lebedev_num": ("shape", [case[4] for case in cases]),
        "shape_auto_order": ("shape", [automatic[case] for case in cases]),
    }
    for order in LINEAR_ORDERS:
        variables[f"shape_{order}_median_s"] = ("shape", [medians[(c, order)] for c in cases])
    return "Forward + gradient by contraction order\n\n" + table, xr.Dataset(variables)


def _softmax_case(num_atoms, **timing_options):
    import jax.numpy as jnp

    inputs = make_inputs(1, num_atoms)
    arguments = [jnp.asarray(inputs[name]) for name in ("q", "k", "v")]
    forward, forward_and_gradient = softmax_functions()
    return {
        "forward": _measure(forward, arguments, **timing_options),
        "forward+gradient": _measure(forward_and_gradient, arguments, **timing_options),
    }


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table and targets, write its store group; always returns 0."""
    import xarray as xr
    from tqdm import tqdm

    from efa.bench.timing import (
        matmul_rate_flops,
        process_peak_rss_bytes,
        publish,
        time_calls,
    )
    from efa.report.tables import markdown_table

    batch_structures, batch_atoms = args.batch
    batch_total = batch_structures * batch_atoms
    sizes = sorted(set(args.sizes) | {batch_total})
    efa_cases = [(1, n) for n in sizes] + [(batch_structures, batch_atoms)]
    softmax_sizes = [n for n in sizes if n <= args.softmax_max_atoms]

    records = []  # (method, structures, atoms per structure, operation, Timing, peak bytes)
    for (structures, atoms, operation), result in _efa_cases(efa_cases).items():
        records.append(("efa", structures, atoms, operation, *result))
    for atoms in tqdm(softmax_sizes, desc="bench attention (softmax)", unit="case"):
        for operation, (timing, peak) in _softmax_case(atoms).items():
            records.append(("softmax", 1, atoms, operation, timing, peak))
    if args.million:
        print("1,000,000 atoms, forward + gradient …", flush=True)
        call, peak = efa_calls(1, MILLION, operations=("forward+gradient",))["forward+gradient"]
        timing = time_calls(call, warmup=1, repeats=2)
        records.append(("efa", 1, MILLION, "forward+gradient", timing, peak))
    order_tables, order_data = [], None
    if args.orders:
        order_table, order_data = _order_table(*_order_cases(ORDER_CASES))
        order_tables.append(order_table)
    matmul_rate = matmul_rate_flops()

    def lookup(method, structures, atoms, operation):
        for record in records:
            if record[:4] == (method, structures, atoms, operation):
                return record
        return None

    header = [
        "method",
        "structures × atoms",
        "N",
        "operation",
        "median ms",
        "min–max ms",
        "µs/atom",
        "peak MiB (XLA)",
    ]
    rows = [
        [
            method,
            f"{structures} × {atoms}",
            structures * atoms,
            operation,
            f"{timing.median_s * 1e3:.4g}",
            timing.spread(),
            f"{timing.median_s / (structures * atoms) * 1e6:.3g}",
            f"{peak / 2**20:.1f}",
        ]
        for method, structures, atoms, operation, timing, peak in records
    ]
    table = markdown_table(header, rows)

    targets = []
    lines = []
    single = lookup("efa", 1, batch_total, "forward+gradient")
    batched = lookup("efa", batch_structures, batch_atoms, "forward+gradient")
    ratio = batched[4].median_s / single[4].median_s
    targets.append(ratio <= MAX_BATCHED_RATIO)
    lines.append(
        f"batched ({batch_structures} × {batch_atoms}) / single ({batch_total}) per-atom cost, "
        f"forward+gradient: {ratio:.2f} (target ≤ {MAX_BATCHED_RATIO})"
    )
    small, large = (
        lookup("efa", 1, 4096, "forward+gradient"),
        lookup("efa", 1, 65536, "forward+gradient"),
    )
    if small and large:
        slope = exponent(small[4].median_s, large[4].median_s, 4096, 65536)
        targets.append(slope <= MAX_SCALING_EXPONENT)
        lines.append(
            f"scaling exponent of forward+gradient, 4k → 65k atoms: {slope:.3f} "
            f"(target ≤ {MAX_SCALING_EXPONENT})"
        )
    for operation in ("forward", "forward+gradient"):
        smaller, larger = (lookup("efa", 1, n, operation) for n in FLAT_SIZES)
        if smaller and larger:
            growth = (larger[4].median_s / FLAT_SIZES[1]) / (smaller[4].median_s / FLAT_SIZES[0])
            targets.append(growth <= MAX_PER_ATOM_GROWTH)
            lines.append(
                f"per-atom cost of {operation} at {FLAT_SIZES[1]} / at {FLAT_SIZES[0]} atoms: "
                f"{growth:.3f} (target ≤ {MAX_PER_ATOM_GROWTH})"
            )
    million = lookup("efa", 1, MILLION, "forward+gradient")
    if args.million:
        targets.append(million is not None)
        lines.append(
            f"1,000,000 atoms forward+gradient: {million[4].median_s:.2f} s, XLA peak "
            f"{million[5] / 2**30:.2f} GiB, process peak RSS "
            f"{process_peak_rss_bytes() / 2**30:.2f} GiB (target: completes)"
        )
    largest = max(n for n in sizes)
    at_largest = lookup("efa", 1, largest, "forward+gradient")
    rate = useful_flops(largest, True) / at_largest[4].median_s
    targets.append(rate / matmul_rate >= MIN_MATMUL_FRACTION)
    lines.append(
        f"arithmetic rate of forward+gradient at N={largest}: {rate / 1e9:.1f} GFLOP/s = "
        f"{rate / matmul_rate:.1%} of the measured float32 matmul rate "
        f"{matmul_rate / 1e9:.1f} GFLOP/s (target ≥ {MIN_MATMUL_FRACTION:.0%})"
    )

    dataset = xr.Dataset(
        {
            "method": ("case", [r[0] for r in records]),
            "num_structures": ("case", [r[1] for r in records]),
            "atoms_per_structure": ("case", [r[2] for r in records]),
            "operation": ("case", [r[3] for r in records]),
            "median_s": ("case", [r[4].median_s for r in records]),
            "min_s": ("case", [r[4].min_s for r in records]),
            "max_s": ("case", [r[4].max_s for r in records]),
            "repeats": ("case", [r[4].repeats for r in records]),
            "peak_bytes": ("case", [r[5] for r in records]),
        },
        attrs={"matmul_rate_flops": matmul_rate},
    )
    if order_data is not None:
        dataset = dataset.merge(order_data)
    setup = (
        f"F_qk={QK_FEATURES}, F_v={V_FEATURES}, {LEBEDEV_NUM} Lebedev points, float32; median "
        "of repeated calls after warm-up."
    )
    publish(
        "attention",
        dataset,
        "EFA operator benchmark",
        setup,
        [table, *order_tables],
        lines,
        targets,
        args.output_dir,
    )
    return 0
