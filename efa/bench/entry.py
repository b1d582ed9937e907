"""``efa bench entry``: the same compiled code at the same speed from every entry point.

Energy and forces (forward + gradient) of the EFA model of ``efa bench scale`` on one cube of N
atoms, each case timed in a fresh Python process, as a user would enter:

- ``command line``: the process applies efa's XLA settings first, as ``efa`` does;
- ``Python API``: the process only calls efa's functions (``efa.models.build_model`` first, as
  in a notebook or a user's script); efa applies the settings itself
  (:func:`efa.xla.ensure_xla`);
- ``JAX first``: the process runs a JAX computation before calling efa, so the settings can no
  longer be applied; efa warns once, and this case shows what that costs.

The cases run in ``--rounds`` rounds, one process per case in each round, in the order above;
a case's figure is the median over the rounds of its median call time, so a change of load
during the run hits every case alike.

Target: for every N, the Python API's time ≤ :data:`MAX_API_RATIO` × the command line's.

Outputs (:func:`efa.bench.timing.publish`): group ``entry`` of ``<output-dir>/bench.zarr`` and
``<output-dir>/bench/entry.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from efa.bench.options import add_output_dir, count
from efa.errors import EfaError

SIZES = (1024, 4096)
ENTRIES = ("command line", "Python API", "JAX first")
ROUNDS = 3
#: Largest Python API / command line ratio of the median times (the same compiled code).
MAX_API_RATIO = 1.1

#: One case in a fresh process: argv = entry, number of atoms; prints a JSON line.
_CASE = textwrap.dedent("""
    import functools, json, os, sys
    entry, num_atoms = sys.argv[1], int(sys.argv[2])
    if entry == "command line":
        from efa.xla import configure_xla
        configure_xla()
    elif entry == "JAX first":
        import jax.numpy as jnp
        jnp.zeros(1).block_until_ready()
    from efa.models import build_model
    from efa.bench.scale import MODEL_OPTIONS, energy_and_forces, make_structure, model_options
    model = build_model("efa", model_options("efa", num_atoms))
    import jax
    from efa.bench.timing import time_calls
    from efa.data.packing import BucketShape, pack
    from efa.data.pairs import structure_pairs
    cutoff = MODEL_OPTIONS["cutoff"]
    structure = make_structure(num_atoms)
    pairs = structure_pairs(structure.positions, structure.atom_mask, cutoff)[0].size
    batch = jax.device_put(pack(structure, BucketShape(num_atoms, pairs), 1, cutoff))
    params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
    compiled = energy_and_forces(model).lower(params, batch).compile()
    timing = time_calls(functools.partial(compiled, params, batch), budget_s=3.0, max_repeats=30)
    print(json.dumps({"median_s": timing.median_s, "min_s": timing.min_s,
                      "max_s": timing.max_s, "repeats": timing.repeats,
                      "xla_flags": os.environ.get("XLA_FLAGS", "")}))
""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=count(8),
        nargs="+",
        default=list(SIZES),
        help=f"atoms of the structure (default: {list(SIZES)})",
    )
    parser.add_argument(
        "--rounds",
        type=count(1),
        default=ROUNDS,
        help=f"rounds of fresh processes, one per case each (default: {ROUNDS})",
    )
    add_output_dir(parser, "group 'entry' of bench.zarr and bench/entry.md")


def _case(entry: str, num_atoms: int) -> tuple[dict, str]:
    """The figures of one case in a fresh process, and what it wrote on standard error; the
    process starts without the XLA settings this one applied, as a user's Python does."""
    from efa.xla import without_efa_settings

    env = {**os.environ, "XLA_FLAGS": without_efa_settings(os.environ.get("XLA_FLAGS", ""))}
    process = subprocess.run(
        [sys.executable, "-c", _CASE, entry, str(num_atoms)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if process.returncode != 0:
        raise EfaError(
            f"efa bench entry: the {entry!r} case of N={num_atoms} failed:\n{process.stderr}"
        )
    return json.loads(process.stdout.strip().splitlines()[-1]), process.stderr


def run(args: argparse.Namespace) -> int:
    import xarray as xr

    from efa.bench.timing import publish
    from efa.report.tables import markdown_table

    rounds, warned = {}, {}
    for number in range(args.rounds):
        for num_atoms in args.sizes:
            for entry in ENTRIES:
                case, error = _case(entry, num_atoms)
                rounds.setdefault((entry, num_atoms), []).append(case)
                warned[entry, num_atoms] = "efa: warning: JAX started before" in error
                print(
                    f"round {number + 1}, N={num_atoms} {entry}: {case['median_s'] * 1e3:.3g} ms",
                    flush=True,
                )
    figures = {
        key: {
            "median_s": float(np.median([case["median_s"] for case in cases])),
            "min_s": min(case["min_s"] for case in cases),
            "max_s": max(case["max_s"] for case in cases),
            "repeats": sum(case["repeats"] for case in cases),
        }
        for key, cases in rounds.items()
    }
    rows, lines, targets = [], [], []
    for num_atoms in args.sizes:
        cli = figures["command line", num_atoms]["median_s"]
        for entry in ENTRIES:
            case = figures[entry, num_atoms]
            rows.append(
                [
                    num_atoms,
                    entry,
                    f"{case['median_s'] * 1e3:.3g}",
                    f"{case['min_s'] * 1e3:.3g}–{case['max_s'] * 1e3:.3g}",
                    f"{case['median_s'] / cli:.2f}",
                    "yes" if warned[entry, num_atoms] else "no",
                ]
            )
        ratio = figures["Python API", num_atoms]["median_s"] / cli
        targets.append(ratio <= MAX_API_RATIO)
        lines.append(
            f"N={num_atoms}: Python API / command line = {ratio:.2f} (target ≤ "
            f"{MAX_API_RATIO:g}); JAX first / command line = "
            f"{figures['JAX first', num_atoms]['median_s'] / cli:.2f} (warned: "
            f"{'yes' if warned['JAX first', num_atoms] else 'no'})"
        )
    table = markdown_table(
        ["N", "entry", "median ms", "min–max ms (all rounds)", "/ command line", "warned"], rows
    )

    def field(name):
        return (
            ("size", "entry"),
            np.array([[figures[e, n][name] for e in ENTRIES] for n in args.sizes]),
        )

    dataset = xr.Dataset(
        {
            "median_s": field("median_s"),
            "min_s": field("min_s"),
            "max_s": field("max_s"),
            "repeats": field("repeats"),
            "warned": (
                ("size", "entry"),
                np.array([[warned[e, n] for e in ENTRIES] for n in args.sizes]),
            ),
        },
        coords={"size": np.array(args.sizes), "entry": np.array(ENTRIES, object)},
    )
    setup = (
        "Energy and forces of the EFA model of 'efa bench scale' on one cube of N atoms, "
        f"float32, each case in a fresh process, {args.rounds} rounds (the median of the "
        "rounds' medians)."
    )
    publish("entry", dataset, "Entry points", setup, [table], lines, targets, args.output_dir)
    return 0
