"""The DVC pipeline (``dvc.yaml``) of a workflow configuration: ``efa dvc CONFIG…``.

DVC reads its parameters from files named in ``dvc.yaml``, so the pipeline is written for the
configuration it runs. For configuration files ``base [overlay…]`` (Snakemake's order: later
files replace the settings of earlier ones) it holds

- one stage per data set of the merged configuration, ``dataset@<name>``: Snakemake builds
  ``<datasets_root>/<name>.zarr``; its parameters are ``datasets.<name>`` of each file that sets
  it, its dependencies the registries and ``efa/data``;
- the stage ``suite``: Snakemake runs the whole workflow; its parameters are the top-level keys
  of each file (``train``, ``experiments``, ``report``, …), its outputs the run directories,
  probe stores, tables, figures, report page and JSON files under ``<results_root>``, with
  ``metrics.json`` as DVC metrics;
- the figures folder as DVC plots (the probe curves are declared by ``efa report`` in
  ``<results_root>/dvc.yaml``, for whatever models took part).

Snakemake runs with ``--rerun-triggers params input code``: DVC restores files with new
modification times, which must not make Snakemake rerun anything. Every output is
``persist: true``: DVC would otherwise delete a stage's outputs before it runs, and Snakemake,
which keeps what is still up to date (a calculator model when only training settings changed),
would redo everything.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from efa.bounded_yaml import load_yaml
from efa.errors import ConfigError
from efa.names import check_dataset_name
from efa.workflow.config import deep_merge

#: Keys of a configuration that set where things are or what a job may use, not what is
#: computed: no parameters of DVC's (a change reruns nothing).
NOT_PARAMETERS = ("datasets_root", "results_root", "resources", "datasets")
#: What the suite stage writes under the results root, for DVC to track (``cache: false``:
#: small text files that git tracks instead, see ``.gitignore``).
SUITE_OUTPUTS: tuple[tuple[str, bool], ...] = (
    ("runs", True),
    ("probes", True),
    ("metrics.zarr", True),
    ("tables", True),
    ("figures", True),
    ("report.html", True),
    ("targets.json", True),
    ("cost.json", True),
    ("provenance.json", False),
)


def _project_path(path: str | os.PathLike, project: Path) -> str:
    """``path`` relative to ``project`` (POSIX form), refused if it lies outside it: DVC names
    parameter files by their place in the repository."""
    resolved = (project / path).resolve()
    if not resolved.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    if not resolved.is_relative_to(project.resolve()):
        raise ConfigError(
            f"{path}: lies outside the project {project}; DVC reads parameters from files of "
            "the repository"
        )
    return PurePosixPath(resolved.relative_to(project.resolve())).as_posix()


def _folder(config: Mapping[str, Any], key: str, default: str) -> str:
    value = str(config.get(key, default))
    if Path(value).is_absolute() or ".." in PurePosixPath(value).parts:
        raise ConfigError(
            f"{key}={value!r}: DVC tracks outputs inside the repository; expected a folder "
            "relative to it"
        )
    return PurePosixPath(value).as_posix()


def dvc_pipeline(
    config_files: Sequence[str | os.PathLike], cores: str = "all", project: Path | None = None
) -> str:
    """The text of ``dvc.yaml`` running the workflow on ``config_files`` with ``cores``.

    Raises:
      ConfigError: a file is missing, outside ``project`` (default: the working directory) or
        not a mapping; a root folder lies outside the project; a data set name is not valid.
    """
    project = Path.cwd() if project is None else project
    if not config_files:
        raise ConfigError("efa dvc: give at least one configuration file")
    paths = [_project_path(path, project) for path in config_files]
    contents = []
    for path in paths:
        content = load_yaml((project / path).read_text())
        if not isinstance(content, Mapping):
            raise ConfigError(f"{path}: expected a mapping of configuration keys")
        contents.append(content)
    merged = deep_merge(*contents)
    datasets_root = _folder(merged, "datasets_root", "datasets")
    results_root = _folder(merged, "results_root", "results")
    names = list(merged.get("datasets") or {})
    for name in names:
        check_dataset_name(name, f"{paths[0]}: datasets")
    files = " ".join(shlex.quote(path) for path in paths)
    # --configfile takes every word up to the next option: targets go before it
    options = (
        f"--cores {shlex.quote(cores)} --configfile {files} --rerun-triggers params input code"
    )
    registries = [f"{datasets_root}/registry.yaml"]
    if (project / datasets_root / "registry.user.yaml").is_file():  # imported sets
        registries.append(f"{datasets_root}/registry.user.yaml")
    suite_params = [
        {path: [key for key in content if key not in NOT_PARAMETERS]}
        for path, content in zip(paths, contents)
    ]
    pipeline: dict[str, Any] = {"stages": {}}
    if names:
        pipeline["stages"]["dataset"] = {
            "foreach": names,
            "do": {
                # the name is quoted for the shell; Snakemake then refuses any name outside the
                # pattern of efa.names before it builds anything (a name cannot hold a quote)
                "cmd": f"snakemake '{datasets_root}/${{item}}.zarr/zarr.json' {options}",
                "deps": [*registries, "efa/data"],
                "params": [
                    {path: ["datasets.${item}"]}
                    for path, content in zip(paths, contents)
                    if content.get("datasets")
                ],
                "outs": [{f"{datasets_root}/${{item}}.zarr": {"persist": True}}],
            },
        }
    outputs = [
        {f"{results_root}/{name}": {"persist": True} if cached else {"cache": False}}
        for name, cached in SUITE_OUTPUTS
    ]
    pipeline["stages"]["suite"] = {
        "cmd": f"snakemake {options}",
        "deps": ["Snakefile", "workflow", "efa", datasets_root],
        "params": [entry for entry in suite_params if next(iter(entry.values()))],
        "outs": outputs,
        "metrics": [{f"{results_root}/metrics.json": {"cache": False}}],
    }
    pipeline["plots"] = [f"{results_root}/figures"]
    header = (
        f"# DVC pipeline of the workflow on {' + '.join(paths)}, written by 'efa dvc {files}"
        f"{'' if cores == 'all' else f' --cores {shlex.quote(cores)}'}'\n"
        "# (run it again after adding or removing a data set). DVC tracks the stores by "
        "content, so\n# 'dvc pull' in a fresh clone restores them and 'dvc repro' then has "
        "nothing to do.\n#\n"
        "#   dvc repro                 # run what changed\n"
        "#   dvc metrics show          # the quality numbers of efa report\n"
        f"#   dvc exp run -S '{paths[-1]}:train.max_steps=2000' && dvc exp show\n"
        "#   dvc plots show            # the figures, and the probe curves\n"
    )
    return header + yaml.safe_dump(pipeline, sort_keys=False, width=4096)
