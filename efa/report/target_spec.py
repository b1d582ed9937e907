"""Quality targets declared as data: what a target measures, on which models, against what.

A target is declared once, in the workflow configuration beside the probe or experiment it
belongs to (``experiments.<name>.probes.<label>.targets``, ``experiments.<name>.targets`` for the
test metrics, ``report.targets`` for the suite as a whole), as a mapping::

    description: far fragment: efa follows a far ion's Coulomb pull (error < 30 %)
    metric: charged_response_error      # a metric of the probe (or test metric, suite metric)
    compare: "<"                        # one of < <= > >= ==
    bound: 0.3                          # a finite number
    models: {family: efa}               # all | {family: NAME or [NAMES]} | {labels: [LABELS]}
    # or, instead of models, a ratio of two selections (value = numerator / denominator):
    # ratio: {numerator: {family: local}, denominator: {family: efa}}
    # optional:
    # name: far_ion_pull                # short name (leaderboard column); default label:metric
    # relative_to: size_trend_reference # divide by the largest |value| of this metric
    # point: -1                         # a per-point metric at this point (index)
    # given: {metric: vacuum_slope_reference, compare: ">", bound: 0.01}
    #                                   # a condition on the reference that must hold too

:func:`parse_targets` reads every declaration of a configuration into :class:`TargetSpec` s;
:mod:`efa.report.targets` measures them on the result stores. No bound is written in code.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from efa.errors import ConfigError

#: The comparisons a target may ask for: ``value <compare> bound``.
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}

#: Metrics of the suite as a whole (``report.targets``), measured over every probe store.
SUITE_METRICS = {
    "incomplete_probe_stores": "probe stores missing a finite reference or a finite prediction "
    "of a model that can take the probe",
}

#: Keys of a target declaration.
TARGET_KEYS = (
    "name",
    "description",
    "metric",
    "compare",
    "bound",
    "models",
    "ratio",
    "relative_to",
    "point",
    "given",
)


@dataclasses.dataclass(frozen=True)
class Selection:
    """The models a target judges: ``every`` model (each gets its own verdict), the models of
    ``families``, or the models ``labels``."""

    every: bool = False
    families: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    def matches(self, label: str, family: str) -> bool:
        return self.every or label in self.labels or family in self.families

    def text(self) -> str:
        """How the selection is written in details: ``efa``, ``local_T2,local_T4``, ``every``."""
        return "every model" if self.every else ",".join((*self.families, *self.labels))


@dataclasses.dataclass(frozen=True)
class Condition:
    """``metric <compare> bound`` on the largest ``|value|`` of a (reference) metric."""

    metric: str
    compare: str
    bound: float

    def holds(self, value: float) -> bool:
        return math.isfinite(value) and COMPARISONS[self.compare](value, self.bound)


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """One declared target.

    Attributes:
      key: where it was declared (``experiments.x.probes.y.targets[0]``), for messages.
      scope: ``probe`` (a probe store's metric), ``test`` (a test metric of an experiment) or
        ``suite`` (a metric of :data:`SUITE_METRICS`).
      source: the probe label, or the experiment, or ``""`` for the suite.
      name: short name (a leaderboard column).
      description: the one line the report prints.
      metric, compare, bound: the test ``value <compare> bound``.
      models: the judged models (None for a ratio or a suite target).
      ratio: ``(numerator, denominator)`` selections, or None.
      relative_to: a metric whose largest ``|value|`` divides the value, or None.
      point: the point of a per-point metric, or None.
      given: a condition on a reference metric that must hold as well, or None.
    """

    key: str
    scope: str
    source: str
    name: str
    description: str
    metric: str
    compare: str
    bound: float
    models: Selection | None = None
    ratio: tuple[Selection, Selection] | None = None
    relative_to: str | None = None
    point: int | None = None
    given: Condition | None = None

    @property
    def per_model(self) -> bool:
        """Whether every model gets its own verdict."""
        return self.models is not None and self.models.every

    def judged_text(self) -> str:
        if self.ratio is not None:
            return f"{self.ratio[0].text()} / {self.ratio[1].text()}"
        return self.models.text() if self.models is not None else "the suite"

    def to_mapping(self) -> dict[str, Any]:
        """The declaration as the report's ``targets.json`` records it."""
        out: dict[str, Any] = {
            "key": self.key,
            "scope": self.scope,
            "source": self.source,
            "name": self.name,
            "description": self.description,
            "metric": self.metric,
            "compare": self.compare,
            "bound": self.bound,
            "judges": self.judged_text(),
        }
        for name in ("relative_to", "point"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.given is not None:
            out["given"] = dataclasses.asdict(self.given)
        return out


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"{key}: {message}")


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(key, f"{value!r}: expected a finite number")
    return float(value)


def _compare(key: str, value: Any) -> str:
    if value not in COMPARISONS:
        _fail(key, f"{value!r}: not a comparison; expected one of {' '.join(COMPARISONS)}")
    return str(value)


def _names(key: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        _fail(key, f"{value!r}: expected a name or a list of names")
    return tuple(items)


def _selection(key: str, value: Any) -> Selection:
    if value == "all":
        return Selection(every=True)
    if not isinstance(value, Mapping) or set(value) - {"family", "labels"} or not value:
        _fail(
            key,
            f"{value!r}: expected 'all', {{family: NAME}} or {{labels: [LABEL, …]}}",
        )
    families = _names(f"{key}.family", value["family"]) if "family" in value else ()
    labels = _names(f"{key}.labels", value["labels"]) if "labels" in value else ()
    return Selection(families=families, labels=labels)


def parse_target(
    key: str, entry: Any, scope: str, source: str, default_name: str | None = None
) -> TargetSpec:
    """One declaration (module docstring) as a :class:`TargetSpec`; every error names the key.

    Raises:
      ConfigError: a missing or unknown key, a comparison that does not exist, a bound that is
        not a finite number, a malformed model selection.
    """
    if not isinstance(entry, Mapping):
        _fail(key, f"{entry!r}: expected a mapping with description, metric, compare, bound")
    unknown = sorted(set(entry) - set(TARGET_KEYS))
    if unknown:
        _fail(f"{key}.{unknown[0]}", f"not a target key; expected one of {', '.join(TARGET_KEYS)}")
    for name in ("description", "metric", "compare", "bound"):
        if name not in entry:
            _fail(f"{key}.{name}", "missing")
    for name in ("description", "metric"):
        if not isinstance(entry[name], str) or not entry[name].strip():
            _fail(f"{key}.{name}", f"{entry[name]!r}: expected a non-empty string")
    if "\n" in entry["description"]:
        _fail(f"{key}.description", "expected one line")
    models = ratio = None
    if scope == "suite":
        if "models" in entry or "ratio" in entry:
            _fail(key, "a suite target judges the suite; remove 'models' and 'ratio'")
    elif ("models" in entry) == ("ratio" in entry):
        _fail(key, "give either 'models' (all, a family or labels) or 'ratio', not both or none")
    elif "models" in entry:
        models = _selection(f"{key}.models", entry["models"])
    else:
        value = entry["ratio"]
        if not isinstance(value, Mapping) or set(value) != {"numerator", "denominator"}:
            _fail(f"{key}.ratio", f"{value!r}: expected {{numerator: …, denominator: …}}")
        ratio = tuple(
            _selection(f"{key}.ratio.{part}", value[part]) for part in ("numerator", "denominator")
        )
        if any(part.every for part in ratio):
            _fail(f"{key}.ratio", "a ratio compares a family or labels, not 'all'")
    given = None
    if "given" in entry:
        condition = entry["given"]
        if not isinstance(condition, Mapping) or set(condition) != {"metric", "compare", "bound"}:
            _fail(f"{key}.given", f"{condition!r}: expected {{metric: …, compare: …, bound: …}}")
        given = Condition(
            str(condition["metric"]),
            _compare(f"{key}.given.compare", condition["compare"]),
            _number(f"{key}.given.bound", condition["bound"]),
        )
    point = entry.get("point")
    if point is not None and (isinstance(point, bool) or not isinstance(point, int)):
        _fail(f"{key}.point", f"{point!r}: expected an integer index (-1: the last point)")
    relative_to = entry.get("relative_to")
    if relative_to is not None and not isinstance(relative_to, str):
        _fail(f"{key}.relative_to", f"{relative_to!r}: expected a metric name")
    judged = ratio[0].text() + "/" + ratio[1].text() if ratio else models.text() if models else ""
    default = f"{source}:{entry['metric']}" if source else entry["metric"]
    if models is None or not models.every:
        default += f"[{judged}]" if judged else ""
    name = entry.get("name", default_name or default)
    if not isinstance(name, str) or not name:
        _fail(f"{key}.name", f"{name!r}: expected a non-empty string")
    return TargetSpec(
        key=key,
        scope=scope,
        source=source,
        name=name,
        description=entry["description"].strip(),
        metric=entry["metric"],
        compare=_compare(f"{key}.compare", entry["compare"]),
        bound=_number(f"{key}.bound", entry["bound"]),
        models=models,
        ratio=ratio,
        relative_to=relative_to,
        point=point,
        given=given,
    )


def _entries(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    if value is None:
        return
    if not isinstance(value, list):
        _fail(key, f"{value!r}: expected a list of targets")
    for index, entry in enumerate(value):
        yield f"{key}[{index}]", entry


def declarations(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every target declaration of a workflow configuration with where it stands:
    ``{"key", "scope", "source", "entry"}`` (JSON-serialisable, for ``efa report``)."""
    found = []
    report = config.get("report") or {}
    for key, entry in _entries("report.targets", report.get("targets")):
        found.append({"key": key, "scope": "suite", "source": "", "entry": entry})
    for experiment, spec in (config.get("experiments") or {}).items():
        prefix = f"experiments.{experiment}"
        for key, entry in _entries(f"{prefix}.targets", spec.get("targets")):
            found.append({"key": key, "scope": "test", "source": experiment, "entry": entry})
        for label, options in (spec.get("probes") or {}).items():
            targets = (options or {}).get("targets")
            for key, entry in _entries(f"{prefix}.probes.{label}.targets", targets):
                found.append({"key": key, "scope": "probe", "source": label, "entry": entry})
    return found


def parse_declarations(found: Sequence[Mapping[str, Any]]) -> list[TargetSpec]:
    """:func:`parse_target` of every entry of :func:`declarations`; names must be unique."""
    specs = [
        parse_target(item["key"], item["entry"], item["scope"], item["source"]) for item in found
    ]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            _fail(
                f"{spec.key}.name",
                f"{spec.name!r} is also the name of {seen[spec.name]}; give each target a "
                "distinct 'name'",
            )
        seen[spec.name] = spec.key
    return specs


def parse_targets(config: Mapping[str, Any]) -> list[TargetSpec]:
    """Every target declared in a workflow configuration (module docstring)."""
    return parse_declarations(declarations(config))
