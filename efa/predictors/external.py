"""External trainers: another code's own training command on exactly the experiment's splits.

A model entry with a ``trainer`` names the command that trains it and the file it writes::

    mace:
      trainer:
        command: [mace_run_train, --name, mace, --train_file, "{train}", --valid_file, "{valid}",
                  --test_file, "{test}", --model_dir, "{run_dir}", --seed, "{seed}", ...]
        model_file: "{run_dir}/mace.model"
      calculator: mace.calculators:MACECalculator
      options: {model_paths: "{model_file}", device: cpu, default_dtype: float64}

:func:`train_external` prepares the run directory (the same splits as every other model of the
experiment, :mod:`efa.runs.directory`), writes the splits as extxyz (:mod:`efa.data.export`:
``{train}``, ``{valid}``, ``{test}``), runs the command in the run directory — as a list of
arguments, never through a shell — with its output in ``trainer.log``, checks that it wrote
``model_file`` and that the calculator loads it, and only then writes ``summary.json``.

It runs under the rules of a built-in run: one process per run directory (the run's lock), the
trainer in a process group of its own that ends with the job (SIGTERM or Ctrl-C to ``efa train``
reaches the whole group, SIGKILL follows after :data:`TRAINER_GRACE_S` seconds; the run is
``interrupted`` and nothing is marked complete), ``max_time_s`` as a bound on the trainer's wall
time, and a model file that must lie inside the run directory and be written after the trainer
started. A job killed outright (SIGKILL cannot be caught) leaves its trainer running; the group is
recorded in ``trainer_group.json`` while it runs, and the next ``efa train`` of the run ends that
group, if its leader is still the same process, before it starts a trainer of its own.
Placeholders, in the command, ``model_file`` and string options of the calculator:
``{train}``, ``{valid}``, ``{test}``, ``{run_dir}`` (absolute paths), ``{model_file}`` and
``{seed}``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from efa.errors import EfaError
from efa.runs.directory import read_json, write_json
from efa.runs.stopping import stop_requests

#: Seconds between SIGTERM and SIGKILL to the trainer's process group when it must stop.
TRAINER_GRACE_S = 10.0


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(text[-lines:])


def _end_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process group of ``process``, SIGKILL after :data:`TRAINER_GRACE_S`."""
    for number, wait in ((signal.SIGTERM, TRAINER_GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, number)
        try:
            process.wait(timeout=wait)
            if number == signal.SIGTERM:
                with contextlib.suppress(ProcessLookupError):  # what the leader left behind
                    os.killpg(process.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def _start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/PID/stat`` field
    22), which tells a process from a later one given the same pid; ``None`` where the process
    is gone (or a zombie) or the system has no ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    return None if fields[0] == "Z" else int(fields[19])


def end_stale_trainer(record: Path) -> bool:
    """End the trainer group recorded in ``record`` by a job that was killed outright; remove
    the record.

    The group is ended when its leader is still the recorded process (same pid and start time)
    or is gone: Linux gives no new process the id of a group that still has members, so a group
    of that id is the trainer's. A live leader with another start time is another program.

    Returns:
      whether a group of the trainer's was still running and was ended.
    """
    if not record.exists():
        return False
    group = read_json(record, "trainer group")
    pid, ticks = group.get("pid"), group.get("start_ticks")
    record.unlink()
    leader = _start_ticks(pid) if isinstance(pid, int) and pid > 1 else -1
    if ticks is None or leader not in (None, ticks):
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 2.0  # SIGKILL is delivered at once; the leader's exit may lag
    while _start_ticks(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


def run_trainer(
    command: Sequence[str],
    cwd: Path,
    log: Path,
    max_time_s: float | None,
    record: Path | None = None,
) -> int | str:
    """Run ``command`` in ``cwd`` in a process group of its own, output to ``log``; while it
    runs, its group is recorded in ``record`` (see :func:`end_stale_trainer`).

    Returns:
      its exit status; ``"interrupted"`` when SIGTERM or SIGINT reached this process, or
      ``"timeout"`` after ``max_time_s`` seconds (the group is ended in both cases).

    Raises:
      EfaError: the command cannot be started.
    """
    with stop_requests((signal.SIGTERM, signal.SIGINT)) as stops, open(log, "w") as output:
        try:
            process = subprocess.Popen(
                list(command),
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as error:
            raise EfaError(
                f"trainer.command: cannot run {command[0]!r} ({error.strerror}); is "
                "the trainer installed in this environment?"
            ) from None
        start = time.monotonic()
        try:
            if record is not None:
                write_json({"pid": process.pid, "start_ticks": _start_ticks(process.pid)}, record)
            while True:
                try:
                    return process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
                if stops:
                    _end_group(process)
                    return "interrupted"
                if max_time_s is not None and time.monotonic() - start > max_time_s:
                    _end_group(process)
                    return "timeout"
        finally:
            if process.poll() is None:
                _end_group(process)
            if record is not None:
                record.unlink(missing_ok=True)


def _check_model_file(model_file: Path, started: float, command: str, log: Path) -> None:
    """The trainer wrote ``model_file`` (a file modified after ``started``, a ``time.time()``)."""
    if not model_file.is_file():
        raise EfaError(
            f"trainer command {command!r} finished but wrote no model file "
            f"{model_file} (trainer.model_file); see {log}"
        )
    modified = model_file.stat().st_mtime
    if modified < started - 1.0:  # a second for file systems with coarse times
        raise EfaError(
            f"trainer command {command!r} finished but did not write {model_file} "
            f"(trainer.model_file): the file is older than this run of the trainer "
            f"(modified {time.ctime(modified)}); see {log}"
        )


def train_external(config, run_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Prepare the run, export its splits, run the trainer, check its model; return the summary.

    Returns:
      the run's summary, or ``{"status": "interrupted", ...}`` (nothing written) when SIGTERM
      or SIGINT stopped the trainer.

    Raises:
      EfaError: another process trains this run; the command is not found, fails, runs past
        ``max_time_s`` or writes no new model file inside the run directory; or the calculator
        cannot load the model. Nothing is marked complete then.
    """
    from efa.data.export import export_extxyz
    from efa.predictors.calculator import make_calculator
    from efa.runs.directory import check_same_config, prepare_run_files, run_lock, write_summary
    from efa.runs.layout import RunPaths
    from efa.runs.trainer_spec import calculator_options, expand, placeholder_values

    paths = RunPaths(Path(run_dir) if run_dir is not None else config.run_dir())
    check_same_config(paths, config)
    if (
        paths.summary.exists()
        and read_json(paths.summary, "run summary").get("status") == "complete"
    ):
        return read_json(paths.summary, "run summary")
    values = placeholder_values(paths.root, config.trainer, config.seed)
    with run_lock(paths):
        if end_stale_trainer(paths.trainer_group):
            print(f"{paths.root}: ended the trainer a killed job had left running", file=sys.stderr)
        dataset, splits, digest = prepare_run_files(config, paths)
        exported = paths.exported_splits
        if not exported.is_dir():
            export_extxyz(dataset, exported, splits)
        command = [
            expand(str(argument), values, "trainer.command")
            for argument in config.trainer["command"]
        ]
        log = paths.trainer_log
        started, start = time.time(), time.perf_counter()
        status = run_trainer(command, paths.root, log, config.max_time_s, paths.trainer_group)
        seconds = time.perf_counter() - start
        if status == "interrupted":
            return {"status": "interrupted", "stop_reason": "signal", "wall_time_s": seconds}
        if status == "timeout":
            raise EfaError(
                f"trainer command {command[0]!r} ran past max_time_s={config.max_time_s:g} s "
                f"(train.max_time_s) and was stopped; last lines of {log}:\n{_tail(log)}"
            )
        if status != 0:
            raise EfaError(
                f"trainer command {command[0]!r} failed with exit status {status}; last "
                f"lines of {log}:\n{_tail(log)}"
            )
        _check_model_file(Path(values["model_file"]), started, command[0], log)
        make_calculator(config.calculator, calculator_options(config, paths.root))
        return write_summary(
            config,
            paths,
            digest,
            "external trainer",
            steps=None,
            wall_time_s=seconds,
            trainer_command=command,
        )
