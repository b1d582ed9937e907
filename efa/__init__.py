"""efa-bench: benchmarks and workflow for long-range machine-learning force fields.

The package is organised by concern (see docs/architecture.md): ``efa.nn`` holds the
Euclidean fast attention operator and its Flax module; the command line lives in :mod:`efa.cli`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("efa-bench")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
