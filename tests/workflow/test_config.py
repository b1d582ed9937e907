"""The workflow's configuration: lint, the paper's plan, and bad configurations."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys

import pytest
import yaml

from efa.errors import ConfigError
from efa.workflow.config import check_schema, validate_workflow_config
from tests.builders import write_published_split_files

from .conftest import ROOT, load_config, run, snakemake, tool


def test_lint_is_clean(workflow_dir):
    result = snakemake(workflow_dir, "--lint", timeout=120)
    assert "Lints for" not in result.stdout, result.stdout


def test_paper_dry_run_plans_every_run_with_gpus(workflow_dir):
    """The paper's matrix (experiment x model x seed) is planned offline, GPUs on training."""
    paper = load_config("paper.yaml")
    expected = {
        f"{experiment}/{model}/seed{seed}"
        for experiment, spec in paper["experiments"].items()
        for model in spec["models"]
        for seed in spec["seeds"]
    }
    result = snakemake(workflow_dir, "-n", "--configfile", "config/paper.yaml", timeout=120)
    jobs = result.stdout.split("\nrule ")
    trained = {}
    for job in jobs:
        if not job.startswith("train:"):
            continue
        run_id = re.search(r"output: results/runs/(\S+)/summary\.json", job).group(1)
        trained[run_id] = re.search(r"resources: .*", job).group(0)
    assert set(trained) == expected
    assert all("gpu=1" in resources for resources in trained.values())
    assert len(expected) >= 60
    assert re.search(r"^train\s+%d$" % len(expected), result.stdout, re.M)


def test_seed_overlay_trains_every_experiment_with_three_seeds(workflow_dir):
    """config/three_seeds.yaml merged over the default suite: same experiments and models, three
    seeds each (planned in a fresh directory: the repository's finished runs do not count)."""
    result = snakemake(
        workflow_dir,
        "-n",
        "--configfile",
        "config/config.yaml",
        "config/three_seeds.yaml",
        timeout=120,
    )
    trained = set(re.findall(r"output: results/runs/(\S+)/summary\.json", result.stdout))
    default = load_config("config.yaml")["experiments"]
    expected = {
        f"{experiment}/{model}/seed{seed}"
        for experiment, spec in default.items()
        for model in spec["models"]
        for seed in (0, 1, 2)
    }
    assert trained == expected


def _python_path() -> str:
    """The repository first on PYTHONPATH, as the workflow gives it to its jobs."""
    return os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


def _ci():
    return load_config("ci.yaml")


def _unknown_model(config):
    config["experiments"]["two_atoms"]["models"]["efa"]["model"] = "no_such_model"
    return "experiments.two_atoms.models.efa.model"


def _outside_bound(config):
    config["experiments"]["two_atoms"]["models"]["efa"]["options"]["max_frequency"] = 4 * math.pi
    return "experiments.two_atoms.models.efa.options.max_frequency"


def _missing_dataset(config):
    config["experiments"]["two_atoms"]["dataset"] = "cumulene"
    return "experiments.two_atoms.dataset"


def _unregistered_dataset(config):
    config["datasets"]["no_such_set"] = {}
    return "datasets.no_such_set"


def _dataset_seed_override(config):
    config["datasets"]["two_atoms"] = {"seed": 1}  # fixed by the registry entry
    return "datasets.two_atoms.seed"


def _negative_dataset_size(config):
    config["datasets"]["two_atoms"] = {"num_structures": -5}
    return "datasets.two_atoms.num_structures"


def _negative_split(config):
    config["experiments"]["two_atoms"]["splits"]["train"] = -5
    return "splits"


def _too_many_structures(config):
    config["experiments"]["two_atoms"]["splits"]["train"] = 1000
    return "experiments.two_atoms.splits"


def _unknown_probe_option(config):
    config["experiments"]["two_atoms"]["probes"]["two_atoms"] = {"no_such_option": 1}
    return "experiments.two_atoms.probes.two_atoms.no_such_option"


def _unknown_option(config):
    config["experiments"]["two_atoms"]["models"]["local"]["options"]["no_such_option"] = 1
    return "experiments.two_atoms.models.local.options.no_such_option"


def _calculator_not_a_calculator(config):
    config["experiments"]["two_atoms"]["models"]["calc"] = {
        "calculator": "math:sqrt",
        "options": {},
    }
    return "experiments.two_atoms.models.calc.calculator"


def _calculator_factory_raises(config):
    config["experiments"]["two_atoms"]["models"]["calc"] = {  # json.loads("{") raises
        "calculator": "json:loads",
        "options": {"s": "{"},
    }
    return "experiments.two_atoms.models.calc.calculator"


def _calculator_bad_receptive_field(config):
    config["experiments"]["two_atoms"]["models"]["calc"] = {
        "calculator": "ase.calculators.lj:LennardJones",
        "receptive_field": -3,
    }
    return "experiments.two_atoms.models.calc.receptive_field"


def _calculator_bad_molecule_box(config):
    config["experiments"]["two_atoms"]["models"]["calc"] = {
        "calculator": "ase.calculators.lj:LennardJones",
        "molecule_box": 0,
    }
    return "experiments.two_atoms.models.calc.molecule_box"


def _molecule_box_on_a_trained_model(config):
    config["experiments"]["two_atoms"]["models"]["local"]["molecule_box"] = 10.0
    return "experiments.two_atoms.models.local.molecule_box"


def _physics_probe_without_structures(config):
    config["experiments"]["two_atoms"]["probes"]["physics"].pop("reference")
    return "experiments.two_atoms.probes.physics"


def _unknown_card_key(config):
    config["experiments"]["two_atoms"]["models"]["local"]["card"] = {"licence": "MIT"}
    return "experiments.two_atoms.models.local.card.licence"


def _calculator_unknown_capability(config):
    config["experiments"]["two_atoms"]["models"]["calc"] = {
        "calculator": "ase.calculators.lj:LennardJones",
        "capabilities": {"charge": True},
    }
    return "experiments.two_atoms.models.calc.capabilities.charge"


def _odd_efa_query_features(config):  # checked by the EFA layer, named as the model option
    config["experiments"]["two_atoms"]["models"]["efa"]["options"]["qk_features"] = 7
    return "experiments.two_atoms.models.efa.options.qk_features"


def _model_time_limit_not_positive(config):
    config["experiments"]["two_atoms"]["models"]["local"]["train"] = {"max_time_s": -1}
    return "experiments.two_atoms.models.local.train.max_time_s"


def _calculator_bad_cutoff(config):
    config["experiments"]["two_atoms"]["models"]["calc"] = {
        "calculator": "ase.calculators.lj:LennardJones",
        "cutoff": 0,
    }
    return "experiments.two_atoms.models.calc.cutoff"


def _cutoff_on_a_trained_model(config):
    config["experiments"]["two_atoms"]["models"]["local"]["cutoff"] = 5.0
    return "experiments.two_atoms.models.local.cutoff"


def _published_splits_of_a_generated_set(config):
    config["experiments"]["two_atoms"]["splits"] = "dataset"
    return "experiments.two_atoms.splits"


def _unlisted_extrapolation_set(config):
    config["experiments"]["two_atoms"]["probes"] = {
        "size_extrapolation": {"datasets": ["two_atoms", "cluster_16"]}
    }
    return "experiments.two_atoms.probes.size_extrapolation.datasets"


def _bad_energy_loss(config):
    config["experiments"]["two_atoms"]["train"] = {"energy_loss": "atom"}
    return "experiments.two_atoms.train.energy_loss"


def _target(**changes):
    """A valid per-model target on the ci suite's two_atoms probe, with ``changes``."""
    return {
        "description": "two atoms: energy MAE beyond the cutoff below 0.01 eV",
        "metric": "energy_mae_beyond_cutoff",
        "models": "all",
        "compare": "<",
        "bound": 0.01,
        **changes,
    }


def _declare(config, target):
    config["experiments"]["two_atoms"]["probes"]["two_atoms"]["targets"] = [target]
    return "experiments.two_atoms.probes.two_atoms.targets[0]"


def _target_unknown_metric(config):
    return _declare(config, _target(metric="barrier")) + ".metric"


def _target_unknown_model(config):
    return _declare(config, _target(models={"labels": ["efa", "mace"]})) + ".models.labels"


def _target_unknown_family(config):
    return _declare(config, _target(models={"family": "transformer"})) + ".models.family"


def _target_not_finite_bound(config):
    return _declare(config, _target(bound=math.inf)) + ".bound"


def _target_text_bound(config):
    return _declare(config, _target(bound="small")) + ".bound"


def _target_unknown_comparison(config):
    return _declare(config, _target(compare="<<")) + ".compare"


def _target_unknown_key(config):
    return _declare(config, _target(treshold=0.1)) + ".treshold"


def _target_on_an_unknown_probe(config):
    config["experiments"]["two_atoms"]["probes"]["two_atom"] = {"targets": [_target()]}
    return "experiments.two_atoms.probes.two_atom"


def _target_unknown_test_metric(config):
    config["experiments"]["two_atoms"]["targets"] = [_target(metric="force_rmse")]
    return "experiments.two_atoms.targets[0].metric"


BAD_CONFIGS = [
    _target_unknown_metric,
    _target_unknown_model,
    _target_unknown_family,
    _target_not_finite_bound,
    _target_text_bound,
    _target_unknown_comparison,
    _target_unknown_key,
    _target_on_an_unknown_probe,
    _target_unknown_test_metric,
    _dataset_seed_override,
    _negative_dataset_size,
    _bad_energy_loss,
    _unlisted_extrapolation_set,
    _unknown_model,
    _outside_bound,
    _missing_dataset,
    _unregistered_dataset,
    _too_many_structures,
    _unknown_probe_option,
    _unknown_option,
    _calculator_not_a_calculator,
    _calculator_factory_raises,
    _calculator_bad_receptive_field,
    _calculator_bad_molecule_box,
    _molecule_box_on_a_trained_model,
    _physics_probe_without_structures,
    _calculator_bad_cutoff,
    _cutoff_on_a_trained_model,
    _published_splits_of_a_generated_set,
    _unknown_card_key,
    _calculator_unknown_capability,
    _odd_efa_query_features,
    _model_time_limit_not_positive,
]


@pytest.mark.parametrize("mutate", BAD_CONFIGS, ids=lambda f: f.__name__.strip("_"))
def test_validation_names_the_key(mutate):
    config = _ci()
    key = mutate(config)
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate_workflow_config(config)


def test_a_max_length_shorter_than_a_built_imported_set_is_refused_at_plan_time(tmp_path):
    """An imported set is built at import: its largest distance is known before any job, so
    an EFA ``max_length`` below it is refused by key when the workflow is planned."""
    from efa.cli.main import main

    root = tmp_path / "datasets"
    root.mkdir()
    shutil.copy(ROOT / "datasets" / "registry.yaml", root)
    files = write_published_split_files(tmp_path / "files")
    argv = ["data", "import", "--root", str(root), "--name", "pairs"]
    assert main([*argv, *(f"--split={split}={path}" for split, path in files.items())]) == 0
    config = _ci()
    config.update(datasets_root=str(root), datasets={"pairs": {}})
    experiment = config["experiments"]["two_atoms"]
    experiment.update(dataset="pairs", splits="dataset", probes={})
    experiment["models"]["efa"]["options"]["max_length"] = 5.0
    with pytest.raises(ConfigError, match="models.efa.options.max_length") as error:
        validate_workflow_config(config)
    assert "largest distance between two atoms of one structure in data set 'pairs'" in str(
        error.value
    )
    experiment["models"]["efa"]["options"]["max_length"] = 40.0
    validate_workflow_config(config)


SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _typo(config):
    experiment = config["experiments"]["two_atoms"]
    experiment["modles"] = experiment.pop("models")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _typo,
            "ci.yaml: experiments.two_atoms: unknown key(s) ['modles']; expected one of "
            "['dataset', 'description', 'models', 'probes', 'seeds', 'splits', 'targets', "
            "'train']; did you mean 'models'?",
        ),
        (
            lambda config: config["experiments"]["two_atoms"].update(seeds="zero"),
            "ci.yaml: experiments.two_atoms.seeds: 'zero' is not of type 'array'",
        ),
        (
            lambda config: config.clear() or config.update(load_config("three_seeds.yaml")),
            "ci.yaml: (top level): 'datasets' is a required property; a file that only changes "
            "a few keys (an overlay) goes after a whole configuration",
        ),
    ],
    ids=["typo", "wrong-type", "overlay-alone"],
)
def test_a_schema_violation_is_one_line_naming_the_key(mutate, expected):
    config = _ci()
    mutate(config)
    with pytest.raises(ConfigError) as raised:
        check_schema(config, SCHEMA, "ci.yaml")
    assert str(raised.value).startswith(expected), raised.value
    assert "\n" not in str(raised.value)


def test_ci_config_is_valid():
    validate_workflow_config(_ci())


def test_foundation_example_plans_the_pretrained_model_beside_trained_ones(workflow_dir):
    """examples/foundation.yaml validates (CHGNet's calculator is built) and plans CHGNet's
    runs without training, the local and EFA runs, and the physics and periodic probes."""
    pytest.importorskip("chgnet", reason="needs the [foundation] extra (chgnet)")
    result = snakemake(
        workflow_dir, "-n", "-p", "--configfile", "examples/foundation.yaml", timeout=300
    )
    runs = "results/foundation/runs"
    for model in ("nacl_cells/chgnet", "nacl_cells/local", "nacl_cells/efa", "molecules/chgnet"):
        assert f"{runs}/{model}/seed0/summary.json" in result.stdout, result.stdout
    assert 'calculator="chgnet.model.dynamics:CHGNetCalculator"' in result.stdout
    for probe in ("physics_cells", "physics_molecules", "nacl_supercell", "far_fragment"):
        assert f"results/foundation/probes/{probe}.zarr" in result.stdout


def test_calculator_example_plans_a_run_without_training(workflow_dir):
    result = snakemake(
        workflow_dir, "-n", "-p", "--configfile", "examples/calculator.yaml", timeout=120
    )
    assert "results/calculator/runs/two_atoms/lennard_jones/seed0/summary.json" in result.stdout
    assert 'calculator="ase.calculators.lj:LennardJones"' in result.stdout, result.stdout


@pytest.mark.parametrize(
    "mutate",
    [
        _unknown_model,  # the project's own validation
        _negative_split,  # the schema
        # the same keys in-process: test_validation_names_the_key; these two keep the path
        # through Snakemake, the rest run with the extended tests
        *(
            pytest.param(mutate, marks=pytest.mark.extended)
            for mutate in (
                _outside_bound,
                _missing_dataset,
                _target_unknown_metric,
                _target_unknown_comparison,
            )
        ),
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_bad_config_fails_before_any_job(mutate, workdir):
    config = _ci()
    key = mutate(config)
    path = workdir / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "1", "--configfile", path, timeout=120, check=False)
    assert result.returncode != 0
    if key == "splits":  # a schema error: one line naming the key and the schema's words
        expected = "bad.yaml: experiments.two_atoms.splits.train: -5 is less than the minimum of 1"
        assert expected in result.stdout, result.stdout
        assert len(result.stdout.splitlines()) < 10, result.stdout
    else:
        assert key in result.stdout, result.stdout
    assert not (workdir / "results").exists()
    assert not list((workdir / "datasets").glob("*.zarr"))


def test_own_model_example(workflow_dir):
    """The worked example of docs/models.md: the configuration plans, and the model trains a few
    steps."""
    result = snakemake(workflow_dir, "-n", "--configfile", "examples/my_model.yaml", timeout=120)
    assert "results/my_model/runs/two_atoms/pair_mlp/seed0/summary.json" in result.stdout
    run(
        [
            tool("efa"),
            "data",
            "build",
            "--root",
            workflow_dir / "datasets",
            "two_atoms",
            "--set",
            "num_structures=50",
        ],
        cwd=workflow_dir,
    )
    # examples.my_model is imported from the repository (as the workflow's jobs do), while the
    # command runs in the temporary directory
    result = run(
        [
            sys.executable,
            "-m",
            "efa.cli",
            "train",
            "--model",
            "examples.my_model:PairMLP",
            "--dataset",
            "two_atoms",
            "--set",
            f"datasets_root={workflow_dir / 'datasets'}",
            "--max-steps",
            "5",
            "--set",
            "splits={train: 30, valid: 10, test: 10}",
            "--set",
            "batch_size=8",
            "--output-root",
            workflow_dir / "runs",
            "--no-progress",
        ],
        cwd=workflow_dir,
        timeout=300,
        env={"PYTHONPATH": _python_path()},
    )
    assert '"status": "complete"' in result.stdout, result.stdout


def test_periodic_config_plans_both_models_and_the_periodic_probes(workflow_dir):
    validate_workflow_config(load_config("periodic.yaml"))
    result = snakemake(workflow_dir, "-n", "--configfile", "config/periodic.yaml", timeout=120)
    for model in ("local", "efa"):
        assert f"results/periodic/runs/periodic/{model}/seed0/summary.json" in result.stdout
    for probe in ("nacl_supercell", "nacl_slab", "nacl_cutout"):
        assert f"results/periodic/probes/{probe}.zarr" in result.stdout


def test_medium_config_plans_the_depth_study_and_the_size_scan(workflow_dir):
    """config/medium.yaml: local T = 2, 3, 4 against EFA T = 2 on the paper's 32-atom clusters
    (the depth target reads their test metrics), and the NaCl size scan over three sizes."""
    config = load_config("medium.yaml")
    validate_workflow_config(config)
    cluster = config["experiments"]["cluster_32"]["models"]
    assert sorted(cluster) == ["efa_T2", "local_T2", "local_T3", "local_T4"]
    assert [cluster[f"local_T{t}"]["options"]["num_iterations"] for t in (2, 3, 4)] == [2, 3, 4]
    result = snakemake(workflow_dir, "-n", "--configfile", "config/medium.yaml", timeout=120)
    for model in cluster:
        assert f"results/medium/runs/cluster_32/{model}/seed0/metrics.zarr" in result.stdout
    assert "results/medium/probes/nacl_size.zarr" in result.stdout
    sizes = config["experiments"]["nacl_10"]["probes"]["nacl_size"]["experiments"]
    assert sizes == ["nacl_10", "nacl_15", "nacl_20"]
