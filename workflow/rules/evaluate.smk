# Evaluation: test-split metrics of each run in the result-store format.


rule evaluate:
    """Metrics (and per-structure predictions) of the best checkpoint on the test split, and
    the errors on every test set and group of the data set."""
    input:
        f"{RESULTS}/runs/{{experiment}}/{{model}}/seed{{seed}}/summary.json",
    output:
        metrics=f"{RESULTS}/runs/{{experiment}}/{{model}}/seed{{seed}}/metrics.zarr/zarr.json",
        predictions=(
            f"{RESULTS}/runs/{{experiment}}/{{model}}/seed{{seed}}/predictions_test.zarr/zarr.json"
        ),
        test_sets=f"{RESULTS}/runs/{{experiment}}/{{model}}/seed{{seed}}/test_sets.zarr/zarr.json",
    params:
        efa=EFA,
        run=lambda wildcards: run_dir(wildcards.experiment, wildcards.model, wildcards.seed),
        metrics=lambda wildcards, output: store_of(output.metrics),
    log:
        f"{LOGS}/evaluate/{{experiment}}/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{experiment}}/{{model}}/seed{{seed}}.tsv"
    threads: threads_of("evaluate")
    resources:
        gpu=resource("evaluate", "gpu"),
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
        cpus_per_task=resource("evaluate", "cpus_per_task"),
    conda:
        "../envs/efa.yaml"
    shell:
        "{params.efa:q} evaluate {params.run:q} --split test --output {params.metrics:q} "
        "> {log:q} 2>&1"
