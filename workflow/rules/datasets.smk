# Data sets: fetch raw files (network, so a local rule on clusters) and build canonical stores.


localrules:
    fetch_dataset,


rule fetch_dataset:
    """Download (or copy from $EFA_DATA_MIRROR) and verify the raw files of a fetched data set;
    the output lists the files and their sha256."""
    output:
        f"{DATASETS}/raw/{{dataset}}.fetched.json",
    params:
        root=DATASETS,
    log:
        f"{LOGS}/fetch/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/fetch/{{dataset}}.tsv"
    threads: threads_of("fetch")
    resources:
        mem_mb=resource("fetch", "mem_mb"),
        runtime=resource("fetch", "runtime"),
    shell:
        "efa data fetch --root {params.root} {wildcards.dataset} > {output} 2> {log}"


def build_inputs(wildcards):
    if REGISTRY.get(wildcards.dataset).kind == "fetch":
        return [f"{DATASETS}/raw/{wildcards.dataset}.fetched.json"]
    return []


rule build_dataset:
    """Generate or read a data set into its canonical store, with the configured sizes."""
    input:
        build_inputs,
    output:
        f"{DATASETS}/{{dataset}}.zarr/zarr.json",
    params:
        root=DATASETS,
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
    shell:
        "efa data build --root {params.root} {params.overrides} {wildcards.dataset} > {log} 2>&1"
