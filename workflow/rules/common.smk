# Shared set-up of the workflow: configuration checks, paths, wildcard constraints, helpers.
#
# Validation happens here, while Snakemake parses the workflow, so a bad configuration stops
# before any job runs: first the JSON schema, then efa.config.validate_workflow_config (the
# registry, models, quadrature bound, split sizes), each naming the offending key.

import json
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

from efa.config import (
    prepare_job_environment,
    probe_defaults,
    probe_reference,
    run_settings,
    validate_workflow_config,
)
from efa.data.registry import load_registry
from efa.provenance import mapping_sha256

validate(config, "../schemas/config.schema.yaml")
validate_workflow_config(
    config, source=", ".join(str(path) for path in workflow.configfiles) or "config"
)

# Jobs run the efa command line as 'python -m efa.cli' with this repository's package first on
# the module path: Python is the one Snakemake runs in (an un-activated '.venv/bin/snakemake'
# works), or the env of '--sdm conda' (workflow/envs/efa.yaml), which Snakemake puts first.
#
# Quoting: every value in the 'shell:' commands of the rules is written '{...:q}'. Parameters that
# stand for several arguments are lists, which ':q' quotes item by item (so EFA is one too).
EFA = ["python", "-m", "efa.cli"]
prepare_job_environment(workflow.basedir)

DATASETS = config["datasets_root"]
RESULTS = config["results_root"]
LOGS = f"{RESULTS}/logs"  # one log per job
BENCHMARKS = f"{RESULTS}/benchmarks"  # time and memory per job
REGISTRY = load_registry(DATASETS)
EXPERIMENTS = config["experiments"]
CONFIG_SHA256 = mapping_sha256(config)  # provenance: the configuration as validated, defaults in


def _alternatives(names):
    return "|".join(re.escape(str(name)) for name in sorted(names, key=len, reverse=True))


wildcard_constraints:
    dataset=_alternatives(config["datasets"]),
    experiment=_alternatives(EXPERIMENTS),
    model=_alternatives({m for spec in EXPERIMENTS.values() for m in spec["models"]}),
    seed=r"\d+",
    probe=_alternatives({p for spec in EXPERIMENTS.values() for p in spec.get("probes") or {}}),


# --- resources ------------------------------------------------------------------------------

# Defaults per step; the configuration's 'resources' block overrides them (per step) and a model's
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
    entry = EXPERIMENTS[experiment]["models"][model] if experiment and model else {}
    if step == "train" and "calculator" in entry and "trainer" not in entry:  # nothing to train
        return dict(RESOURCE_DEFAULTS["fetch"], cpus_per_task=1)
    merged = dict(RESOURCE_DEFAULTS[step])
    merged.update((config.get("resources") or {}).get(step) or {})
    merged.update(entry.get("resources") or {})
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
    """(label, experiments whose runs it evaluates, probe name, efa probe options) per probe."""
    for experiment, spec in EXPERIMENTS.items():
        for label, options in (spec.get("probes") or {}).items():
            options = dict(options or {})
            name = options.pop("probe", label)
            experiments = options.pop("experiments", [experiment])
            yield label, experiments, name, options


PROBES = {label: (experiments, name, options) for label, experiments, name, options in probe_entries()}


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


# --- inputs and command-line arguments of the rules -----------------------------------------------------------------


def set_arguments(mapping):
    """``--set KEY=VALUE`` arguments (values as JSON, which efa parses as YAML), as a list."""
    return [argument for key, value in mapping.items()
            for argument in ("--set", f"{key}={json.dumps(value)}")]


def train_arguments(wildcards):
    settings = run_settings(config, wildcards.experiment, wildcards.model, int(wildcards.seed))
    return set_arguments(settings)


def build_arguments(wildcards):
    return set_arguments(config["datasets"].get(wildcards.dataset) or {})


def registry_entry(wildcards):
    """The registry entry of a data set, as a parameter: editing it rebuilds that data set."""
    return json.dumps(REGISTRY.get(wildcards.dataset).to_mapping(), sort_keys=True, default=str)

def build_inputs(wildcards):
    """The fetch manifest of a fetched set, unless its store exists already (as after 'dvc
    pull': then the raw files are not needed; a rebuild fetches them itself)."""
    entry = REGISTRY.get(wildcards.dataset)
    if entry.kind == "fetch" and not Path(store_marker(dataset_store(wildcards.dataset))).exists():
        return [f"{DATASETS}/raw/{wildcards.dataset}.fetched.json"]
    return []


def probe_inputs(wildcards):
    experiments, name, options = PROBES[wildcards.probe]
    inputs = {"runs": [f"{run}/summary.json" for e in experiments for run in runs_of(e)]}
    reference = probe_reference(name, options)
    if reference is not None:
        inputs["reference"] = store_marker(dataset_store(reference))
    return inputs


def probe_arguments(wildcards):
    """The arguments of 'efa probe', as a list; options as '--option=VALUE', one item each (':q'
    leaves an empty item out, which would shift a separate value onto the next option)."""
    experiments, name, options = PROBES[wildcards.probe]
    arguments = [name, f"--label={wildcards.probe}"]
    if "datasets_root" in probe_defaults(name):
        arguments.append(f"--datasets-root={DATASETS}")
    for run in (run for experiment in experiments for run in runs_of(experiment)):
        arguments.append(f"--run={run}")
    for option, value in options.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(item) for item in value)
        arguments.append(f"--{option.replace('_', '-')}={value}")
    return arguments
