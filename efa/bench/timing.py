"""Shared measurement helpers for ``efa bench``: wall-clock timing, memory, tables, stores.

Every figure a benchmark prints is the median of repeated calls after compilation and warm-up,
reported with its spread (min and max), and written as group ``<name>`` of the one store
``results/bench.zarr`` (each benchmark replaces only its own group) together with a markdown
table ``results/bench/<name>.md`` (tables and the targets line come from :mod:`efa.report`).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated calls: median, spread and how many calls were timed."""

    median_s: float
    min_s: float
    max_s: float
    repeats: int

    def spread(self) -> str:
        """``min–max`` in milliseconds, for tables."""
        return f"{self.min_s * 1e3:.3g}–{self.max_s * 1e3:.3g}"


def time_calls(
    function: Callable[[], object],
    *,
    warmup: int = 1,
    repeats: int | None = None,
    budget_s: float = 2.0,
    max_repeats: int = 20,
) -> Timing:
    """Time ``function()`` alone; see :func:`time_alternating` for the options."""
    return time_alternating(
        {"call": function},
        warmup=warmup,
        repeats=repeats,
        budget_s=budget_s,
        max_repeats=max_repeats,
    )["call"]


def time_alternating(
    functions: dict[str, Callable[[], object]],
    *,
    warmup: int = 1,
    repeats: int | None = None,
    budget_s: float = 2.0,
    max_repeats: int = 20,
) -> dict[str, Timing]:
    """Time several functions (blocking on their JAX outputs) call by call in alternation.

    Each gets ``warmup`` untimed calls first (at least one). Alternation exposes every function
    to the same background load, so the ratios of their medians are fair on a shared machine.
    Without ``repeats``, as many rounds are made as fit into ``budget_s`` per function (at least
    3, at most ``max_repeats``), judged from the slowest last warm-up call.
    """
    last = {}
    for name, function in functions.items():
        for _ in range(max(warmup, 1)):
            start = time.perf_counter()
            jax.block_until_ready(function())
            last[name] = time.perf_counter() - start
    if repeats is None:
        repeats = int(min(max_repeats, max(3, budget_s // max(max(last.values()), 1e-9))))
    durations = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            jax.block_until_ready(function())
            durations[name].append(time.perf_counter() - start)
    return {
        name: Timing(statistics.median(d), min(d), max(d), repeats) for name, d in durations.items()
    }


def compiled_peak_bytes(compiled) -> int:
    """Peak bytes XLA plans for a compiled function: arguments + outputs + temporaries."""
    stats = compiled.memory_analysis()
    return int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes)


def compiled_flops(compiled) -> float:
    """Floating-point operations of one call of a compiled function, as XLA's cost analysis
    counts them (multiply and add each one; transcendental functions not included)."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):  # older jaxlib: one entry per program
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0))


def process_peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_memory_bytes() -> int:
    """Memory the system can give to a new allocation now (Linux ``MemAvailable``).

    Falls back to the free physical pages where ``/proc/meminfo`` does not exist.
    """
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def matmul_rate_flops(size: int = 2048, dtype=np.float32) -> float:
    """Measured rate (FLOP/s) of a square ``size × size`` matrix product on the default device."""
    matrix = jax.numpy.asarray(np.random.default_rng(0).normal(size=(size, size)), dtype)
    product = jax.jit(lambda a: a @ a)
    timing = time_calls(lambda: product(matrix), warmup=2, budget_s=1.0)
    return 2.0 * size**3 / timing.median_s


def machine_description() -> str:
    """One line naming the machine the figures were measured on."""
    devices = jax.devices()
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, JAX {jax.__version__} on "
        f"{len(devices)}× {devices[0].device_kind} ({devices[0].platform})"
    )


def publish(
    name: str,
    dataset,
    title: str,
    setup: str,
    tables: list[str],
    lines: list[str],
    targets: list[bool],
    results_dir: str | Path = "results",
) -> Path:
    """Finish a benchmark: write its store group and markdown, print the tables and targets.

    The markdown is ``# title``, ``Machine: … . setup``, the tables, one bullet per target line
    and ``targets met: K/N``; ``dataset`` gets the machine, the target lines and their counts as
    attributes. Printed: the machine (with JAX's device), the tables, the target lines, where
    it was written and, last,
    ``targets met: K/N``. Returns the store path (see :func:`write_report`).
    """
    from efa.report.targets import targets_line

    machine = machine_description()
    report = (
        f"# {title}\n\nMachine: {machine}. {setup}\n\n"
        + "\n".join(tables)
        + "\n"
        + "".join(f"- {line}\n" for line in lines)
        + f"\n{targets_line(targets)}\n"
    )
    dataset = dataset.assign_attrs(
        benchmark=name,
        machine=machine,
        targets=lines,
        targets_met=int(sum(targets)),
        targets_total=len(targets),
    )
    store = write_report(name, dataset, report, results_dir)
    print(f"Machine: {machine}")
    for table in tables:
        print(table)
    for line in lines:
        print(line)
    print(f"written: {store} (group {name}), {Path(results_dir) / 'bench' / f'{name}.md'}")
    print(targets_line(targets))
    return store


def write_report(name: str, dataset, table: str, results_dir: str | Path = "results") -> Path:
    """Write ``dataset`` as group ``name`` of the bench store and ``table`` as markdown.

    Outputs: ``<results_dir>/bench.zarr`` (group ``name``; the groups of other benchmarks are
    kept) and ``<results_dir>/bench/<name>.md``, each written atomically. Returns the store
    path; read the group back with ``xr.open_zarr(store, group=name, consolidated=False)``.
    """
    from efa.storage import write_text, write_zarr_group

    results_dir = Path(results_dir)
    store = write_zarr_group(dataset, results_dir / "bench.zarr", name)
    write_text(table, results_dir / "bench" / f"{name}.md")
    return store
