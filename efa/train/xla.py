"""XLA settings applied before JAX starts (``efa train``, ``efa evaluate``, ``efa bench train``).

jaxlib 0.10.2 crashes (SIGSEGV in the YNNPACK transpose kernel, ``slinky::can_fuse``) on some
training steps of small models, e.g. the two-atom configuration with 64 features. Turning off
YNN fusions makes XLA emit its own kernels, which avoids the crash.
"""

from __future__ import annotations

import os

#: XLA flags appended to ``XLA_FLAGS`` unless the user already set the same option.
SAFE_XLA_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)


def configure_xla() -> None:
    """Add :data:`SAFE_XLA_FLAGS` to ``XLA_FLAGS``; effective only before JAX's first use."""
    flags = os.environ.get("XLA_FLAGS", "").split()
    for flag in SAFE_XLA_FLAGS:
        option = flag.split("=", 1)[0]
        if not any(existing.split("=", 1)[0] == option for existing in flags):
            flags.append(flag)
    os.environ["XLA_FLAGS"] = " ".join(flags)
