# Probes: every trained model of an experiment on each of its probes, one store per probe.


def probe_inputs(wildcards):
    experiment, name, options = PROBES[wildcards.probe]
    inputs = {"runs": [f"{run}/summary.json" for run in runs_of(experiment)]}
    reference = probe_reference(name, options)
    if reference is not None:
        inputs["reference"] = store_marker(dataset_store(reference))
    return inputs


def probe_arguments(wildcards):
    experiment, name, options = PROBES[wildcards.probe]
    arguments = [name, "--label", wildcards.probe]
    if "datasets_root" in probe_defaults(name):
        arguments += ["--datasets-root", DATASETS]
    for run in runs_of(experiment):
        arguments += ["--run", run]
    for option, value in options.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(item) for item in value)
        arguments += [f"--{option.replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(argument) for argument in arguments)


rule probe:
    """Evaluate the runs of an experiment on one probe (reference vs predictions, metrics)."""
    input:
        unpack(probe_inputs),
    output:
        f"{RESULTS}/probes/{{probe}}.zarr/zarr.json",
    params:
        arguments=probe_arguments,
        store=f"{RESULTS}/probes/{{probe}}.zarr",
    log:
        f"{LOGS}/probes/{{probe}}.log",
    benchmark:
        f"{BENCHMARKS}/probes/{{probe}}.tsv"
    threads: threads_of("probe")
    resources:
        gpu=resource("probe", "gpu"),
        mem_mb=resource("probe", "mem_mb"),
        runtime=resource("probe", "runtime"),
        cpus_per_task=resource("probe", "cpus_per_task"),
    shell:
        "efa probe {params.arguments} --output {params.store} > {log} 2>&1"
