"""The training loop of ``efa train``: step budget, validation, checkpoints, resume, NaN guard.

Step ``t`` (0-based) trains on the batch :meth:`Batcher.training_batches` yields for ``t``, so a
run resumed from the checkpoint of step ``s`` sees the same data from ``s`` on and, on the same
machine and devices, reaches bit-identical parameters. Steps run data-parallel on the devices
chosen by ``devices`` (all visible ones by default; :mod:`efa.train.sharding`): each batch is
split across them by whole structures, parameters and optimiser state are replicated.

Every ``valid_every`` steps (and when training stops) the whole validation split is evaluated;
the best parameters are kept in ``best/`` and the full state in ``checkpoints/``. A non-finite
loss stops the run before anything is saved, so the last good checkpoint survives. SIGTERM makes
the loop save a checkpoint at the next step boundary and stop (status ``interrupted``); SIGKILL
loses at most the steps since the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from tqdm.auto import tqdm

from efa.data.batching import Batcher
from efa.data.packing import Batch, reciprocal_options
from efa.data.store import open_dataset
from efa.data.structures import Structures
from efa.errors import ConfigError, EfaError
from efa.models.registry import build_model
from efa.provenance import dataset_sha256
from efa.runs.config import RunConfig
from efa.runs.directory import (
    check_same_config,
    read_json,
    run_lock,
    run_splits_of,
    summary_record,
    write_json,
    write_run_files,
)
from efa.runs.layout import RunPaths
from efa.runs.stopping import stop_requests
from efa.train import checkpoints
from efa.train.log import TrainingLog
from efa.train.objective import (
    ErrorSums,
    LossWeights,
    add_sums,
    error_sums,
    loss_from_sums,
    predict,
)
from efa.train.optimizer import learning_rate_schedule, make_optimizer
from efa.train.reference import element_energies_to_json, fit_element_energies
from efa.train.sharding import DataParallel
from efa.train.trained_model import (
    count_parameters,
    recorded_element_energies,
)
from efa.xla import compile_time

#: Exit status of a run stopped by SIGTERM (128 + signal number, as shells report it).
EXIT_INTERRUPTED = 128 + signal.SIGTERM


class TrainingDiverged(EfaError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class TrainState(NamedTuple):
    """Parameters and optimiser state."""

    params: Any
    opt_state: Any


@dataclasses.dataclass
class Progress:
    """Counters saved in checkpoint metadata and reported in ``summary.json``."""

    step: int = 0
    elapsed_s: float = 0.0
    best_valid_loss: float = math.inf
    best_step: int = -1


def train_step(
    model, optimizer, element_energies, weights: LossWeights, state: TrainState, batch: Batch
):
    """One Adam step on the loss of ``batch`` (flat or split) with ``weights``; returns the new
    state and loss. The stress is predicted only when ``w_S > 0``."""
    stress = weights.stress > 0

    def loss_fn(params):
        sums = _batch_sums(model, element_energies, params, batch, stress)
        return loss_from_sums(sums, weights)

    loss, gradient = jax.value_and_grad(loss_fn)(state.params)
    updates, opt_state = optimizer.update(gradient, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state), loss


def _batch_sums(model, element_energies, params, batch: Batch, stress: bool = False) -> ErrorSums:
    """Error sums of a flat batch, or of one split into ``D`` parts (arrays ``(D, …)``), with
    the stress errors when ``stress``.

    A split batch (:func:`~efa.data.packing.split_batch`) is evaluated part by part
    (``jax.vmap``) and the sums of the parts are added.
    """
    if batch.structure_mask.ndim == 2:
        parts = jax.vmap(
            functools.partial(_batch_sums, model, element_energies, params, stress=stress)
        )(batch)
        return ErrorSums(*(value.sum(axis=0) for value in parts))
    return error_sums(predict(model, params, batch, element_energies, stress), batch)


def check_max_length(model, dataset, name: str) -> None:
    """Refuse a model whose ``max_length`` (Å; EFA's ``r_max``) is shorter than the largest
    distance between two atoms of one structure of a data set of molecules: beyond it the
    quadrature bound no longer holds and the energy is no longer rotation invariant."""
    from efa.data.summary import largest_pair_distance

    max_length = getattr(model, "max_length", None)
    if max_length is None or not math.isinf(getattr(model, "receptive_field", 0.0)):
        return
    if "pbc" in dataset and np.asarray(dataset["pbc"].values).any():
        return  # periodic EFA sums its kernel in reciprocal space: no bound on distances
    longest = largest_pair_distance(dataset)
    if longest > float(max_length):
        raise ConfigError(
            f"model_options.max_length={max_length}: shorter than the largest distance between "
            f"two atoms of one structure in data set {name!r} ({longest:.3f} Å); EFA is rotation "
            f"invariant only up to max_length: set it to at least {math.ceil(longest * 10) / 10}"
        )


def check_stress_labels(config: RunConfig, structures: Structures) -> None:
    """Refuse ``stress_weight > 0`` for a data set without stress labels on cells periodic in
    all three directions."""
    if config.stress_weight <= 0:
        return
    if structures.stress is None or structures.pbc is None or not structures.pbc.all():
        raise ConfigError(
            f"stress_weight={config.stress_weight}: data set {config.dataset!r} has no stress "
            "labels on cells periodic in all three directions; expected stress_weight: 0 for it"
        )


class Trainer:
    """Trains one run; construct, then call :meth:`run`.

    Args:
      config: the run configuration.
      run_dir: where the run lives (default ``config.run_dir()``).
      progress_bar: show a tqdm bar (None: only on a terminal).
    """

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | Path | None = None,
        progress_bar: bool | None = None,
    ):
        if config.calculator:
            raise ConfigError(
                f"calculator={config.calculator!r}: a calculator model has nothing to train; "
                "use efa.predictors.prepare_calculator_run (efa train does so)"
            )
        self.config = config
        self.paths = RunPaths(Path(run_dir) if run_dir is not None else config.run_dir())
        self.progress_bar = progress_bar
        self.model = build_model(config.model, config.model_options)
        check_same_config(self.paths, config)
        self.cutoff = float(self.model.cutoff)
        dataset = open_dataset(config.dataset, config.datasets_root)
        self.dataset_sha256 = dataset_sha256(dataset)
        self.level_of_theory = str(dataset.attrs.get("level_of_theory", ""))
        check_max_length(self.model, dataset, config.dataset)
        structures = Structures.from_dataset(dataset)
        check_stress_labels(config, structures)
        self.num_structures = len(structures.energy)
        self.splits = run_splits_of(self.paths, config, dataset, self.dataset_sha256, "resume")
        train = structures.select(self.splits["train"])
        self.train_elements = sorted(
            int(z) for z in np.unique(train.atomic_numbers[train.atom_mask])
        )
        if self.paths.model.exists():  # a resumed run keeps the references it began with
            info = read_json(self.paths.model, "model description")
            self.element_energies = recorded_element_energies(info, self.paths.model)
        else:
            self.element_energies = fit_element_energies(train)
        self.parallel = DataParallel(config.devices)
        slots = self.parallel.num_devices
        reciprocal = reciprocal_options(self.model)
        self.train_batches = Batcher(
            train,
            config.batch_size,
            self.cutoff,
            config.num_buckets,
            slot_multiple=slots,
            **reciprocal,
        )
        self.valid_batches = [
            self.parallel.split(batch)
            for _, batch in Batcher(
                structures.select(self.splits["valid"]),
                config.batch_size,
                self.cutoff,
                config.num_buckets,
                slot_multiple=slots,
                **reciprocal,
            ).ordered_batches()
        ]
        self.optimizer = make_optimizer(config)
        self._step = self.parallel.jit(
            functools.partial(
                train_step,
                self.model,
                self.optimizer,
                self.element_energies,
                LossWeights.of(config),
            ),
            donate_argnums=0,
        )
        self._sums = self.parallel.jit(
            functools.partial(
                _batch_sums, self.model, self.element_energies, stress=config.stress_weight > 0
            )
        )
        self.log = TrainingLog(self.paths.log)

    def _initial_state(self) -> TrainState:
        first = next(self.train_batches.training_batches(self.config.seed))
        # compiled once as a whole: run eagerly, init compiles every operation on its own
        params = jax.jit(self.model.init)(jax.random.PRNGKey(self.config.seed), first)
        return self.parallel.replicate(TrainState(params, self.optimizer.init(params)))

    def evaluate_validation_split(self, params) -> dict[str, float]:
        """Validation loss and errors over the whole validation split."""
        total = None
        for batch in self.valid_batches:
            total = add_sums(total, self._sums(params, batch))
        loss = loss_from_sums(total, LossWeights.of(self.config))
        errors = {
            "loss": float(loss),
            "energy_mae": total.energy_abs / total.num_structures,
            "forces_mae": total.forces_abs / total.num_components,
        }
        if total.num_stress:
            errors["stress_mae"] = total.stress_abs / (9 * total.num_stress)
        return errors

    def _save(self, state: TrainState, progress: Progress) -> None:
        checkpoints.save(self.paths.checkpoints, progress.step, state, dataclasses.asdict(progress))
        self.log.write("checkpoint", progress.step)

    def _start(self) -> tuple[TrainState, Progress]:
        """Fresh state, or the state of the newest checkpoint."""
        state = self._initial_state()
        if checkpoints.latest_step(self.paths.checkpoints) is None:
            write_run_files(
                self.paths,
                self.config,
                self.splits,
                self.dataset_sha256,
                self.num_structures,
                self.level_of_theory,
                self.train_elements,
            )
            write_json(
                {
                    "model": self.config.model,
                    "model_options": dict(self.config.model_options),
                    "label": self.config.model_label,
                    "cutoff": self.cutoff,
                    "element_energies": element_energies_to_json(self.element_energies),
                    "elements": self.train_elements,
                    "num_parameters": count_parameters(state.params),
                },
                self.paths.model,
            )
            self.log.truncate_after(-1)
            self.log.write(
                "start", 0, run_dir=str(self.paths.root), devices=self.parallel.num_devices
            )
            return state, Progress()
        state, metadata = checkpoints.restore(self.paths.checkpoints, state)
        write_json(self.config.to_dict(), self.paths.config)  # new max_time_s or devices
        progress = Progress(**metadata)
        self.log.truncate_after(progress.step)
        self.log.write("resume", progress.step, devices=self.parallel.num_devices)
        return state, progress

    def run(self) -> dict[str, Any]:
        """Train for ``max_steps`` steps (or until SIGTERM); return the summary.

        The step budget decides when a run is complete. ``max_time_s`` is only a safety net: a
        run that reaches it stops with status ``truncated`` (``summary.json`` says so, and the
        report counts no target on it as met); started again with a larger or no ``max_time_s``
        it resumes from its last checkpoint.

        The summary also records ``compile_s``, the seconds XLA spent compiling in this session
        (:func:`efa.xla.compile_time`; a resumed run compiles again, and programs loaded from the
        persistent cache count only their loading), and ``compiled_programs``.

        Raises:
          TrainingDiverged: on a non-finite loss (the last good checkpoint is kept).
          EfaError: another process is training this run directory now.
        """
        with run_lock(self.paths):
            return self._run()

    def _run(self) -> dict[str, Any]:
        if self.paths.summary.exists():
            summary = read_json(self.paths.summary, "run summary")
            if summary.get("status") == "complete":
                return summary
            if summary.get("status") == "truncated" and not self._more_time(summary):
                return summary
        with compile_time() as compiling:
            summary = self._train()
        summary["compile_s"] = compiling.seconds
        summary["compiled_programs"] = compiling.programs
        if summary["status"] != "interrupted":
            write_json(summary, self.paths.summary)
        return summary

    def _train(self) -> dict[str, Any]:
        """Train from the latest checkpoint to the step budget (or a stop); the summary."""
        state, progress = self._start()
        config = self.config
        schedule = learning_rate_schedule(config)
        session_start = time.perf_counter()
        elapsed_before = progress.elapsed_s
        batches = self.train_batches.training_batches(config.seed, progress.step)
        bar = tqdm(
            total=config.max_steps,
            initial=progress.step,
            disable=None if self.progress_bar is None else not self.progress_bar,
            unit="step",
            dynamic_ncols=True,
        )
        status, stop_reason = "complete", "max_steps"
        valid: dict[str, float] = {}
        with stop_requests() as terminated, bar:
            while progress.step < config.max_steps:
                state, loss = self._step(state, self.parallel.split(next(batches)))
                loss = float(loss)
                if not math.isfinite(loss):
                    self._diverged(progress.step + 1, loss)
                progress.step += 1
                progress.elapsed_s = elapsed_before + time.perf_counter() - session_start
                out_of_time = (
                    config.max_time_s is not None and progress.elapsed_s >= config.max_time_s
                )
                if progress.step % config.log_every == 0:
                    self.log.write(
                        "train",
                        progress.step,
                        loss=loss,
                        learning_rate=float(schedule(progress.step - 1)),
                        elapsed_s=progress.elapsed_s,
                    )
                bar.update(1)
                bar.set_postfix(
                    loss=f"{loss:.3g}", valid_mae=f"{valid.get('energy_mae', math.nan):.3g}"
                )
                at_end = progress.step == config.max_steps or out_of_time
                validating = progress.step % config.valid_every == 0 or at_end
                if validating:
                    valid = self._validate_and_keep_best(state, progress)
                    self._save(state, progress)
                elif terminated:
                    self._save(state, progress)
                if bar.disable and (validating or progress.step % config.log_every == 0):
                    _progress_line(progress, config.max_steps, loss, valid if validating else {})
                if out_of_time and progress.step < config.max_steps:
                    status, stop_reason = "truncated", "max_time_s"
                    break
                if terminated:
                    status, stop_reason = "interrupted", "SIGTERM"
                    break
        summary = summary_record(
            config,
            self.dataset_sha256,
            status,
            stop_reason,
            progress.step,
            config.max_steps,
            progress.elapsed_s,
            device_count=self.parallel.num_devices,
            best_valid_loss=progress.best_valid_loss,
            best_step=progress.best_step,
            final_valid=valid,
        )
        if status == "interrupted":
            self.log.write("interrupted", progress.step)
        else:
            totals = {
                key: value
                for key, value in summary.items()
                if key not in ("final_valid", "provenance")
            }
            self.log.write("finish", progress.step, **totals)
        return summary

    def _more_time(self, summary: dict[str, Any]) -> bool:
        """Whether a truncated run now has time left (a larger or no ``max_time_s``)."""
        limit = self.config.max_time_s
        return limit is None or limit > float(summary.get("wall_time_s", math.inf))

    def _validate_and_keep_best(self, state: TrainState, progress: Progress) -> dict[str, float]:
        valid = self.evaluate_validation_split(state.params)
        if not math.isfinite(valid["loss"]):
            self._diverged(progress.step, valid["loss"], what="validation loss")
        improved = valid["loss"] < progress.best_valid_loss
        if improved:
            progress.best_valid_loss, progress.best_step = valid["loss"], progress.step
            checkpoints.save(
                self.paths.best, progress.step, state.params, dict(valid, step=progress.step)
            )
        self.log.write("valid", progress.step, best=improved, **valid)
        return valid

    def _diverged(self, step: int, loss: float, what: str = "training loss") -> None:
        last = checkpoints.latest_step(self.paths.checkpoints)
        kept = (
            f"the last good checkpoint (step {last}) is kept in {self.paths.checkpoints}"
            if last is not None
            else "no checkpoint had been written yet"
        )
        self.log.write("diverged", step, loss=loss)
        raise TrainingDiverged(
            f"step {step}: {what} is {loss}; training stopped and {kept}. "
            "Lower learning_rate or set gradient_clip."
        )


def _progress_line(
    progress: Progress, max_steps: int, loss: float, valid: dict[str, float]
) -> None:
    """One line of progress on standard error, for a run without a progress bar (a job's log):
    the step, the training loss, and after a validation its energy and force MAE."""
    line = f"step {progress.step}/{max_steps}  loss {loss:.4g}  elapsed {progress.elapsed_s:.0f} s"
    if valid:
        line += f"  valid energy_mae {valid.get('energy_mae', math.nan):.4g} eV"
        if "forces_mae" in valid:
            line += f"  forces_mae {valid['forces_mae']:.4g} eV/Å"
        line += f"  (best step {progress.best_step})"
    print(line, file=sys.stderr, flush=True)
