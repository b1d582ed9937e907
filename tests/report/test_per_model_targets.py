"""Targets on every model: own verdicts, scores, and capability flags that give n/a."""

import pytest

from efa.errors import ConfigError
from efa.predictors.capabilities import Capabilities, capabilities_from_mapping
from efa.probes import run_probe
from efa.report.target_spec import parse_target
from efa.report.targets import evaluate_targets, scores
from tests.probes import analytic as a


def test_a_target_on_all_models_judges_each_model_and_scores_it():
    store = run_probe("two_atoms", a.pair_models(), num_points=46)
    store.attrs["experiments"] = ["two_atoms"]
    spec = parse_target(
        "t",
        {
            "description": "beyond the cutoff",
            "metric": "energy_mae_beyond_cutoff",
            "models": "all",
            "compare": "<",
            "bound": 1e-3,
        },
        "probe",
        "two_atoms",
    )
    verdicts = evaluate_targets([spec], [store])
    by_model = {v.model: v for v in verdicts}
    assert set(by_model) == set(str(m) for m in store["model"].values)
    assert by_model["efa"].met and not by_model["local"].met
    assert scores(verdicts)["two_atoms"] == {"efa": (1, 1), "local": (0, 1)}


def test_capabilities_are_checked_by_key_and_give_reasons():
    with pytest.raises(ConfigError, match=r"capabilities\.charge: not a capability"):
        capabilities_from_mapping({"charge": True})
    with pytest.raises(ConfigError, match=r"capabilities\.elements: 'Xx'"):
        capabilities_from_mapping({"elements": ["H", "Xx"]})
    flags = capabilities_from_mapping({"elements": ["H", "He"], "periodic": False})
    assert flags.lacks(periodic=True, elements=[1, 18]) == "takes no periodic cells; covers no Ar"
    assert Capabilities().lacks(total_charge=True) == "takes no total charge"
