"""The one pattern of names: data sets, experiments, model labels, probe labels, raw files.

A name becomes a file or folder name (``<datasets_root>/<name>.zarr``,
``<results_root>/runs/<experiment>/<label>/seed<seed>``, ``<datasets_root>/raw/<file>``) and a
word of the workflow's shell commands. So it holds only letters, digits, ``_``, ``.`` and ``-``,
starts with a letter or digit and contains no ``..``: it cannot leave its folder, name a hidden
file or carry shell syntax. :func:`check_name` is called wherever a name enters: the workflow
configuration, the registry files, ``efa data import --name`` and ``efa train``.
"""

from __future__ import annotations

import re

from efa.errors import ConfigError

NAME_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*$"
_NAME = re.compile(NAME_PATTERN)


def check_name(kind: str, value: object, where: str) -> str:
    """Return ``value`` if it is a valid name, else raise :class:`ConfigError`.

    Args:
      kind: what the name names, e.g. ``"data set"``, ``"experiment"``, ``"model label"``.
      value: the name as given.
      where: the key, option or file it came from, e.g. ``"--name"`` or ``"experiments"``.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(
            f"{where}: {kind} {value!r} is not a valid name; expected letters, digits, '_', '.' "
            f"and '-', starting with a letter or digit, without '..' (pattern {NAME_PATTERN})"
        )
    return value


def check_dataset_name(value: object, where: str) -> str:
    """:func:`check_name` for a data set, which also may not end in ``.zarr`` (such a name
    would be read as the path of a store, not looked up in the registry)."""
    check_name("data set", value, where)
    if value.endswith(".zarr"):
        raise ConfigError(
            f"{where}: data set {value!r} ends in '.zarr', which names a store path; "
            f"expected the name alone, e.g. {value[: -len('.zarr')]!r}"
        )
    return value
