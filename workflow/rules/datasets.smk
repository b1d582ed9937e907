# Data sets: fetch raw files (network, so a local rule on clusters) and build canonical stores.


localrules:
    fetch_dataset,


rule fetch_dataset:
    """Download (or copy from $EFA_DATA_MIRROR) and verify the raw files of a fetched data set;
    the output lists the files and their sha256."""
    output:
        f"{DATASETS}/raw/{{dataset}}.fetched.json",
    params:
        efa=EFA,
        root=lambda wildcards, output: Path(output[0]).parent.parent,
    log:
        f"{LOGS}/fetch/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/fetch/{{dataset}}.tsv"
    threads: threads_of("fetch")
    resources:
        mem_mb=resource("fetch", "mem_mb"),
        runtime=resource("fetch", "runtime"),
    conda:
        "../envs/efa.yaml"
    shell:
        "{params.efa:q} data fetch --root {params.root:q} {wildcards.dataset:q} "
        "> {output:q} 2> {log:q}"




rule build_dataset:
    """Generate or read a data set into its canonical store, with the configured sizes."""
    input:
        build_inputs,
    output:
        f"{DATASETS}/{{dataset}}.zarr/zarr.json",
    params:
        efa=EFA,
        root=lambda wildcards, output: Path(output[0]).parent.parent,
        overrides=build_arguments,
        entry=registry_entry,
    log:
        f"{LOGS}/datasets/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/datasets/{{dataset}}.tsv"
    threads: threads_of("build")
    resources:
        mem_mb=resource("build", "mem_mb"),
        runtime=resource("build", "runtime"),
        cpus_per_task=resource("build", "cpus_per_task"),
    conda:
        "../envs/efa.yaml"
    shell:
        "{params.efa:q} data build --root {params.root:q} {params.overrides:q} "
        "{wildcards.dataset:q} > {log:q} 2>&1"
