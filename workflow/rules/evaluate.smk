# Evaluation: test metrics of each run in the result-store format.


rule evaluate:
    """Metrics (and per-structure predictions) of the best checkpoint on the test split, and
    the errors on every test set and group of the data set."""
    input:
        rules.train.output[0],
    output:
        metrics=store_marker(str(PLAN.run_paths().metrics)),
        predictions=store_marker(str(PLAN.run_paths().predictions("test"))),
        test_sets=store_marker(str(PLAN.run_paths().test_sets)),
    log:
        f"{LOGS}/evaluate/{{experiment}}/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{experiment}}/{{model}}/seed{{seed}}.tsv"
    conda:
        "../envs/efa.yaml"
    threads: PLAN.threads("evaluate")
    resources:
        **PLAN.resource_callables("evaluate"),
    params:
        efa=EFA,
        run=lambda wildcards, input: Path(input[0]).parent,
        metrics=lambda wildcards, output: store_of(output.metrics),
    shell:
        "{params.efa:q} evaluate {params.run:q} --split test --output {params.metrics:q} "
        "> {log:q} 2>&1"
