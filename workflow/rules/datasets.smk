# Data sets: fetch raw files (network, so a local rule on clusters) and build canonical stores.


localrules:
    fetch_dataset,


rule fetch_dataset:
    """Download (or copy from $EFA_DATA_MIRROR) and verify the raw files of a fetched data set;
    the output lists the files and their sha256."""
    output:
        f"{DATASETS}/raw/{{dataset}}.fetched.json",
    log:
        f"{LOGS}/fetch/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/fetch/{{dataset}}.tsv"
    conda:
        "../envs/efa.yaml"
    threads: PLAN.threads("fetch")
    resources:
        **PLAN.resource_callables("fetch", ("mem_mb", "runtime")),
    params:
        efa=EFA,
        root=lambda wildcards, output: Path(output[0]).parent.parent,
    shell:
        "{params.efa:q} data fetch --root {params.root:q} {wildcards.dataset:q} "
        "> {output:q} 2> {log:q}"


rule build_dataset:
    """Generate or read a data set into its canonical store, with the configured sizes."""
    input:
        lambda wildcards: PLAN.build_inputs(wildcards.dataset),
    output:
        f"{DATASETS}/{{dataset}}.zarr/zarr.json",
    log:
        f"{LOGS}/datasets/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/datasets/{{dataset}}.tsv"
    conda:
        "../envs/efa.yaml"
    threads: PLAN.threads("build")
    resources:
        **PLAN.resource_callables("build", ("mem_mb", "runtime")),
    params:
        efa=EFA,
        root=lambda wildcards, output: Path(output[0]).parent.parent,
        overrides=lambda wildcards: PLAN.build_arguments(wildcards.dataset),
        entry=lambda wildcards: PLAN.registry_entry(wildcards.dataset),
    shell:
        "{params.efa:q} data build --root {params.root:q} {params.overrides:q} "
        "{wildcards.dataset:q} > {log:q} 2>&1"
