"""XLA settings that a process applies where it starts: the command line and the tests.

Importing :mod:`efa` changes nothing; :func:`configure_xla` is called by ``efa.cli.main.main``, the
test suite's ``conftest.py`` and :class:`efa.calculator.EFACalculator`, before JAX starts its
backend (XLA reads ``XLA_FLAGS`` once, at that moment; later calls have no effect).
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

#: The jaxlib releases whose CPU backend needs the workaround below.
YNN_FUSION_CRASH_RELEASES = ("0.10.",)
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type="


def configure_xla() -> None:
    """Turn off the experimental YNNPACK fusion of jaxlib 0.10's CPU backend.

    That fusion crashes (a segmentation fault) on the gradient of EFA's batched float32 matrix
    products. The flag only concerns the CPU backend, and is set only for the jaxlib releases
    in :data:`YNN_FUSION_CRASH_RELEASES`; a value the user set in ``XLA_FLAGS`` is kept.
    """
    try:
        jaxlib = version("jaxlib")
    except PackageNotFoundError:
        return
    if not jaxlib.startswith(YNN_FUSION_CRASH_RELEASES):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_YNN_FLAG}".strip()
