# Training: one job per experiment x model x seed. A killed job resumes from its checkpoint when
# the workflow runs again (the run directory is not an output, so Snakemake never deletes it);
# a run whose settings changed (Snakemake reruns it: its params changed) is kept aside as
# .seed<k>.replaced and trained anew (efa train --replace-changed).


rule train:
    """Train (or resume) one run; summary.json appears when training is complete."""
    input:
        lambda wildcards: PLAN.experiment_dataset(wildcards.experiment),
    output:
        str(PLAN.run_paths().summary),
    log:
        f"{LOGS}/train/{{experiment}}/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{experiment}}/{{model}}/seed{{seed}}.tsv"
    conda:
        "../envs/efa.yaml"
    threads: PLAN.threads("train")
    resources:
        **PLAN.resource_callables("train"),
        nodes=1,  # one efa train process sees the GPUs of one node only
    params:
        efa=EFA,
        settings=lambda wildcards: PLAN.train_arguments(
            wildcards.experiment, wildcards.model, wildcards.seed
        ),
        run=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "{params.efa:q} train {params.settings:q} --run-dir {params.run:q} --no-progress "
        "--replace-changed "
        "> {log:q} 2>&1"
