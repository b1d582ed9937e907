"""The workflow configuration: checks beyond the JSON schema, and the run settings it implies.

The Snakemake workflow validates its configuration (``config/*.yaml``) in two steps before any
job runs: the JSON schema (``workflow/schemas/config.schema.yaml``) checks shapes and types, and
:func:`validate_workflow_config` checks what a schema cannot — that every name (data set,
experiment, model label, probe label) matches :data:`efa.names.NAME_PATTERN`, every data set is in
the registry, every model can be imported and accepts its options, every EFA ``max_frequency`` is
inside the quadrature bound of its Lebedev grid, split sizes are positive and fit the data set,
and probes are known. Every error names the configuration key, e.g.
``experiments.two_atoms.models.efa.options.max_frequency``.

Layout of the configuration (see ``config/config.yaml`` for a commented example)::

    datasets_root: datasets          # registry.yaml and the canonical stores
    results_root: results            # runs, result stores, tables, figures
    datasets: {NAME: {PARAM: VALUE}}  # data sets to build, with generator overrides
    train: {KEY: VALUE}              # efa train settings shared by every run
    experiments:
      EXPERIMENT:
        dataset: NAME
        splits: {train: N, valid: N, test: N}   # random; or "dataset": its published splits
        seeds: [0, 1, 2]
        train: {KEY: VALUE}          # overrides of the shared settings
        models:
          LABEL: {model: local | efa | package.module:Class, options: {...}, train: {...},
                  card: {...}}
          LABEL: {calculator: package.module:factory, options: {...},
                  receptive_field: Å | global, cutoff: Å, card: {...}}   # evaluated, not trained
          LABEL: {trainer: {command: [...], model_file: ...}, calculator: ..., options: {...}}
                                          # trained by another code on the exported splits
        probes: {PROBE: {OPTION: VALUE}}
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from efa.bounded_yaml import YAMLBoundError, load_yaml
from efa.errors import ConfigError, EfaError
from efa.names import check_dataset_name, check_name
from efa.runs.config import GRADIENT_TRAINING_KEYS

#: Keys of ``efa train`` that the workflow sets itself (from the experiment and the paths).
_WORKFLOW_TRAIN_KEYS = (
    "experiment",
    "dataset",
    "datasets_root",
    "model",
    "model_options",
    "calculator",
    "calculator_options",
    "trainer",
    "receptive_field",
    "cutoff",
    "card",
    "capabilities",
    "molecule_box",
    "label",
    "splits",
    "seed",
    "output_root",
)


def deep_merge(*mappings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge mappings left to right; nested mappings are merged, other values replaced."""
    result: dict[str, Any] = {}
    for mapping in mappings:
        for key, value in (mapping or {}).items():
            if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
                result[key] = deep_merge(result[key], value)
            elif isinstance(value, Mapping):
                result[key] = deep_merge(value)
            else:
                result[key] = value
    return result


def run_settings(config: Mapping[str, Any], experiment: str, label: str, seed: int) -> dict:
    """The ``efa train`` configuration of one run (a mapping for ``efa.runs.config``).

    Precedence: the shared ``train`` block < the experiment's ``train`` < the model's ``train``;
    the workflow sets the experiment, data set, model, splits, seed and paths. A calculator
    model without a trainer gets none of :data:`~efa.runs.config.GRADIENT_TRAINING_KEYS`.
    """
    spec = config["experiments"][experiment]
    model = spec["models"][label]
    settings = deep_merge(config.get("train"), spec.get("train"), model.get("train"))
    if "calculator" in model and model.get("trainer") is None:
        settings = {k: v for k, v in settings.items() if k not in GRADIENT_TRAINING_KEYS}
    if "calculator" in model:
        kind = {
            "calculator": model["calculator"],
            "calculator_options": dict(model.get("options") or {}),
            "trainer": model.get("trainer"),
            "receptive_field": model.get("receptive_field"),
            "cutoff": model.get("cutoff"),
            "capabilities": dict(model.get("capabilities") or {}),
            "molecule_box": model.get("molecule_box"),
        }
    else:
        kind = {"model": model["model"], "model_options": dict(model.get("options") or {})}
    settings.update(
        experiment=experiment,
        dataset=spec["dataset"],
        datasets_root=config.get("datasets_root", "datasets"),
        **kind,
        card=dict(model.get("card") or {}),
        label=label,
        splits=spec["splits"] if isinstance(spec["splits"], str) else dict(spec["splits"]),
        seed=int(seed),
        output_root=f"{config.get('results_root', 'results')}/runs",
    )
    return settings


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"{key}: {message}")


def _check_dataset(config: Mapping, registry, name: str, key: str) -> None:
    if name not in config.get("datasets", {}):
        _fail(
            key,
            f"data set {name!r} is not listed under 'datasets' of the configuration "
            f"(listed: {', '.join(sorted(config.get('datasets', {}))) or 'none'})",
        )


def _check_datasets(config: Mapping, registry) -> None:
    from efa.data.build import override_problem

    for name, overrides in (config.get("datasets") or {}).items():
        key = f"datasets.{name}"
        check_dataset_name(name, "datasets")
        if name not in registry.entries:
            _fail(
                key,
                f"data set {name!r} is not in the registry "
                f"({config.get('datasets_root', 'datasets')}/registry.yaml); known: "
                f"{', '.join(sorted(registry.entries))}",
            )
        problem = override_problem(registry.entries[name], overrides or {})
        if problem is not None:
            parameter, message = problem
            _fail(f"{key}.{parameter}" if parameter else key, message)


def dataset_size(config: Mapping, registry, name: str) -> int | None:
    """Number of structures data set ``name`` will have once built with the config's overrides."""
    entry = registry.entries[name]
    overrides = (config.get("datasets") or {}).get(name) or {}
    if entry.kind == "generate":
        parameters = {**entry.source.get("parameters", {}), **overrides}
        for parameter, per_item in (("num_structures", 1), ("num_points", 1), ("num_pairs", 2)):
            if parameter in parameters:
                return int(parameters[parameter]) * per_item
    return entry.num_structures


def _check_calculator(key: str, spec: Mapping) -> None:
    """A calculator entry: the factory builds a calculator now, before any job runs (its other
    keys are the run configuration's, checked with the run settings)."""
    from efa.predictors.calculator import make_calculator, resolve_factory

    try:
        if "trainer" in spec:  # its model file exists only once the trainer has run
            resolve_factory(spec["calculator"])
        else:
            make_calculator(spec["calculator"], spec.get("options"))
    except EfaError as error:
        _fail(f"{key}.calculator", str(error))


def _check_model(key: str, label: str, spec: Mapping):
    """Check a model entry; return the built model (None for a calculator)."""
    from efa.models.registry import build_model

    if "calculator" in spec:
        _check_calculator(key, spec)
        return None
    for name in ("receptive_field", "cutoff", "capabilities", "molecule_box"):
        if spec.get(name) is not None:
            _fail(
                f"{key}.{name}",
                "only calculator models declare it here; a trained model's "
                f"class declares its own (attribute '{name}')",
            )
    name = spec.get("model")
    if not isinstance(name, str) or not name:
        _fail(f"{key}.model", f"{name!r}: expected a built-in model name or 'package.module:Class'")
    options = dict(spec.get("options") or {})
    try:
        model = build_model(name, options)
    except EfaError as error:
        _fail(_model_key(key, getattr(error, "key", None)), str(error))
    _check_quadrature(key, model, options)
    return model


def _check_reach_over_data(
    key: str, model, config: Mapping, registry, dataset: str, opened: dict
) -> None:
    """A model's ``max_length`` against the largest distance in its data set, at plan time,
    where the store of a fetched or imported set (whose content no setting changes) is built
    already; other stores are built by the workflow and checked when training starts.
    ``opened`` keeps each store read once per validation."""
    from efa.data.store import open_dataset, store_path
    from efa.train.loop import check_max_length

    if model is None or getattr(model, "max_length", None) is None:
        return
    if registry.entries[dataset].kind not in ("fetch", "import"):
        return
    root = config.get("datasets_root", "datasets")
    if dataset not in opened:
        built = (store_path(dataset, root) / "zarr.json").is_file()
        opened[dataset] = open_dataset(dataset, root) if built else None
    if opened[dataset] is None:
        return
    try:
        check_max_length(model, opened[dataset], dataset)
    except ConfigError as error:
        _fail(f"{key}.options.max_length", str(error).partition(": ")[2])


def _model_key(key: str, run_key: str | None) -> str:
    """The workflow key of a model entry ``key`` behind a run-configuration key (the
    :attr:`ConfigError.key <efa.errors.ConfigError>` of an error): ``model_options.X`` and
    ``calculator_options.X`` are the entry's ``options.X``; unknown: the entry's options."""
    if run_key is None:
        return f"{key}.options"
    top, _, rest = run_key.partition(".")
    if top in ("model_options", "calculator_options"):
        return f"{key}.options" + (f".{rest}" if rest else "")
    return f"{key}.{run_key}"


def _check_quadrature(key: str, model, options: Mapping) -> None:
    """The quadrature bound of every EFA-like model (one with ``max_frequency``/``lebedev_num``)."""
    from efa.nn.quadrature import check_quadrature_bound

    if not (hasattr(model, "max_frequency") and hasattr(model, "lebedev_num")):
        return
    try:
        check_quadrature_bound(float(model.max_frequency), int(model.lebedev_num))
    except ConfigError as error:
        name = (
            "max_frequency"
            if "max_frequency" in options or "lebedev_num" not in options
            else "lebedev_num"
        )
        _fail(f"{key}.options.{name}", str(error))


def _check_splits(
    key: str, splits: Mapping | str, size: int | None, dataset: str, registry
) -> None:
    from efa.data.splits import PUBLISHED

    if splits == PUBLISHED:
        entry = registry.entries[dataset]
        if not (entry.kind == "import" and "splits" in entry.source):
            _fail(
                key,
                f"{PUBLISHED!r}, but data set {dataset!r} has no published splits; import "
                "it with 'efa data import --split train=FILE --split valid=FILE --split "
                "test=FILE', or give split sizes {train: N, valid: N, test: N}",
            )
        return
    if not isinstance(splits, Mapping):
        _fail(key, f"{splits!r}: expected {{train: N, valid: N, test: N}} or {PUBLISHED!r}")
    for name in ("train", "valid", "test"):
        if name not in splits:
            _fail(f"{key}.{name}", "missing; expected a positive number of structures")
    for name, value in splits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            _fail(f"{key}.{name}", f"{value!r}: expected a positive integer")
    total = sum(splits.values())
    if size is not None and total > size:
        _fail(
            key,
            f"train + valid + test = {total} structures, but data set {dataset!r} has "
            f"{size}; lower the splits or raise datasets.{dataset}.num_structures",
        )


def _check_train(key: str, settings: Mapping) -> None:
    from efa.runs.config import RunConfig

    known = {field.name for field in dataclasses.fields(RunConfig)}
    for name, value in (settings or {}).items():
        if name in _WORKFLOW_TRAIN_KEYS:
            _fail(f"{key}.{name}", "set by the workflow from the experiment; remove it here")
        if name not in known:
            _fail(
                f"{key}.{name}",
                f"not a key of efa train; known: "
                f"{', '.join(sorted(known - set(_WORKFLOW_TRAIN_KEYS)))}",
            )


def _check_run_settings(config: Mapping, experiment: str, label: str, seed: int) -> None:
    """The complete ``efa train`` configuration of a run (types and ranges of every train
    setting after merging), naming the block each bad setting came from."""
    from efa.runs.config import config_from_mapping

    try:
        config_from_mapping(run_settings(config, experiment, label, seed), "")
    except ConfigError as error:
        text = str(error).removeprefix(": ")
        run_key = error.key or ""
        top = run_key.partition(".")[0]
        entry = f"experiments.{experiment}.models.{label}"
        if top in ("splits", "dataset"):  # set from the experiment
            _fail(f"experiments.{experiment}.{run_key}", text)
        if not run_key or top in _WORKFLOW_TRAIN_KEYS:  # set from the model entry
            _fail(_model_key(entry, run_key) if run_key else entry, text)
        spec = config["experiments"][experiment]
        blocks = [
            (f"{entry}.train", spec["models"][label].get("train")),
            (f"experiments.{experiment}.train", spec.get("train")),
            ("train", config.get("train")),
        ]
        where = next((block for block, values in blocks if top in (values or {})), entry)
        _fail(f"{where}.{run_key}", text)


#: Probe options the workflow sets itself.
_WORKFLOW_PROBE_OPTIONS = ("datasets_root", "label")


def probe_defaults(name: str) -> dict[str, Any] | None:
    """Options (with defaults) of probe ``name``, ``None`` if there is no such probe."""
    from efa.probes.registry import PROBES, SIZE_SCAN_PROBES

    if name in PROBES:
        return dict(PROBES[name].defaults)
    if name in SIZE_SCAN_PROBES:
        return {"label": None, "split": "test"}
    return None


def probe_references(name: str, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The data sets a probe reads by name under ``datasets_root`` (not as ``.zarr`` paths), each
    with the option that names it: ``reference``, and ``datasets`` of size_extrapolation."""
    defaults = probe_defaults(name) or {}
    named = []
    for option in ("reference", "datasets"):
        value = options.get(option, defaults.get(option))
        for item in [value] if isinstance(value, str) else list(value or ()):
            if isinstance(item, str) and not item.endswith(".zarr"):
                named.append((option, item))
    return named


def _check_probe(config: Mapping, registry, key: str, options: Mapping[str, Any]) -> None:
    from efa.probes.registry import PROBES, SIZE_SCAN_PROBES, probe_options

    options = dict(options or {})
    name = options.pop("probe", key.rpartition(".")[2])
    experiments = options.pop("experiments", None)
    options.pop("targets", None)  # checked by _check_targets
    if experiments is not None:
        if not isinstance(experiments, list) or not experiments:
            _fail(f"{key}.experiments", f"{experiments!r}: expected a list of experiment names")
        for experiment in experiments:
            if experiment not in (config.get("experiments") or {}):
                _fail(f"{key}.experiments", f"experiment {experiment!r} is not configured")
    defaults = probe_defaults(name)
    if defaults is None:
        _fail(
            f"{key}.probe" if "probe" in (options or {}) else key,
            f"unknown probe {name!r}; known: {', '.join(sorted({*PROBES, *SIZE_SCAN_PROBES}))}",
        )
    for option in options:
        if option in _WORKFLOW_PROBE_OPTIONS:
            _fail(f"{key}.{option}", "set by the workflow; remove it here")
        if option not in defaults:
            known = sorted(set(defaults) - set(_WORKFLOW_PROBE_OPTIONS))
            _fail(
                f"{key}.{option}",
                f"probe {name!r} has no option {option!r}; known: {', '.join(known) or 'none'}",
            )
    if name in PROBES:
        try:
            probe_options(name, {k: v for k, v in options.items() if v is not None})
        except ConfigError as error:
            _fail(key, str(error))
    for option, reference in probe_references(name, options):
        where = f"{key}.{option}" if option in options else key
        if reference not in (config.get("datasets") or {}):
            _fail(
                where,
                f"probe {name!r} reads data set {reference!r}, which is not listed "
                "under 'datasets' of the configuration; add it there",
            )


#: Families a target may select (``models: {family: …}``).
TARGET_FAMILIES = ("local", "efa", "external")


def _check_selection(key: str, selection, labels: set[str]) -> None:
    for family in selection.families:
        if family not in TARGET_FAMILIES:
            _fail(
                f"{key}.family",
                f"{family!r}: not a family; expected one of {', '.join(TARGET_FAMILIES)}",
            )
    for label in selection.labels:
        if label not in labels:
            _fail(
                f"{key}.labels",
                f"{label!r}: no such model; the models judged here: {', '.join(sorted(labels))}",
            )


def _check_targets(config: Mapping[str, Any]) -> None:
    """Every declared target (:mod:`efa.report.target_spec`): its keys, comparison and bound,
    and that its metric, probe and models exist."""
    from efa.evaluate import METRIC_UNITS
    from efa.probes.registry import probe_metrics
    from efa.report.target_spec import SUITE_METRICS, declarations, parse_declarations

    found = declarations(config)
    specs = parse_declarations(found)
    experiments = config.get("experiments") or {}
    probes = {}
    for experiment, spec in experiments.items():
        for label, options in (spec.get("probes") or {}).items():
            options = options or {}
            probes[label] = (
                options.get("probe", label),
                options.get("experiments", [experiment]),
            )
    for spec in specs:
        if spec.scope == "suite":
            known: Any = SUITE_METRICS
            labels: set[str] = set()
        elif spec.scope == "test":
            known = [name for name in METRIC_UNITS if name not in ("truncated",)]
            labels = set(experiments[spec.source]["models"])
        else:
            name, judged = probes[spec.source]
            known = probe_metrics(name)
            labels = {label for experiment in judged for label in experiments[experiment]["models"]}
        for field, metric in (
            ("metric", spec.metric),
            ("relative_to", spec.relative_to),
            ("given.metric", spec.given.metric if spec.given else None),
        ):
            if metric is not None and metric not in known:
                what = (
                    f"probe {probes[spec.source][0]!r}"
                    if spec.scope == "probe"
                    else ("the test metrics" if spec.scope == "test" else "the suite")
                )
                _fail(
                    f"{spec.key}.{field}",
                    f"{metric!r}: not a metric of {what}; known: {', '.join(sorted(known))}",
                )
        if spec.models is not None:
            _check_selection(f"{spec.key}.models", spec.models, labels)
        for part, selection in zip(("numerator", "denominator"), spec.ratio or ()):
            _check_selection(f"{spec.key}.ratio.{part}", selection, labels)


def check_config_files(paths: Iterable[str | os.PathLike]) -> None:
    """Read each configuration file within the bounds of :func:`efa.bounded_yaml.load_yaml`, before
    anything walks the configuration Snakemake built from them (a few lines of aliases can stand
    for billions of values, which a schema check would walk until memory runs out).

    Raises:
      ConfigError: naming the file that is too large or expands too far.
    """
    for path in paths:
        try:
            load_yaml(Path(path).read_text())
        except YAMLBoundError as error:
            raise ConfigError(f"{path}: {error}") from None


#: Characters of a schema violation's own message shown (it quotes the value it refuses).
MESSAGE_LIMIT = 200


def check_schema(config: Mapping[str, Any], schema_path: str | os.PathLike, source: str) -> None:
    """Check ``config`` against the workflow's JSON schema; raise one :class:`ConfigError` for
    the most relevant violation (:func:`jsonschema.exceptions.best_match`), naming its key, the
    value and what the schema expects: an unknown key with the keys allowed there (and the
    closest one), a missing key with a hint for overlay files used alone.

    Snakemake's ``validate`` then fills in the schema's defaults (it passes: the configuration
    is valid by then); its own message of a violation is the whole schema of the key.
    """
    schema = load_yaml(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    allowed = sorted(error.schema.get("properties", {}))
    unknown = (
        sorted(str(name) for name in error.instance if name not in allowed)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping)
        else []
    )
    if unknown:
        closest = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f"; did you mean {closest[0]!r}?" if closest else ""
        message = f"unknown key(s) {unknown}; expected one of {allowed}{hint}"
    elif error.validator == "required" and not error.absolute_path:
        message = (
            f"{error.message}; a file that only changes a few keys (an overlay) goes after a "
            "whole configuration: --configfile config/config.yaml OVERLAY"
        )
    else:
        message = " ".join(error.message.split())  # it quotes the value, which may be long
        if len(message) > MESSAGE_LIMIT:
            message = message[: MESSAGE_LIMIT - 3] + "..."
    raise ConfigError(f"{source}: {key}: {message}", key=None if key == "(top level)" else key)


def validate_workflow_config(config: Mapping[str, Any], source: str = "config") -> None:
    """Check a (schema-valid) workflow configuration; raise :class:`ConfigError` naming the key.

    Args:
      config: the configuration mapping (as Snakemake loaded it).
      source: the configuration file(s), prefixed to the message.
    """
    from efa.data.registry import load_registry

    try:
        root = config.get("datasets_root", "datasets")
        try:
            registry = load_registry(root)
        except EfaError as error:
            _fail("datasets_root", str(error))
        _check_datasets(config, registry)
        _check_train("train", config.get("train"))
        probe_labels: dict[str, str] = {}
        opened: dict = {}  # built stores read for the checks against their content
        experiments = config.get("experiments") or {}
        if not experiments:
            _fail("experiments", "no experiments configured; expected at least one")
        for experiment, spec in experiments.items():
            key = f"experiments.{experiment}"
            check_name("experiment", experiment, "experiments")
            dataset = spec.get("dataset")
            _check_dataset(config, registry, dataset, f"{key}.dataset")
            _check_splits(
                f"{key}.splits",
                spec.get("splits") or {},
                dataset_size(config, registry, dataset),
                dataset,
                registry,
            )
            seeds = spec.get("seeds", [0])
            if len(set(seeds)) != len(seeds) or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds
            ):
                _fail(f"{key}.seeds", f"{seeds!r}: expected distinct non-negative integers")
            _check_train(f"{key}.train", spec.get("train"))
            if not spec.get("models"):
                _fail(f"{key}.models", "no models configured; expected at least one")
            for label, model in spec["models"].items():
                check_name("model label", label, f"{key}.models")
                built = _check_model(f"{key}.models.{label}", label, model)
                _check_reach_over_data(
                    f"{key}.models.{label}", built, config, registry, dataset, opened
                )
                _check_train(f"{key}.models.{label}.train", model.get("train"))
                _check_run_settings(config, experiment, label, seeds[0])
            for label, options in (spec.get("probes") or {}).items():
                check_name("probe label", label, f"{key}.probes")
                if label in probe_labels:
                    _fail(
                        f"{key}.probes.{label}",
                        f"probe label {label!r} is also used by "
                        f"experiment {probe_labels[label]!r}; labels name the probe stores and "
                        "must be unique",
                    )
                probe_labels[label] = experiment
                _check_probe(config, registry, f"{key}.probes.{label}", options)
        _check_targets(config)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
