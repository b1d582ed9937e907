"""The model card: what a model is, where it comes from and what it was trained on.

Every model of a run has one (:data:`CARD_KEYS`); efa-bench fills what it knows (a built-in
model's name and version, a trained run's data set) and a run configuration's ``card`` overrides
it (:func:`model_card`). The leaderboard shows the cards beside the scores.
"""

from __future__ import annotations

from collections.abc import Mapping

from efa.errors import ConfigError

#: The keys of a model card, in the order the leaderboard shows them.
CARD_KEYS = ("name", "source", "version", "license", "training_data", "level_of_theory")


def model_card(given: Mapping[str, object] | None = None, **defaults: object) -> dict[str, str]:
    """A model card: ``defaults`` (what efa-bench knows) overridden by ``given`` (the
    configuration's ``card``), every key of :data:`CARD_KEYS` present (``""`` if unknown).

    Raises:
      ConfigError: ``given`` has a key that is not a card key.
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(CARD_KEYS))
    if unknown:
        raise ConfigError(
            f"card.{unknown[0]}: not a model card key; expected {', '.join(CARD_KEYS)}",
            key=f"card.{unknown[0]}",
        )
    merged = {**defaults, **given}
    return {key: str(merged.get(key) or "") for key in CARD_KEYS}
