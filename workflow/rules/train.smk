# Training: one job per experiment x model x seed. A killed job resumes from its checkpoint when
# the workflow runs again (the run directory is not an output, so Snakemake never deletes it).


rule train:
    """Train (or resume) one run; summary.json appears when training is complete."""
    input:
        lambda wildcards: store_marker(dataset_store(EXPERIMENTS[wildcards.experiment]["dataset"])),
    output:
        f"{RESULTS}/runs/{{experiment}}/{{model}}/seed{{seed}}/summary.json",
    params:
        efa=EFA,
        settings=train_arguments,
        run=lambda wildcards: run_dir(wildcards.experiment, wildcards.model, wildcards.seed),
    log:
        f"{LOGS}/train/{{experiment}}/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{experiment}}/{{model}}/seed{{seed}}.tsv"
    threads: threads_of("train")
    resources:
        gpu=resource("train", "gpu"),
        mem_mb=resource("train", "mem_mb"),
        runtime=resource("train", "runtime"),
        cpus_per_task=resource("train", "cpus_per_task"),
    conda:
        "../envs/efa.yaml"
    shell:
        "{params.efa:q} train {params.settings:q} --run-dir {params.run:q} --no-progress "
        "> {log:q} 2>&1"
