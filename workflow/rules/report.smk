# Report: tables, figures, the combined metric store and metrics.json for DVC.


rule report:
    """Aggregate test metrics and probe stores over seeds; print the quality targets."""
    input:
        metrics=expand(rules.evaluate.output.metrics, zip, **PLAN.run_wildcards()),
        test_sets=expand(rules.evaluate.output.test_sets, zip, **PLAN.run_wildcards()),
        predictions=expand(rules.evaluate.output.predictions, zip, **PLAN.run_wildcards()),
        probes=expand(rules.probe.output[0], probe=PLAN.probes),
    output:
        summary=f"{RESULTS}/metrics.json",
        provenance=f"{RESULTS}/provenance.json",
        plots=f"{RESULTS}/dvc.yaml",
        cost=f"{RESULTS}/cost.json",
        verdicts=f"{RESULTS}/targets.json",
        page=f"{RESULTS}/report.html",
        metrics=store_marker(f"{RESULTS}/metrics.zarr"),
        tables=report(
            directory(f"{RESULTS}/tables"),
            patterns=["{name}.md"],
            caption="../report/tables.rst",
            category="Tables",
        ),
        figures=report(
            directory(f"{RESULTS}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCHMARKS}/report.tsv"
    conda:
        "../envs/efa.yaml"
    threads: PLAN.threads("report")
    resources:
        **PLAN.resource_callables("report", ("mem_mb", "runtime")),
    params:
        efa=EFA,
        config_sha256=PLAN.config_sha256,
        root=lambda wildcards, output: Path(output.summary).parent,
        metrics=lambda wildcards, input: [store_of(path) for path in input.metrics],
        test_sets=lambda wildcards, input: [store_of(path) for path in input.test_sets],
        predictions=lambda wildcards, input: [store_of(path) for path in input.predictions],
        probes=lambda wildcards, input: (
            ["--probes", *(store_of(path) for path in input.probes)] if input.probes else []
        ),
        combined=lambda wildcards, output: store_of(output.metrics),
        targets=PLAN.targets_json(),
    shell:
        "{params.efa:q} report --metrics {params.metrics:q} --test-sets {params.test_sets:q} "
        "--predictions {params.predictions:q} "
        "{params.probes:q} "
        "--output-dir {params.root:q} --combined-metrics {params.combined:q} "
        "--config-sha256 {params.config_sha256:q} --targets-json {params.targets:q} "
        "> {log:q} 2>&1"
