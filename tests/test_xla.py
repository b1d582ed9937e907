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


CACHE_SCRIPT = textwrap.dedent("""
    from efa.xla import configure_compilation_cache
    folder = configure_compilation_cache()
    import jax
    print(folder, jax.config.jax_compilation_cache_dir, sep="|")
""")


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({}, "{cache}/efa-bench/jax"),  # the user's cache folder (XDG_CACHE_HOME here)
        ({"EFA_COMPILATION_CACHE": "{tmp}/mine"}, "{tmp}/mine"),
        ({"JAX_COMPILATION_CACHE_DIR": "{tmp}/jax_own"}, "{tmp}/jax_own"),  # JAX's own: kept
        ({"EFA_COMPILATION_CACHE": "off"}, "None"),
        ({"EFA_COMPILATION_CACHE": "{tmp}/a_file/cache"}, "None"),  # cannot be created: warned
    ],
)
def test_the_command_line_keeps_compiled_programs_in_a_cache(tmp_path, environment, expected):
    import os

    cache = tmp_path / "xdg"
    (tmp_path / "a_file").write_text("a file, not a folder")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("JAX_COMPILATION_CACHE_DIR", "EFA_COMPILATION_CACHE")
    }
    env["XDG_CACHE_HOME"] = str(cache)
    env.update({k: v.format(tmp=tmp_path) for k, v in environment.items()})
    result = subprocess.run(
        [sys.executable, "-c", CACHE_SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    folder = expected.format(cache=cache, tmp=tmp_path)
    assert result.stdout.strip() == f"{folder}|{folder}"
    unusable = "a_file" in str(environment)
    assert ("cannot create the compilation cache folder" in result.stderr) == unusable
    if unusable:
        assert f"EFA_COMPILATION_CACHE={tmp_path}/a_file/cache" in result.stderr


HITS_SCRIPT = textwrap.dedent("""
    import sys
    import jax
    from efa.cli.main import main
    events = []
    jax.monitoring.register_event_listener(lambda event, **_: events.append(event))
    code = main(sys.argv[1:])
    print(code, events.count("/jax/compilation_cache/cache_hits"))
""")


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    """Two runs of the same efa command: the second loads the first's programs from the cache."""
    import os

    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")}
    arguments = [
        "bench", "quadrature", "--grids", "50", "--max-frequencies", "1",
        "--output-dir", str(tmp_path / "out"),
    ]  # fmt: skip
    hits = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", HITS_SCRIPT, *arguments],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        code, count = result.stdout.strip().splitlines()[-1].split()
        assert code == "0"
        hits.append(int(count))
    assert any((tmp_path / "cache").iterdir())  # the programs that took at least a second
    assert hits[0] == 0 < hits[1]
