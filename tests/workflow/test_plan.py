"""The workflow's plan: paths, targets, resources and job arguments of a configuration."""

from __future__ import annotations

import copy
import shutil

import pytest

from efa.workflow.plan import Plan, alternatives, set_arguments, store_marker, store_of

from .conftest import ROOT, load_config


@pytest.fixture
def plan_of(tmp_path, monkeypatch):
    """``plan_of(config)``: a Plan of a configuration whose data set root is a copy of the
    registry in a temporary folder."""
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "registry.yaml", tmp_path / "datasets")
    monkeypatch.chdir(tmp_path)

    def make(config):
        return Plan(config)

    return make


def test_paths_targets_and_run_wildcards(plan_of):
    config = load_config("ci.yaml")
    config["experiments"]["two_atoms"]["seeds"] = [0, 3]
    plan = plan_of(config)
    assert plan.runs_of("two_atoms") == [
        "results/runs/two_atoms/local/seed0",
        "results/runs/two_atoms/local/seed3",
        "results/runs/two_atoms/efa/seed0",
        "results/runs/two_atoms/efa/seed3",
    ]
    assert plan.run_wildcards() == {
        "experiment": ["two_atoms"] * 4,
        "model": ["local", "local", "efa", "efa"],
        "seed": [0, 3, 0, 3],
    }
    assert plan.targets()[-3:] == [
        "results/metrics.json",
        "results/report.html",
        "results/metrics.zarr/zarr.json",
    ]
    assert "results/probes/two_atoms.zarr/zarr.json" in plan.targets()
    config["report"] = {"enabled": False}
    assert "results/metrics.json" not in plan_of(config).targets()
    assert store_of(store_marker("a/b.zarr")) == "a/b.zarr"


def test_resources_precedence_and_calculators(plan_of):
    config = load_config("ci.yaml")
    config["resources"] = {"train": {"mem_mb": 9000, "threads": 2}}
    models = config["experiments"]["two_atoms"]["models"]
    models["efa"]["resources"] = {"gpu": 4}
    models["lj"] = {"calculator": "ase.calculators.lj:LennardJones", "resources": {"gpu": 8}}
    plan = plan_of(config)
    assert plan.resources("train", "two_atoms", "local") == {
        "threads": 2,
        "mem_mb": 9000,
        "runtime": 60,
        "gpu": 0,
    }
    assert plan.resources("train", "two_atoms", "efa")["gpu"] == 4
    assert plan.resources("train", "two_atoms", "lj")["gpu"] == 0  # nothing to train
    assert plan.resources("evaluate")["mem_mb"] == 4000
    callables = plan.resource_callables("train")
    assert callables["gpu"]({"experiment": "two_atoms", "model": "efa"}) == 4
    # a retry asks for more memory: attempt x mem_mb
    assert callables["mem_mb"]({"experiment": "two_atoms", "model": "efa"}, attempt=3) == 27000
    models["efa"]["resources"]["threads"] = 3
    assert plan_of(config).threads("train")({"experiment": "two_atoms", "model": "efa"}) == 3


def test_job_arguments_are_single_items(plan_of):
    config = copy.deepcopy(load_config("ci.yaml"))
    config["experiments"]["two_atoms"]["probes"]["two_atoms"] = {"num_points": 31}
    plan = plan_of(config)
    assert plan.probe_arguments("two_atoms") == [
        "two_atoms",
        "--label=two_atoms",
        "--run=results/runs/two_atoms/local/seed0",
        "--run=results/runs/two_atoms/efa/seed0",
        "--num-points=31",
    ]
    arguments = plan.train_arguments("two_atoms", "local", "0")
    assert arguments[:2] == ["--set", "batch_size=16"]
    assert arguments[1::2] == [item for item in arguments if item != "--set"]
    assert "seed=0" in arguments and 'label="local"' in arguments
    assert plan.build_arguments("two_atoms") == ["--set", "num_structures=200"]
    assert set_arguments({"a": "x y"}) == ["--set", 'a="x y"']


def test_a_job_s_arguments_depend_on_the_settings_not_on_their_order(plan_of):
    """The same settings listed in another order give the same arguments (a YAML file rewritten
    with sorted keys reran every job); a calculator model gets no gradient-training setting, so
    a changed 'train' block leaves its run alone."""
    config = copy.deepcopy(load_config("ci.yaml"))
    shuffled = copy.deepcopy(config)
    shuffled["train"] = dict(reversed(list(config["train"].items())))
    local = shuffled["experiments"]["two_atoms"]["models"]["local"]
    local["options"] = dict(reversed(list(local["options"].items())))
    assert plan_of(shuffled).train_arguments("two_atoms", "local", 0) == plan_of(
        config
    ).train_arguments("two_atoms", "local", 0)

    config["experiments"]["two_atoms"]["models"]["lj"] = {
        "calculator": "ase.calculators.lj:LennardJones",
        "receptive_field": 10.0,
    }
    before = plan_of(config).train_arguments("two_atoms", "lj", 0)
    config["train"]["max_steps"] = 35
    assert plan_of(config).train_arguments("two_atoms", "lj", 0) == before
    assert not any(item.startswith(("max_steps=", "batch_size=")) for item in before)
    assert "max_steps=35" in plan_of(config).train_arguments("two_atoms", "local", 0)


def test_wildcard_constraints_match_only_configured_names(plan_of):
    import re

    constraints = plan_of(load_config("ci.yaml")).wildcard_constraints()
    assert re.fullmatch(constraints["model"], "efa")
    assert not re.fullmatch(constraints["model"], "efa2")
    assert alternatives(["a", "a.b"]) == r"a\.b|a"


def test_probe_switches_and_every_probe_option_reach_efa_probe(plan_of):
    import argparse

    from efa.cli.probe import add_arguments
    from efa.probes.registry import probe_option_names

    config = copy.deepcopy(load_config("ci.yaml"))
    config["experiments"]["two_atoms"]["probes"] = {
        "nve": {"reference": "two_atoms", "with_reference": False, "steps": 10}
    }
    arguments = plan_of(config).probe_arguments("nve")
    assert "--no-with-reference" in arguments and "--steps=10" in arguments
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parsed = parser.parse_args([*arguments, "--output=x.zarr"])
    assert parsed.with_reference is False and parsed.steps == 10
    assert set(probe_option_names()) <= set(vars(parsed))
