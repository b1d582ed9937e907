"""What the Snakemake workflow runs: paths, targets, job resources and each job's arguments.

The rule files (``workflow/rules/*.smk``) only declare rules; every decision they need comes from
one :class:`Plan` of the validated configuration (:func:`efa.workflow.validate_workflow_config`):

- paths: ``<datasets_root>/<name>.zarr``, the run directories ``<results_root>/runs/...``
  (:mod:`efa.runs.layout`),
  ``<results_root>/probes/<label>.zarr``, logs and benchmarks per job;
- the targets of the suite (:meth:`Plan.targets`);
- job resources per step, from :data:`RESOURCE_DEFAULTS`, the configuration's ``resources``
  block and a model's own ``resources`` (:meth:`Plan.resources`);
- the arguments of each ``efa`` command, as lists of single arguments that the rules quote item
  by item (``{params.x:q}``), so that no value ever reaches the shell unquoted.

A zarr store is tracked through its top-level ``zarr.json`` (:func:`store_marker`): the ``efa``
commands replace a store as a whole, and a marker file, unlike a ``directory()`` output, keeps
Snakemake's timestamp file out of the store.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from efa.data.registry import load_registry
from efa.provenance import mapping_sha256
from efa.report.target_spec import declarations
from efa.runs.layout import RunPaths, run_dir
from efa.workflow.config import probe_defaults, probe_references, run_settings

#: The command every job runs: the ``efa`` command line of the workflow's Python.
EFA = ["python", "-m", "efa.cli"]

#: Default resources per step; ``runtime`` in minutes, ``mem_mb`` in MB.
RESOURCE_DEFAULTS: dict[str, dict[str, int]] = {
    "fetch": {"threads": 1, "mem_mb": 1000, "runtime": 30, "gpu": 0},
    "build": {"threads": 1, "mem_mb": 4000, "runtime": 120, "gpu": 0},
    "train": {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0},
    "evaluate": {"threads": 1, "mem_mb": 4000, "runtime": 30, "gpu": 0},
    "probe": {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0},
    "report": {"threads": 1, "mem_mb": 2000, "runtime": 15, "gpu": 0},
}


def store_marker(store: str) -> str:
    """The file that stands for the zarr store ``store`` in the rules (its ``zarr.json``)."""
    return f"{store}/zarr.json"


def store_of(marker: str) -> str:
    """The store of a marker written by :func:`store_marker`."""
    return str(Path(marker).parent)


def set_arguments(mapping: Mapping[str, Any]) -> list[str]:
    """``--set KEY=VALUE`` arguments (values as JSON, which efa parses as YAML), as a list, in
    sorted key order at every level: a job's parameters depend on the settings, not on the order
    in which a configuration file lists them (Snakemake reruns a job whose parameters changed)."""
    return [
        argument
        for key, value in sorted(mapping.items())
        for argument in ("--set", f"{key}={json.dumps(value, sort_keys=True)}")
    ]


def alternatives(names: Iterable[object]) -> str:
    """A regular expression matching exactly one of ``names`` (a wildcard constraint)."""
    return "|".join(re.escape(str(name)) for name in sorted(names, key=len, reverse=True))


def prepare_job_environment(repository: str | os.PathLike) -> None:
    """Let jobs run ``python -m efa.cli`` from this repository with the workflow's Python.

    Puts the directory of the running interpreter first on ``PATH`` (so ``python`` is the one
    Snakemake runs in, also from an un-activated virtual environment) and ``repository`` first
    on ``PYTHONPATH``. Jobs inherit the environment; ``--sdm conda`` puts its env first.
    """
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(repository), *python_path])


class Plan:
    """Everything the rules need to know about one validated configuration.

    Args:
      config: the workflow configuration (schema defaults filled in, validated).
    """

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.datasets_root = str(config.get("datasets_root", "datasets"))
        self.results = str(config.get("results_root", "results"))
        self.logs = f"{self.results}/logs"
        self.benchmarks = f"{self.results}/benchmarks"
        self.experiments: Mapping[str, Any] = config["experiments"]
        self.registry = load_registry(self.datasets_root)
        #: Provenance: the hash of the configuration as validated, defaults included.
        self.config_sha256 = mapping_sha256(config)
        self.probes = {
            label: (experiments, name, options)
            for label, experiments, name, options in self._probe_entries()
        }

    # --- names and paths ----------------------------------------------------------------------

    def wildcard_constraints(self) -> dict[str, str]:
        """Regular expressions of the wildcards: only configured names match."""
        models = {m for spec in self.experiments.values() for m in spec["models"]}
        return {
            "dataset": alternatives(self.config["datasets"]),
            "experiment": alternatives(self.experiments),
            "model": alternatives(models),
            "seed": r"\d+",
            "probe": alternatives(self.probes),
        }

    def dataset_store(self, name: str) -> str:
        return f"{self.datasets_root}/{name}.zarr"

    def run_paths(
        self, experiment: str = "{experiment}", model: str = "{model}", seed: int | str = "{seed}"
    ) -> RunPaths:
        """The paths of a run directory (:mod:`efa.runs.layout`) under ``<results_root>/runs``;
        by default with the rules' wildcards ``{experiment}``, ``{model}`` and ``{seed}``."""
        return RunPaths(run_dir(f"{self.results}/runs", experiment, model, seed))

    def run_dir(self, experiment: str, model: str, seed: int | str) -> str:
        return str(self.run_paths(experiment, model, seed).root)

    def runs_of(self, experiment: str) -> list[str]:
        """Run directories of every model and seed of ``experiment``."""
        spec = self.experiments[experiment]
        return [
            self.run_dir(experiment, model, seed)
            for model in spec["models"]
            for seed in spec.get("seeds", [0])
        ]

    def all_runs(self) -> list[str]:
        return [run for experiment in self.experiments for run in self.runs_of(experiment)]

    def run_wildcards(self) -> dict[str, list]:
        """``{"experiment": [...], "model": [...], "seed": [...]}`` of every run, for
        ``expand(pattern, zip, **...)`` over a rule's per-run output."""
        keys = [
            (experiment, model, seed)
            for experiment, spec in self.experiments.items()
            for model in spec["models"]
            for seed in spec.get("seeds", [0])
        ]
        return {
            "experiment": [k[0] for k in keys],
            "model": [k[1] for k in keys],
            "seed": [k[2] for k in keys],
        }

    def probe_store(self, label: str) -> str:
        return f"{self.results}/probes/{label}.zarr"

    def _probe_entries(self):
        """(label, experiments whose runs it evaluates, probe name, efa probe options)."""
        for experiment, spec in self.experiments.items():
            for label, options in (spec.get("probes") or {}).items():
                options = dict(options or {})
                name = options.pop("probe", label)
                experiments = options.pop("experiments", [experiment])
                options.pop("targets", None)  # judged by the report
                yield label, experiments, name, options

    def targets_json(self) -> str:
        """Every quality target declared in the configuration, as ``efa report --targets-json``
        takes them (:func:`efa.report.target_spec.declarations`)."""
        return json.dumps(declarations(self.config), sort_keys=True)

    def targets(self) -> list[str]:
        """Every output of the suite: run metrics, probe stores and (if enabled) the report."""
        targets = [store_marker(str(RunPaths(Path(run)).metrics)) for run in self.all_runs()]
        targets += [store_marker(self.probe_store(label)) for label in self.probes]
        if (self.config.get("report") or {}).get("enabled", True):
            report = [
                f"{self.results}/metrics.json",
                f"{self.results}/report.html",
                store_marker(f"{self.results}/metrics.zarr"),
            ]
            targets += report
        return targets

    # --- resources ----------------------------------------------------------------------------

    def resources(
        self, step: str, experiment: str | None = None, model: str | None = None
    ) -> dict[str, int]:
        """Resources of a job of ``step``: threads, mem_mb, runtime, gpu.

        Precedence: :data:`RESOURCE_DEFAULTS` < the configuration's ``resources.<step>`` < the
        model's ``resources`` (for its training job). The CPUs a SLURM job asks for are its
        ``threads`` (the executor's ``--cpus-per-task``), so the CPUs granted are the CPUs used. A
        calculator model without a trainer has nothing to train: its ``train`` job gets the small
        resources of a fetch.
        """
        entry = self.experiments[experiment]["models"][model] if experiment and model else {}
        if step == "train" and "calculator" in entry and "trainer" not in entry:
            merged = dict(RESOURCE_DEFAULTS["fetch"])
        else:
            merged = dict(RESOURCE_DEFAULTS[step])
            merged.update((self.config.get("resources") or {}).get(step) or {})
            merged.update(entry.get("resources") or {})
        return merged

    def resource_callables(
        self, step: str, names: Iterable[str] = ("gpu", "mem_mb", "runtime")
    ) -> dict[str, Callable]:
        """``{name: (wildcards, attempt) → value}`` for a rule's ``resources:``, per job (a model
        can override its own). ``mem_mb`` grows with the attempt (``attempt × mem_mb``), so that
        the retry of a job killed for memory asks for more."""

        def value(name: str) -> Callable:
            def of_job(wildcards, attempt: int = 1) -> int:
                amount = self.resources(step, wildcards.get("experiment"), wildcards.get("model"))
                return amount[name] * attempt if name == "mem_mb" else amount[name]

            return of_job

        return {name: value(name) for name in names}

    def threads(self, step: str) -> Callable:
        """``wildcards → threads`` of a job of ``step`` (a model's ``resources`` may set them)."""
        return lambda wildcards: self.resources(
            step, wildcards.get("experiment"), wildcards.get("model")
        )["threads"]

    # --- inputs and arguments of the jobs -----------------------------------------------------

    def train_arguments(self, experiment: str, model: str, seed: int | str) -> list[str]:
        """``efa train`` settings of one run as ``--set`` arguments."""
        return set_arguments(run_settings(self.config, experiment, model, int(seed)))

    def build_arguments(self, dataset: str) -> list[str]:
        """``efa data build`` overrides of a data set as ``--set`` arguments."""
        return set_arguments(self.config["datasets"].get(dataset) or {})

    def registry_entry(self, dataset: str) -> str:
        """The registry entry of a data set as JSON (a parameter: editing it rebuilds the set)."""
        entry = self.registry.get(dataset).to_mapping()
        return json.dumps(entry, sort_keys=True, default=str)

    def build_inputs(self, dataset: str) -> list[str]:
        """The fetch manifest of a fetched set, unless its store exists already (as after
        'dvc pull': then the raw files are not needed; a rebuild fetches them itself)."""
        entry = self.registry.get(dataset)
        store = store_marker(self.dataset_store(dataset))
        if entry.kind == "fetch" and not Path(store).exists():
            return [f"{self.datasets_root}/raw/{dataset}.fetched.json"]
        return []

    def experiment_dataset(self, experiment: str) -> str:
        """The store marker of an experiment's data set (the input of its training jobs)."""
        return store_marker(self.dataset_store(self.experiments[experiment]["dataset"]))

    def probe_inputs(self, label: str) -> dict[str, Any]:
        """The finished runs a probe evaluates, and the stores of the data sets it reads."""
        experiments, name, options = self.probes[label]
        runs = [run for experiment in experiments for run in self.runs_of(experiment)]
        inputs: dict[str, Any] = {"runs": [str(RunPaths(Path(run)).summary) for run in runs]}
        references = probe_references(name, options)
        if references:
            inputs["reference"] = [
                store_marker(self.dataset_store(reference)) for _, reference in references
            ]
        return inputs

    def probe_arguments(self, label: str) -> list[str]:
        """The arguments of 'efa probe', as a list; options as '--option=VALUE', one item each
        (':q' leaves an empty item out, which would shift a separate value onto the next
        option)."""
        experiments, name, options = self.probes[label]
        arguments = [name, f"--label={label}"]
        if "datasets_root" in probe_defaults(name):
            arguments.append(f"--datasets-root={self.datasets_root}")
        for run in (run for experiment in experiments for run in self.runs_of(experiment)):
            arguments.append(f"--run={run}")
        for option, value in options.items():
            flag = option.replace("_", "-")
            if isinstance(value, bool):  # a switch: --with-reference / --no-with-reference
                arguments.append(f"--{flag}" if value else f"--no-{flag}")
                continue
            if isinstance(value, (list, tuple)):
                value = ",".join(str(item) for item in value)
            arguments.append(f"--{flag}={value}")
        return arguments
