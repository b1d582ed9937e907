"""XLA settings of efa's compiled code, applied when efa first needs JAX.

Importing :mod:`efa` changes nothing. XLA reads ``XLA_FLAGS`` once, when JAX starts its backend
(at the first computation, not at ``import jax``), so the settings are applied by the entry
points before that moment: :func:`configure_xla` by ``efa.cli.main.main`` and the test suite's
``conftest.py``; :func:`ensure_xla` by the entry points of the Python API
(:func:`efa.models.registry.build_model`, :class:`efa.calculator.EFACalculator` and
:func:`efa.nn.erope_attention`, for a user's own model). Where JAX started first and the
settings are missing, :func:`ensure_xla` warns once, naming what to do: ``efa bench entry``
measures what that costs.

The command line also keeps compiled programs between processes
(:func:`configure_compilation_cache`): every job of the workflow is a process of its own, and
without the cache each recompiles what the one before it compiled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

#: The environment variable naming the folder of efa's compilation cache, or ``off``.
COMPILATION_CACHE_VARIABLE = "EFA_COMPILATION_CACHE"
#: JAX's own variable for its cache folder; where it is set, efa keeps the user's choice.
JAX_CACHE_VARIABLE = "JAX_COMPILATION_CACHE_DIR"

#: The jaxlib releases whose CPU backend needs the workaround below.
YNN_FUSION_CRASH_RELEASES = ("0.10.",)
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type="


@functools.cache
def _jaxlib_needs_flag() -> bool:
    """Whether the installed jaxlib is one of :data:`YNN_FUSION_CRASH_RELEASES` (looked up once:
    :func:`ensure_xla` runs on every call of the operator)."""
    try:
        return version("jaxlib").startswith(YNN_FUSION_CRASH_RELEASES)
    except PackageNotFoundError:
        return False


def _needed_flag() -> str | None:
    """The flag this jaxlib needs in ``XLA_FLAGS`` and that is not there, or None."""
    if not _jaxlib_needs_flag():
        return None
    if "xla_cpu_experimental_ynn_fusion_type" in os.environ.get("XLA_FLAGS", ""):
        return None
    return _YNN_FLAG


def _backend_started() -> bool:
    """Whether JAX has started its backend in this process (and read ``XLA_FLAGS``)."""
    if "jax" not in sys.modules:
        return False
    try:  # JAX has no public question for this; without the answer, assume it started
        from jax._src.xla_bridge import backends_are_initialized
    except ImportError:
        return True
    return bool(backends_are_initialized())


_warned = False


def ensure_xla(entry: str) -> None:
    """Apply :func:`configure_xla` if JAX has not started its backend yet; if it has, and the
    settings are missing, warn once (on standard error) that ``entry`` runs without them."""
    global _warned
    flag = _needed_flag()
    if flag is None:
        return
    if not _backend_started():
        configure_xla()
        return
    if not _warned:
        _warned = True
        print(
            f"efa: warning: JAX started before {entry} could set XLA_FLAGS={flag}, which "
            "efa's compiled code needs for its speed (and, for EFA's gradients, to avoid a "
            "crash of jaxlib's CPU backend); call efa.xla.configure_xla() before the first JAX "
            f"computation, or start Python with XLA_FLAGS={flag}",
            file=sys.stderr,
        )


def without_efa_settings(flags: str) -> str:
    """``XLA_FLAGS`` text without the settings :func:`configure_xla` adds (the user's own
    flags kept): the environment of a process that has not met efa yet."""
    return " ".join(word for word in flags.split() if word != _YNN_FLAG)


def configure_xla() -> None:
    """Turn off the experimental YNNPACK fusion of jaxlib 0.10's CPU backend.

    That fusion crashes (a segmentation fault) on the gradient of EFA's batched float32 matrix
    products. The flag only concerns the CPU backend, and is set only for the jaxlib releases
    in :data:`YNN_FUSION_CRASH_RELEASES`; a value the user set in ``XLA_FLAGS`` is kept.
    """
    flag = _needed_flag()
    if flag is not None:
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()


def configure_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache for this process and the ones it starts.

    Programs XLA compiled (those that took at least a second, JAX's default) are written to a
    folder and loaded from there by the next process that compiles the same program for the same
    device and software, instead of compiling again. A loaded program is the one XLA compiled,
    so no result changes; only the time does. The folder is, in order: ``JAX_COMPILATION_CACHE_DIR``
    where the user set it (kept as it is), ``EFA_COMPILATION_CACHE``, or
    ``<user cache dir>/efa-bench/jax`` (platformdirs: ``~/.cache/efa-bench/jax`` on Linux).
    ``EFA_COMPILATION_CACHE=off`` turns the cache off. A folder that cannot be created gets a
    warning on standard error, naming the variable, and no cache. Call it before the first
    computation.

    Returns:
      The cache folder, or None when the cache is off.
    """
    variable, folder = JAX_CACHE_VARIABLE, os.environ.get(JAX_CACHE_VARIABLE)
    if not folder:
        variable, folder = COMPILATION_CACHE_VARIABLE, os.environ.get(COMPILATION_CACHE_VARIABLE)
        if folder and folder.strip().lower() == "off":
            return None
        if not folder:
            from platformdirs import user_cache_dir

            variable, folder = (
                "the user cache folder",
                os.path.join(user_cache_dir("efa-bench"), "jax"),
            )
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        print(
            f"efa: warning: {variable}={folder}: cannot create the compilation cache folder "
            f"({error.strerror or error}); compiling without a cache",
            file=sys.stderr,
        )
        return None
    os.environ[JAX_CACHE_VARIABLE] = folder
    if "jax" in sys.modules:  # JAX read its environment at import: tell it directly
        sys.modules["jax"].config.update("jax_compilation_cache_dir", folder)
    return folder


#: JAX's monitoring event for the time XLA spends compiling one program (or loading it from the
#: persistent cache).
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@dataclasses.dataclass
class CompileTime:
    """Seconds XLA spent compiling programs (or loading them from the cache), and how many."""

    seconds: float = 0.0
    programs: int = 0


@contextlib.contextmanager
def compile_time() -> Iterator[CompileTime]:
    """Measure the compilation inside the block (JAX's monitoring events, this process only).

    The total is what the first calls of new array shapes cost beyond running: a training with
    many batch shapes compiles its step once per shape.
    """
    import jax.monitoring

    total = CompileTime()

    def listen(event: str, seconds: float, **_) -> None:
        if event == BACKEND_COMPILE_EVENT:
            total.seconds += seconds
            total.programs += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield total
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
