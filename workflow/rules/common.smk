# Shared set-up of the workflow: configuration checks, paths, wildcard constraints, helpers.
#
# Validation happens here, while Snakemake parses the workflow, so a bad configuration stops
# before any job runs: first the JSON schema, then efa.config.validate_workflow_config (the
# registry, models, quadrature bound, split sizes), each naming the offending key.

import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from efa.config import probe_defaults, probe_reference, run_settings, validate_workflow_config
from efa.data.registry import load_registry

validate(config, "../schemas/config.schema.yaml")
validate_workflow_config(
    config, source=", ".join(str(path) for path in workflow.configfiles) or "config"
)

# Jobs call 'efa' and 'python' from the environment Snakemake runs in (the venv's bin folder
# first, so an un-activated '.venv/bin/snakemake' works); '--sdm conda' puts its env first.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])

# The download mirror reaches every job: local jobs inherit it, cluster jobs get it declared.
if "EFA_DATA_MIRROR" in os.environ:

    envvars:
        "EFA_DATA_MIRROR",


DATASETS = config["datasets_root"]
RESULTS = config["results_root"]
LOGS = f"{RESULTS}/logs"  # one log per job
BENCHMARKS = f"{RESULTS}/benchmarks"  # time and memory per job
REGISTRY = load_registry(DATASETS)
EXPERIMENTS = config["experiments"]


def _alternatives(names):
    return "|".join(re.escape(str(name)) for name in sorted(names, key=len, reverse=True))


wildcard_constraints:
    dataset=_alternatives(config["datasets"]),
    experiment=_alternatives(EXPERIMENTS),
    model=_alternatives({m for spec in EXPERIMENTS.values() for m in spec["models"]}),
    seed=r"\d+",
    probe=_alternatives({p for spec in EXPERIMENTS.values() for p in spec.get("probes") or {}}),


# --- resources ------------------------------------------------------------------------------

# Per-rule defaults; 'resources:' in the configuration overrides them (per rule) and a model's
# 'resources:' overrides its training jobs. runtime is in minutes, mem_mb in MB.
RESOURCE_DEFAULTS = {
    "fetch": {"threads": 1, "mem_mb": 1000, "runtime": 30, "gpu": 0},
    "build": {"threads": 1, "mem_mb": 4000, "runtime": 120, "gpu": 0},
    "train": {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0},
    "evaluate": {"threads": 1, "mem_mb": 4000, "runtime": 30, "gpu": 0},
    "probe": {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0},
    "report": {"threads": 1, "mem_mb": 2000, "runtime": 15, "gpu": 0},
}


def rule_resources(step, experiment=None, model=None):
    """Resources of a job of ``step`` (threads, mem_mb, runtime, gpu, cpus_per_task)."""
    merged = dict(RESOURCE_DEFAULTS[step])
    merged.update((config.get("resources") or {}).get(step) or {})
    if experiment is not None and model is not None:
        merged.update(EXPERIMENTS[experiment]["models"][model].get("resources") or {})
    merged.setdefault("cpus_per_task", merged["threads"])
    return merged


def resource(step, name):
    """A resource callable for ``resources:`` (per job, so a model can override its own)."""

    def value(wildcards):
        return rule_resources(
            step, wildcards.get("experiment"), wildcards.get("model")
        )[name]

    return value


def threads_of(step):
    return rule_resources(step)["threads"]


# --- paths ----------------------------------------------------------------------------------


def dataset_store(name):
    return f"{DATASETS}/{name}.zarr"


# A zarr store is tracked through its top-level 'zarr.json': the efa commands replace a store
# atomically as a whole, and a marker file (unlike a directory() output) keeps Snakemake's
# timestamp file out of the store.
def store_marker(store):
    return f"{store}/zarr.json"


def store_of(marker):
    return str(Path(marker).parent)


def run_dir(experiment, model, seed):
    return f"{RESULTS}/runs/{experiment}/{model}/seed{seed}"


def runs_of(experiment):
    """Run directories of every model and seed of ``experiment``."""
    spec = EXPERIMENTS[experiment]
    return [
        run_dir(experiment, model, seed)
        for model in spec["models"]
        for seed in spec.get("seeds", [0])
    ]


def probe_entries():
    """(experiment, label, probe name, options) of every configured probe."""
    for experiment, spec in EXPERIMENTS.items():
        for label, options in (spec.get("probes") or {}).items():
            options = dict(options or {})
            yield experiment, label, options.pop("probe", label), options


PROBES = {label: (experiment, name, options) for experiment, label, name, options in probe_entries()}


def all_targets():
    """Every output of the suite: run metrics, probe stores and (if enabled) the report."""
    targets = [
        store_marker(f"{run}/metrics.zarr")
        for experiment in EXPERIMENTS
        for run in runs_of(experiment)
    ]
    targets += [store_marker(f"{RESULTS}/probes/{label}.zarr") for label in PROBES]
    if config.get("report", {}).get("enabled", True):
        targets += [f"{RESULTS}/metrics.json", store_marker(f"{RESULTS}/metrics.zarr")]
    return targets


# --- command-line arguments -----------------------------------------------------------------


def set_arguments(mapping):
    """``--set KEY=VALUE`` arguments (values as JSON, which efa parses as YAML), shell-quoted."""
    return " ".join(
        f"--set {shlex.quote(f'{key}={json.dumps(value)}')}" for key, value in mapping.items()
    )


def train_arguments(wildcards):
    settings = run_settings(config, wildcards.experiment, wildcards.model, int(wildcards.seed))
    return set_arguments(settings)


def build_arguments(wildcards):
    return set_arguments(config["datasets"].get(wildcards.dataset) or {})


def registry_entry(wildcards):
    """The registry entry of a data set, as a parameter: editing it rebuilds that data set."""
    return json.dumps(REGISTRY.get(wildcards.dataset).to_mapping(), sort_keys=True, default=str)
