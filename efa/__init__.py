"""efa-bench: benchmarks and workflow for long-range machine-learning force fields.

The package is organised by concern (see ARCHITECTURE in the docs): ``efa.nn`` holds the
Euclidean fast attention operator and its Flax module; the command line lives in ``efa.cli``.
"""

import os
from importlib.metadata import PackageNotFoundError, version


def _disable_xla_cpu_ynn_fusion() -> None:
    """Work around a crash of jaxlib 0.10's CPU backend.

    Its experimental YNNPACK fusion segfaults on the gradient of EFA's batched (several
    structures) float32 matrix products. Turning that fusion off is harmless elsewhere. XLA reads
    ``XLA_FLAGS`` when JAX first starts its backend, so ``efa`` must be imported before the first
    JAX computation; a user who sets the flag explicitly keeps their value.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_experimental_ynn_fusion_type=".strip()


_disable_xla_cpu_ynn_fusion()

try:
    __version__ = version("efa-bench")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
