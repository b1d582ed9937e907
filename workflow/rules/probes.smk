# Probes: every trained model of an experiment on each of its probes, one store per probe.


rule probe:
    """Evaluate the runs of an experiment on one probe (reference vs predictions, metrics)."""
    input:
        unpack(lambda wildcards: PLAN.probe_inputs(wildcards.probe)),
    output:
        f"{RESULTS}/probes/{{probe}}.zarr/zarr.json",
    log:
        f"{LOGS}/probes/{{probe}}.log",
    benchmark:
        f"{BENCHMARKS}/probes/{{probe}}.tsv"
    conda:
        "../envs/efa.yaml"
    threads: PLAN.threads("probe")
    resources:
        **PLAN.resource_callables("probe"),
    params:
        efa=EFA,
        arguments=lambda wildcards: PLAN.probe_arguments(wildcards.probe),
        store=lambda wildcards, output: store_of(output[0]),
    shell:
        "{params.efa:q} probe {params.arguments:q} --output {params.store:q} > {log:q} 2>&1"
