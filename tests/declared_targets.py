"""The quality targets the repository's configurations declare, for tests that judge them."""

from pathlib import Path

import yaml

from efa.report.target_spec import parse_targets
from efa.report.targets import evaluate_targets

REPOSITORY = Path(__file__).resolve().parents[1]


def declared(name: str) -> dict:
    """The configuration ``config/<name>.yaml`` of the repository."""
    return yaml.safe_load((REPOSITORY / "config" / f"{name}.yaml").read_text())


#: Every target of the default suite, the medium and the periodic configurations.
TARGETS = [
    spec for name in ("config", "medium", "periodic") for spec in parse_targets(declared(name))
]


def evaluate_declared(stores, metrics=None):
    """The verdicts of every declared target (:data:`TARGETS`) on ``stores`` and ``metrics``."""
    return evaluate_targets(TARGETS, stores, metrics)
