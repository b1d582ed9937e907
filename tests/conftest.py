"""Shared test fixtures, and the guard that keeps the tests out of the repository's outputs."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The repository's output folders. No test reads or writes them: the tests use temporary
#: directories (Snakemake runs with ``--directory``), so that running the suite first (which
#: fills them) changes no test, and running the tests changes no result.
OUTPUT_FOLDERS = ("results", "datasets", ".snakemake")
#: Tracked inputs inside them that tests may read (and that people edit during a session).
TRACKED_INPUTS = frozenset({"datasets/registry.yaml", "datasets/registry.user.yaml"})


#: JAX options of a persistent compilation cache that keeps every compiled program.
_COMPILATION_CACHE_OPTIONS = {
    "jax_persistent_cache_min_compile_time_secs": 0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}
_CACHE_KEY = pytest.StashKey[str]()
#: The environment variable that hands the session's cache folder to the test workers.
_CACHE_VARIABLE = "EFA_TESTS_XLA_CACHE"


def pytest_configure(config):
    """XLA settings of a process that runs efa-bench (before any test starts JAX), and one
    persistent compilation cache for the session, in a temporary folder: the main process
    creates it, the test workers (pytest-xdist) and the commands the tests start inherit it
    through the environment, so each program is compiled once per session.

    A program loaded from the cache is the one XLA compiled for it, so no number changes (the
    ci suite gives bit-identical metrics with a cold and a warm cache); the determinism tests
    still compare whole runs, whose data order, seeds and threads the cache does not touch.
    """
    from efa.xla import configure_xla

    configure_xla()
    cache = os.environ.get(_CACHE_VARIABLE) if hasattr(config, "workerinput") else None
    if cache is None:
        cache = tempfile.mkdtemp(prefix="efa-tests-xla-cache-")
        config.stash[_CACHE_KEY] = cache  # removed by this process at the end
        os.environ[_CACHE_VARIABLE] = cache
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache
    jax.config.update("jax_compilation_cache_dir", cache)
    for option, value in _COMPILATION_CACHE_OPTIONS.items():
        os.environ[option.upper()] = str(value)
        jax.config.update(option, value)


#: The test files that run longest (``pytest --durations``), in that order. They are collected
#: first, so the workers start on them and the short files fill in at the end: a worker left
#: alone with a long file while the other cores idle lengthens the run.
LONG_FILES = (
    "tests/workflow/test_pipeline.py",
    "tests/nn/test_erope.py",
    "tests/workflow/test_config.py",
    "tests/models/test_message_passing.py",
    "tests/reliability/test_bad_inputs.py",
    "tests/bench/test_scale_bench.py",
    "tests/train/test_reproducibility.py",
    "tests/train/test_sharding.py",
    "tests/train/test_stress.py",
    "tests/models/test_models.py",
    "tests/models/test_periodic_models.py",
    "tests/nn/test_periodic.py",
    "tests/data/test_xtb.py",
    "tests/probes/test_periodic_probes.py",
    "tests/test_calculator.py",
)


def pytest_collection_modifyitems(config, items):
    """Long files first (:data:`LONG_FILES`), every other file after them in its own order."""
    rank = {name: index for index, name in enumerate(LONG_FILES)}

    def order(item):
        path = Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=order)  # stable: the tests of a file keep their order


def pytest_unconfigure(config):
    if _CACHE_KEY in config.stash:
        shutil.rmtree(config.stash[_CACHE_KEY], ignore_errors=True)


@pytest.fixture
def x64():
    """Run the test body with 64-bit floats enabled (symmetry and oracle checks)."""
    with jax.enable_x64(True):
        yield


def output_state(root: Path = ROOT) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root``'s output folders, relative to ``root``, with (type, size, mtime).

    Links are not followed. Folders are recorded without size and time: creating or removing
    anything inside them shows up as a path of its own.
    """
    state = {}
    for folder in OUTPUT_FOLDERS:
        top = Path(root, folder)
        paths = [top]
        for directory, folders, files in os.walk(top):
            paths.extend(Path(directory, name) for name in (*folders, *files))
        for path in paths:
            name = path.relative_to(root).as_posix()
            if name in TRACKED_INPUTS:
                continue
            try:
                info = path.lstat()
            except FileNotFoundError:  # absent, or removed while walking
                continue
            kind = stat.S_IFMT(info.st_mode)
            state[name] = (
                (kind, 0, 0) if stat.S_ISDIR(kind) else (kind, info.st_size, info.st_mtime_ns)
            )
    return state


def state_changes(before: dict, after: dict) -> list[str]:
    """What differs between two :func:`output_state` results, one line per path."""
    changes = [f"created {name}" for name in after.keys() - before.keys()]
    changes += [f"deleted {name}" for name in before.keys() - after.keys()]
    changes += [
        f"modified {name}" for name in before.keys() & after.keys() if before[name] != after[name]
    ]
    return sorted(changes, key=lambda line: line.split(" ", 1)[1])


def _fail_on_changes(changes: list[str], who: str) -> None:
    if not changes:
        return
    shown = "\n  ".join(changes[:20])
    more = f"\n  ... and {len(changes) - 20} more" if len(changes) > 20 else ""
    pytest.fail(
        f"{who} changed the repository's {', '.join(f'{f}/' for f in OUTPUT_FOLDERS)} ({ROOT}); "
        f"tests must work in temporary directories (if another process wrote there during the "
        f"test session, rerun the tests):\n  {shown}{more}",
        pytrace=False,
    )


class _OutputGuard:
    """The state of the repository's output folders, and the changes already reported."""

    def __init__(self):
        self.baseline = output_state()
        self.reported: set[str] = set()


@pytest.fixture(scope="session", autouse=True)
def _repository_outputs_guard():
    """Fail the session if anything (a session fixture, say) changed the repository's outputs."""
    guard = _OutputGuard()
    yield guard
    changes = [
        line
        for line in state_changes(guard.baseline, output_state())
        if line.split(" ", 1)[1] not in guard.reported
    ]
    _fail_on_changes(changes, "The test session")


@pytest.fixture(scope="module", autouse=True)
def _repository_outputs_untouched(_repository_outputs_guard, request):
    """Fail a test module that created, modified or deleted anything in the repository's outputs."""
    before = output_state()
    yield
    changes = state_changes(before, output_state())
    _repository_outputs_guard.reported.update(line.split(" ", 1)[1] for line in changes)
    _fail_on_changes(changes, f"The tests of {request.module.__name__}")
