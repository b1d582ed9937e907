"""Run configuration of any model (trained here, a calculator, another code's trainer): defaults,
loading from YAML/JSON, overrides, validation.

A configuration is a flat mapping (plus the ``model_options`` and ``splits`` sub-mappings). Every
key is checked; an error names the key (``model_options.features``, ``splits.train``, …), the
value received and what was expected.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from efa.bounded_yaml import load_yaml
from efa.data.splits import PUBLISHED
from efa.errors import ConfigError
from efa.models.registry import BUILTIN_MODELS
from efa.names import check_name
from efa.option_types import fits_type
from efa.runs.capabilities import capabilities_from_mapping
from efa.runs.card import model_card
from efa.runs.layout import run_dir
from efa.runs.trainer_spec import check_trainer

#: Settings that shape gradient-descent training only: a calculator model without a trainer has
#: nothing they could change (the workflow leaves them out of its runs, so that a changed
#: ``train`` block does not rerun it).
GRADIENT_TRAINING_KEYS = frozenset(
    {
        "batch_size",
        "num_buckets",
        "devices",
        "max_steps",
        "max_time_s",
        "learning_rate",
        "final_learning_rate",
        "gradient_clip",
        "energy_weight",
        "forces_weight",
        "energy_loss",
        "stress_weight",
        "valid_every",
        "log_every",
    }
)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run.

    Attributes:
      experiment: experiment name, the first level of the run directory.
      dataset: data set name (looked up under ``datasets_root``) or path of a ``.zarr`` store.
      datasets_root: directory of the canonical stores.
      model: built-in model name or import path ``package.module:Class``.
      model_options: keyword options of the model class.
      calculator: import path ``package.module:factory`` of an ASE calculator factory; a run
        with a calculator trains nothing (:mod:`efa.predictors.calculator`), and ``model`` and
        ``model_options`` must keep their defaults.
      calculator_options: keyword options of the factory; string values may name files of an
        external trainer's run (``{model_file}``, ``{run_dir}``; :mod:`efa.runs.trainer_spec`).
      trainer: an external trainer, ``{"command": [...], "model_file": "..."}``: the command (a
        list of arguments, no shell) trains on the run's exported splits and writes
        ``model_file``; the calculator then evaluates that model
        (:mod:`efa.runs.trainer_spec`).
      receptive_field: a calculator's declared receptive field: Å, ``"global"`` or None
        (unknown); trained models declare theirs in their class.
      cutoff: a calculator's declared neighbour cutoff in Å, or None (unknown); probe metrics
        "beyond the cutoff" need it. Trained models declare theirs in their class.
      card: model card entries (``name``, ``source``, ``version``, ``license``,
        ``training_data``, ``level_of_theory``) that override what efa-bench knows.
      capabilities: a calculator's declared capability flags (``total_charge``, ``spin``,
        ``periodic``, ``stress``, ``elements``, ``energy``;
        :mod:`efa.runs.capabilities`); trained models get theirs from the model.
      molecule_box: vacuum in Å around a molecule given to a calculator that needs a cell (as
        pymatgen-based ones do): the molecule gets a box this much wider than its extent on
        every side, not periodic (``pbc=False``), so nothing else changes; None: no cell.
      label: model label in the run directory and result stores (default: the built-in name or
        the class name).
      splits: ``{"train": n, "valid": n, "test": n}`` numbers of structures drawn at random
        (splits left out keep their defaults), or ``"dataset"``: the data set's published
        splits (:func:`efa.data.splits.published_splits`), with every split other than train
        and valid a test set.
      split_seed: seed of the split permutation (the paper uses 0).
      seed: seed of parameter initialisation and batch order.
      batch_size: structures per batch.
      num_buckets: largest number of padded size buckets.
      devices: JAX devices to train on by data parallelism, the first ``devices`` of
        ``jax.devices()`` (None: all visible devices; :mod:`efa.train.sharding`). Results agree
        with one device up to floating-point rounding, so a run may resume with another value.
      max_steps: optimisation steps (the learning rate decays over them).
      max_time_s: wall-clock budget in seconds summed over resumed sessions (None: none).
      learning_rate, final_learning_rate: exponential decay from the first to the second.
      gradient_clip: global-norm gradient clipping (None: off).
      energy_weight, forces_weight: loss weights ``w_E`` and ``w_F``.
      energy_loss: ``"total"`` (squared error of the structure's energy, the paper's loss) or
        ``"per_atom"`` (squared error of the energy per atom: for structures of hundreds of
        atoms, where total-energy errors would swamp the forces; :mod:`efa.train.objective`).
      stress_weight: loss weight ``w_S`` of the stress (eV/Å³; :mod:`efa.train.objective`);
        above 0 it needs a data set of cells periodic in all directions with ``stress`` labels.
      valid_every: steps between validations (and checkpoints).
      log_every: steps between training-loss records in the log.
      output_root: root of the run directories ``<output_root>/<experiment>/<label>/seed<seed>``.
    """

    experiment: str = "default"
    dataset: str = ""
    datasets_root: str = "datasets"
    model: str = "local"
    model_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    calculator: str | None = None
    calculator_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    trainer: Mapping[str, Any] | None = None
    receptive_field: float | str | None = None
    cutoff: float | None = None
    card: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    capabilities: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    molecule_box: float | None = None
    label: str | None = None
    splits: Mapping[str, int] | str = dataclasses.field(
        default_factory=lambda: {"train": 2000, "valid": 500, "test": 200}
    )
    split_seed: int = 0
    seed: int = 0
    batch_size: int = 32
    num_buckets: int = 3
    devices: int | None = None
    max_steps: int = 10000
    max_time_s: float | None = None
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-5
    gradient_clip: float | None = None
    energy_weight: float = 0.01
    forces_weight: float = 0.99
    energy_loss: str = "total"
    stress_weight: float = 0.0
    valid_every: int = 100
    log_every: int = 10
    output_root: str = "results/runs"

    @property
    def model_label(self) -> str:
        """Name of the model in paths and result stores."""
        if self.label:
            return self.label
        if self.calculator:
            return self.calculator.rpartition(":")[2].rpartition(".")[2]
        return self.model if self.model in BUILTIN_MODELS else self.model.rpartition(":")[2]

    def run_dir(self) -> Path:
        """``<output_root>/<experiment>/<label>/seed<seed>``, inside ``output_root``: validation
        checks that the experiment and the model label are names (:mod:`efa.names`)."""
        return run_dir(self.output_root, self.experiment, self.model_label, self.seed)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable mapping (round-trips through :func:`config_from_mapping`)."""
        data = dataclasses.asdict(self)
        data["model_options"] = dict(self.model_options)
        data["calculator_options"] = dict(self.calculator_options)
        data["trainer"] = None if self.trainer is None else dict(self.trainer)
        data["card"] = dict(self.card)
        data["capabilities"] = dict(self.capabilities)
        data["splits"] = self.splits if isinstance(self.splits, str) else dict(self.splits)
        return data


ENERGY_LOSSES = ("total", "per_atom")
_FIELDS = {field.name: field for field in dataclasses.fields(RunConfig)}
_REQUIRED_SPLITS = ("train", "valid", "test")


def _expect(key: str, value: Any, hint: Any, what: str) -> None:
    """Raise ``<key>=<value>: expected <what>`` unless ``value`` fits the annotation ``hint``."""
    if not fits_type(value, hint):
        raise ConfigError(f"{key}={value!r}: expected {what}", key=key)


@contextlib.contextmanager
def _about(key: str) -> Iterator[None]:
    """Give a :class:`ConfigError` raised inside, by a check of one key, that key."""
    try:
        yield
    except ConfigError as error:
        if error.key is None:
            error.key = key
        raise


def _validate(config: RunConfig) -> RunConfig:
    """Check types and ranges of every key; raise :class:`ConfigError` naming the first bad one."""
    for key in ("experiment", "datasets_root", "model", "output_root"):
        _expect(key, getattr(config, key), str, "a non-empty string")
        if not getattr(config, key):
            raise ConfigError(f"{key}: expected a non-empty string", key=key)
    if not isinstance(config.dataset, str) or not config.dataset:
        raise ConfigError(
            f"dataset={config.dataset!r}: expected a data set name or .zarr path", key="dataset"
        )
    _expect("label", config.label, str | None, "a string")
    with _about("experiment"):
        check_name("experiment", config.experiment, "experiment")
    with _about("label" if config.label else "model"):
        check_name("model label", config.model_label, "label" if config.label else "model")
    _expect("model_options", config.model_options, Mapping, "a mapping of model options")
    _expect(
        "calculator",
        config.calculator,
        str | None,
        "an import path 'package.module:factory'",
    )
    _expect(
        "calculator_options",
        config.calculator_options,
        Mapping,
        "a mapping of calculator factory options",
    )
    _expect("card", config.card, Mapping, "a mapping of model card entries")
    model_card(config.card)
    _expect("capabilities", config.capabilities, Mapping, "a mapping of capability flags")
    if config.capabilities:
        if not config.calculator:
            raise ConfigError(
                "capabilities: only calculator models declare them; a trained model's come "
                "from the model and its training data",
                key="capabilities",
            )
        with _about("capabilities"):
            capabilities_from_mapping(config.capabilities)
    if config.trainer is not None:
        if not config.calculator:
            raise ConfigError(
                "trainer: an external trainer needs the calculator that evaluates "
                "its model (calculator: package.module:factory)",
                key="trainer",
            )
        with _about("trainer"):
            check_trainer(config.trainer)
    if config.calculator and (config.model != RunConfig.model or config.model_options):
        raise ConfigError(
            "calculator: a run has either a calculator or a model to train, not "
            "both; remove model and model_options",
            key="calculator",
        )
    if (
        config.receptive_field is not None
        and config.receptive_field != "global"
        and (
            isinstance(config.receptive_field, bool)
            or not isinstance(config.receptive_field, (int, float))
            or not config.receptive_field > 0
        )
    ):
        raise ConfigError(
            f"receptive_field={config.receptive_field!r}: expected a length in Å, 'global' or null",
            key="receptive_field",
        )
    _expect("molecule_box", config.molecule_box, float | None, "a vacuum width in Å or null")
    if config.molecule_box is not None and not (
        math.isfinite(config.molecule_box) and config.molecule_box > 0 and config.calculator
    ):
        raise ConfigError(
            f"molecule_box={config.molecule_box!r}: expected a positive vacuum width in Å, "
            "for a calculator model",
            key="molecule_box",
        )
    _expect("cutoff", config.cutoff, float | None, "a positive length in Å or null")
    if config.cutoff is not None and not (math.isfinite(config.cutoff) and config.cutoff > 0):
        raise ConfigError(
            f"cutoff={config.cutoff!r}: expected a positive length in Å or null", key="cutoff"
        )
    if config.cutoff is not None and not config.calculator:
        raise ConfigError(
            "cutoff: only a calculator model declares it; a trained model's class declares its own",
            key="cutoff",
        )
    if config.splits != PUBLISHED:
        _check_split_sizes(config.splits)
    for key in ("split_seed", "seed"):
        _expect(key, getattr(config, key), int, "a non-negative integer")
        if getattr(config, key) < 0:
            raise ConfigError(
                f"{key}={getattr(config, key)}: expected a non-negative integer", key=key
            )
    for key in ("batch_size", "num_buckets", "max_steps", "valid_every", "log_every"):
        _expect(key, getattr(config, key), int, "a positive integer")
        if getattr(config, key) < 1:
            raise ConfigError(f"{key}={getattr(config, key)}: expected a positive integer", key=key)
    _expect("devices", config.devices, int | None, "a positive integer or null (all)")
    if config.devices is not None and config.devices < 1:
        raise ConfigError(
            f"devices={config.devices}: expected a positive integer or null (all)", key="devices"
        )
    for key in ("learning_rate", "final_learning_rate"):
        _expect(key, getattr(config, key), float, "a finite positive number")
        if not (math.isfinite(getattr(config, key)) and getattr(config, key) > 0):
            raise ConfigError(
                f"{key}={getattr(config, key)}: expected a finite positive number", key=key
            )
    for key in ("max_time_s", "gradient_clip"):
        _expect(key, getattr(config, key), float | None, "a finite positive number or null")
        value = getattr(config, key)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{key}={value}: expected a finite positive number or null", key=key)
    for key in ("energy_weight", "forces_weight", "stress_weight"):
        _expect(key, getattr(config, key), float, "a finite number >= 0")
        if not (math.isfinite(getattr(config, key)) and getattr(config, key) >= 0):
            raise ConfigError(
                f"{key}={getattr(config, key)}: expected a finite number >= 0", key=key
            )
    if config.energy_loss not in ENERGY_LOSSES:
        raise ConfigError(
            f"energy_loss={config.energy_loss!r}: expected one of {', '.join(ENERGY_LOSSES)}",
            key="energy_loss",
        )
    if config.energy_weight == 0 and config.forces_weight == 0:
        raise ConfigError(
            "energy_weight and forces_weight are both 0: nothing to train", key="energy_weight"
        )
    return config


_FLOAT_KEYS = {
    "max_time_s",
    "learning_rate",
    "final_learning_rate",
    "gradient_clip",
    "energy_weight",
    "forces_weight",
    "stress_weight",
}


def _parse_number(key: str, value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; accept such spellings for numeric keys."""
    if key in _FLOAT_KEYS and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def config_from_mapping(data: Mapping[str, Any], source: str = "configuration") -> RunConfig:
    """Build and validate a :class:`RunConfig`; unknown keys are errors naming ``source``."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of configuration keys, got {type(data).__name__}"
        )
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_FIELDS))}"
        )
    data = {key: _parse_number(key, value) for key, value in data.items()}
    if isinstance(data.get("splits"), Mapping):  # a partial mapping keeps the other defaults
        data["splits"] = {**RunConfig().splits, **data["splits"]}
    try:
        return _validate(RunConfig(**data))
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}", key=error.key) from None


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON configuration file into a mapping."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration ({error.strerror})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        kind = path.suffix.lstrip(".") or "YAML"
        raise ConfigError(f"{path}: not valid {kind}: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of configuration keys at the top level")
    return data


def apply_overrides(
    data: Mapping[str, Any], assignments: Sequence[str], option: str = "--set"
) -> dict[str, Any]:
    """Apply ``key=value`` overrides (dotted keys reach into mappings; values parsed as YAML);
    errors name the command-line ``option`` they came from."""
    result = json.loads(json.dumps(dict(data)))  # deep copy of plain data
    for assignment in assignments:
        key, equals, raw = assignment.partition("=")
        if not equals or not key:
            raise ConfigError(
                f"{option} {assignment!r}: expected KEY=VALUE, e.g. model_options.features=32"
            )
        *parents, leaf = key.split(".")
        target = result
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{option} {assignment!r}: {parent!r} is not a mapping")
        try:
            target[leaf] = load_yaml(raw)
        except yaml.YAMLError as error:
            raise ConfigError(
                f"{option} {assignment!r}: value is not valid YAML ({error})"
            ) from None
    return result


def load_config(path: str | os.PathLike | None, assignments: Sequence[str] = ()) -> RunConfig:
    """Configuration from an optional file plus ``key=value`` overrides, validated."""
    data = read_config_file(path) if path else {}
    source = str(path) if path else "command line"
    return config_from_mapping(apply_overrides(data, assignments), source)


def _check_split_sizes(splits) -> None:
    """Random split sizes: train, valid and test, each a positive integer."""
    _expect(
        "splits", splits, Mapping, f"a mapping like {{train: 2000, valid: 500}} or {PUBLISHED!r}"
    )
    for name in _REQUIRED_SPLITS:
        if name not in splits:
            raise ConfigError(
                f"splits.{name}: missing; expected a number of structures", key=f"splits.{name}"
            )
    for name, size in splits.items():
        if name not in _REQUIRED_SPLITS:
            raise ConfigError(
                f"splits.{name}: unknown split; expected {list(_REQUIRED_SPLITS)}",
                key=f"splits.{name}",
            )
        _expect(f"splits.{name}", size, int, "a positive integer")
        if size < 1:
            raise ConfigError(
                f"splits.{name}={size}: expected a positive integer", key=f"splits.{name}"
            )
