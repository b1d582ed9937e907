"""``efa dvc``: the DVC pipeline of any workflow configuration (the repository's ``dvc.yaml`` is
the one of ``config/config.yaml``); end to end through DVC in tests/workflow/test_pipeline.py."""

import shutil

import pytest
import yaml

from efa.cli.main import main
from efa.workflow.dvc_pipeline import dvc_pipeline

from ..conftest import ROOT


def test_the_repositorys_dvc_yaml_is_the_pipeline_of_the_default_configuration():
    assert (ROOT / "dvc.yaml").read_text() == dvc_pipeline(["config/config.yaml"], project=ROOT)


@pytest.fixture
def project(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "registry.yaml", tmp_path / "datasets")
    return tmp_path


def test_a_configuration_and_its_overlay_give_their_data_sets_and_parameters(project):
    overlay = project / "config" / "more data.yaml"
    overlay.write_text("datasets: {sn2: {num_structures: 50}}\ntrain: {max_steps: 40}\n")
    pipeline = yaml.safe_load(
        dvc_pipeline(["config/ci.yaml", "config/more data.yaml"], "2", project)
    )
    dataset, suite = pipeline["stages"]["dataset"], pipeline["stages"]["suite"]
    assert dataset["foreach"] == ["two_atoms", "sn2"]
    assert dataset["do"]["params"] == [
        {"config/ci.yaml": ["datasets.${item}"]},
        {"config/more data.yaml": ["datasets.${item}"]},
    ]
    assert dataset["do"]["deps"] == ["datasets/registry.yaml", "efa/data"]  # no user registry
    # the file names are quoted for the shell, and the targets come before --configfile
    command = "--cores 2 --configfile config/ci.yaml 'config/more data.yaml' --rerun-triggers"
    assert suite["cmd"].startswith(f"snakemake {command}")
    assert dataset["do"]["cmd"].startswith("snakemake 'datasets/${item}.zarr/zarr.json' --cores")
    assert suite["params"] == [
        {"config/ci.yaml": ["train", "experiments"]},
        {"config/more data.yaml": ["train"]},
    ]
    assert {"results/metrics.json": {"cache": False}} in suite["metrics"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: "/etc/hostname", "lies outside the project"),
        (lambda p: "config/missing.yaml", "configuration file not found"),
        (lambda p: _written(p, "results_root: /tmp/elsewhere\n"), "results_root='/tmp/elsewhere'"),
        (lambda p: _written(p, "datasets_root: ../up\n"), "datasets_root='../up'"),
        (lambda p: _written(p, "- a list\n"), "expected a mapping of configuration keys"),
        (lambda p: _written(p, "datasets: {'a b': {}}\n"), "is not a valid name"),
    ],
)
def test_bad_configurations_are_refused_by_name(project, change, message, capsys, monkeypatch):
    monkeypatch.chdir(project)
    path = change(project)
    assert main(["dvc", str(path), "-o", str(project / "dvc.yaml")]) == 2
    assert message in capsys.readouterr().err
    assert not (project / "dvc.yaml").exists()


def _written(project, text):
    (project / "config" / "bad.yaml").write_text(text)
    return "config/bad.yaml"
