"""A user's data set with published splits through the workflow: no probes, metrics per group."""

from __future__ import annotations

import json

import yaml

from tests.builders import write_published_split_files

from .conftest import run, snakemake, tool


def test_published_splits_experiment_without_probes_runs_to_the_end(workdir):
    files = write_published_split_files(workdir / "files")
    argv = [
        tool("efa"),
        "data",
        "import",
        "--root",
        workdir / "datasets",
        "--name",
        "pub",
        "--group-key",
        "config_type",
    ]
    for split, path in files.items():
        argv += ["--split", f"{split}={path}"]
    run(argv, cwd=workdir)
    config = {
        "datasets": {"pub": {}},
        "experiments": {
            "pub": {
                "dataset": "pub",
                "splits": "dataset",
                "models": {
                    "lj": {
                        "calculator": "ase.calculators.lj:LennardJones",
                        "options": {"sigma": 1.116, "epsilon": 0.8, "rc": 6.0},
                        "cutoff": 6.0,
                        "receptive_field": 6.0,
                    }
                },
            }
        },
    }
    (workdir / "pub.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2", "--configfile", "pub.yaml", timeout=300)
    tables = workdir / "results" / "tables"
    per_set = (tables / "test_sets.md").read_text()
    assert "| pub | lj | test | ood | 10 |" in per_set, per_set
    assert "| pub | lj | test_far | ood | 6 |" in per_set, per_set
    summary = json.loads((workdir / "results" / "metrics.json").read_text())
    assert summary["targets"] == {"met": 0, "total": 0}
    assert set(summary["test_sets"]["pub"]["lj"]) == {"test", "test_far"}
    assert "test/in_domain:energy_mae" in (tables / "leaderboard_pub.csv").read_text()
