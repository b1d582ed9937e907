"""efa's XLA settings reach every entry point: applied by the Python API when it comes first,
and a single warning where JAX started before them."""

import subprocess
import sys
import textwrap
from importlib.metadata import version

import pytest

from efa.xla import YNN_FUSION_CRASH_RELEASES, _needed_flag

SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ.pop("XLA_FLAGS", None)  # a user's Python, which has not met efa yet
    if sys.argv[1] == "jax first":
        import jax.numpy as jnp
        jnp.zeros(1).block_until_ready()
    from efa.models import build_model
    for _ in range(2):
        build_model("local", {"features": 8, "cutoff": 5.0})
    print(os.environ.get("XLA_FLAGS", ""))
""")


def _run(entry):
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, entry], capture_output=True, text=True, check=True
    )


@pytest.mark.skipif(
    not version("jaxlib").startswith(YNN_FUSION_CRASH_RELEASES),
    reason="this jaxlib needs no XLA settings",
)
def test_the_python_api_applies_the_settings_or_warns_once():
    first = _run("efa first")
    assert "xla_cpu_experimental_ynn_fusion_type" in first.stdout
    assert "warning" not in first.stderr
    late = _run("jax first")
    assert late.stderr.count("efa: warning: JAX started before efa.models.build_model") == 1
    assert "efa.xla.configure_xla()" in late.stderr
    assert _needed_flag() is None  # the test process itself has them (tests/conftest.py)
