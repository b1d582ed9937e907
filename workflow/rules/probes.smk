# Probes: every trained model of an experiment on each of its probes, one store per probe.


rule probe:
    """Evaluate the runs of an experiment on one probe (reference vs predictions, metrics)."""
    input:
        unpack(probe_inputs),
    output:
        f"{RESULTS}/probes/{{probe}}.zarr/zarr.json",
    params:
        efa=EFA,
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
    conda:
        "../envs/efa.yaml"
    shell:
        "{params.efa:q} probe {params.arguments:q} --output {params.store:q} > {log:q} 2>&1"
