"""The ci suite through the project's SLURM profile on a running SLURM cluster (.ci/slurm/cluster).

    python .ci/slurm/suite.py WORK_DIR [LOCAL_METRICS]

Run from the repository root, after the local ci suite (`snakemake --cores 2 --configfile
config/ci.yaml`), whose metrics.json (LOCAL_METRICS, default results/metrics.json) the SLURM run
must reproduce byte for byte. The repository's Snakefile runs with WORK_DIR as its working
directory (`--directory`, so the same code and configuration as the local run):

1. a job no node can run (more CPUs than the node has): refused before the first submission;
2. the ci suite with `--workflow-profile profiles/slurm`, training asking for a GPU (the cluster's
   node advertises a fake one) and every job for the account and partition; on the way, one
   training process is killed with SIGKILL after its first checkpoint (the retry must resume
   from it) and one evaluation or probe job is cancelled with scancel (the retry must run it);
3. the comparison of its results/metrics.json with the local run's.

It prints the sbatch lines the plugin sent, SLURM's accounting of every job, and the wall time.
Exit status 0 only if every step behaved as described.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path.cwd()
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
ACCOUNT, PARTITION = "efa-bench", "debug"
SUITE = [
    "--snakefile",
    str(REPOSITORY / "Snakefile"),
    "--workflow-profile",
    str(REPOSITORY / "profiles" / "slurm"),
    "--configfile",
    str(REPOSITORY / "config" / "ci.yaml"),
    "--default-resources",
    f"slurm_account={ACCOUNT}",
    f"slurm_partition={PARTITION}",
    "--slurm-init-seconds-before-status-checks",
    "5",
]


def say(message: str) -> None:
    print(f"[slurm suite {time.strftime('%H:%M:%S')}] {message}", flush=True)


def training_runs(suite_dir: Path) -> list[Path]:
    return sorted((suite_dir / "results" / "runs").glob("*/*/seed*"))


def checkpointed(run: Path) -> bool:
    """Whether the run's log records a checkpoint and the run is not complete yet."""
    log = run / "train_log.jsonl"
    if (run / "summary.json").exists() or not log.exists():
        return False
    return '"checkpoint"' in log.read_text()


def running_jobs() -> list[tuple[str, str]]:
    """(job id, comment) of every running SLURM job; the plugin's comment names the rule."""
    answer = subprocess.run(
        ["squeue", "--noheader", "--states=RUNNING", "--format=%i|%k"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return [tuple(line.split("|", 1)) for line in answer.stdout.splitlines() if "|" in line]


def refuses_unrunnable_job(work: Path) -> bool:
    """Training asking for more CPUs than any node has is refused before any submission."""
    answer = subprocess.run(
        [SNAKEMAKE, *SUITE, "--directory", work, "--set-threads", "train=512"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = answer.stdout + answer.stderr
    refused = answer.returncode != 0 and "pending forever" in output
    submitted = "Submitted job" in output or "Job  has been submitted" in output
    for line in output.splitlines():
        if "pending forever" in line or "asks for" in line:
            say(f"  {line.strip()}")
    return refused and not submitted


def suite_with_failures(suite_dir: Path, log: Path) -> tuple[int, str | None, str | None]:
    """Run the suite; kill one training process after a checkpoint and cancel one job."""
    killed = cancelled = None
    with log.open("w") as output:
        suite = subprocess.Popen(
            [
                SNAKEMAKE,
                *SUITE,
                "--directory",
                suite_dir,
                "--set-resources",
                "train:gpu=1",
                "--verbose",
            ],
            cwd=suite_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while suite.poll() is None:
                time.sleep(0.2)
                if killed is None:
                    for run in training_runs(suite_dir):
                        if checkpointed(run):
                            pattern = f"--run-dir {run.relative_to(suite_dir)}"
                            subprocess.run(["pkill", "-KILL", "-f", "--", pattern])
                            killed = str(run.relative_to(suite_dir))
                            say(f"killed the training of {killed} (SIGKILL) after a checkpoint")
                            break
                if cancelled is None:
                    for job, comment in running_jobs():
                        if comment.startswith(("rule_evaluate", "rule_probe")):
                            subprocess.run(["scancel", job], timeout=30)
                            cancelled = f"{job} ({comment})"
                            say(f"cancelled SLURM job {cancelled} with scancel")
                            break
        except BaseException:
            os.killpg(suite.pid, signal.SIGINT)
            suite.wait(timeout=120)
            raise
    return suite.returncode, killed, cancelled


def resumed(suite_dir: Path, killed: str) -> bool:
    """Whether the killed run's retry resumed from its checkpoint (its log says so)."""
    events = [
        json.loads(line)
        for line in (suite_dir / killed / "train_log.jsonl").read_text().splitlines()
    ]
    return any(event.get("event") == "resume" for event in events)


def main() -> int:
    work = Path(sys.argv[1]).resolve()
    local = Path(sys.argv[2]) if len(sys.argv) > 2 else REPOSITORY / "results" / "metrics.json"
    if not local.exists():
        say(f"no {local}: first run snakemake --cores 2 --configfile config/ci.yaml")
        return 2
    directories = {}
    for name in ("refused", "suite"):
        directories[name] = work / name
        shutil.rmtree(directories[name], ignore_errors=True)
        (directories[name] / "datasets").mkdir(parents=True)
        shutil.copy(REPOSITORY / "datasets" / "registry.yaml", directories[name] / "datasets")
    suite_dir = directories["suite"]
    started = time.monotonic()
    checks: dict[str, bool] = {}

    say("1. a job that no node can run (train with 512 threads on a 2-CPU node)")
    checks["unrunnable job refused before submission"] = refuses_unrunnable_job(
        directories["refused"]
    )

    say("2. the ci suite through profiles/slurm (training asks for the fake GPU)")
    log = work / "snakemake.log"
    returncode, killed, cancelled = suite_with_failures(suite_dir, log)
    text = log.read_text()
    say(f"snakemake exited with {returncode}; log: {log}")
    checks["suite finished"] = returncode == 0
    checks["a training process was killed"] = killed is not None
    checks["the killed run resumed from its checkpoint"] = killed is not None and resumed(
        suite_dir, killed
    )
    checks["a job was cancelled with scancel"] = cancelled is not None
    sbatch = [line.strip() for line in text.splitlines() if line.strip().startswith("sbatch call:")]
    say(f"{len(sbatch)} submissions; the sbatch line of each rule's first one:")
    seen = set()
    for line in sbatch:
        rule = re.search(r"--comment '?rule_(\w+?)(_wildcards|'|\s)", line)
        if rule and rule.group(1) not in seen:
            seen.add(rule.group(1))
            say(f"  {line}")
    train_lines = [line for line in sbatch if "rule_train" in line]
    checks["training asked for the GPU"] = bool(train_lines) and all(
        "--gpus=1" in line for line in train_lines
    )
    checks["other jobs asked for no GPU"] = all(
        "--gpus" not in line for line in sbatch if "rule_train" not in line
    )
    checks["every job asked for the account and partition"] = bool(sbatch) and all(
        re.search(rf"-A '?{ACCOUNT}\b", line) and re.search(rf"-p '?{PARTITION}\b", line)
        for line in sbatch
    )
    checks["the SLURM profile's latency-wait (60 s) reached every job"] = bool(sbatch) and all(
        "--latency-wait 60" in line for line in sbatch
    )
    checks["no account warning"] = "invalid option" not in text
    accounting = subprocess.run(
        ["sacct", "-X", "--format=JobID,Comment%45,State%12,ReqTRES%50,Elapsed"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    say("SLURM's accounting (sacct):\n" + accounting)
    checks["SLURM recorded a failed and a cancelled job"] = (
        "FAILED" in accounting and "CANCELLED" in accounting
    )

    say("3. results/metrics.json of the SLURM run against the local run's")
    remote = suite_dir / "results" / "metrics.json"
    checks["metrics.json byte-identical"] = (
        remote.exists() and remote.read_bytes() == local.read_bytes()
    )
    say(f"wall time {time.monotonic() - started:.0f} s")
    for check, passed in checks.items():
        say(f"{'ok  ' if passed else 'FAIL'} {check}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
