#!/usr/bin/env bash
# The paper's scale on one GPU, meant to take about ten minutes (config/paper_gpu.yaml; not yet
# run on a GPU, so the time is a plan, not a measurement):
#   1. two atoms at the paper's size and budget (2000 pairs, 500 epochs = 31,250 steps), local
#      and EFA, with the dissociation probe;
#   2. 3D clusters of 32 atoms, EFA T = 2 against local T = 4, for as many steps as fit in the
#      minutes left (timed first on a few steps of each model).
# Everything goes under OUT: device.txt (what JAX ran on), steps.txt (the timings and the budget
# chosen), comparison.md (against the paper's numbers), the suite's tables and logs.
#
#   scripts/paper_gpu.sh OUT [CLUSTER_MINUTES]      # CLUSTER_MINUTES: default 5
#
# It needs a GPU build of JAX (jax[cuda12] or jax[cuda13], 0.10.x) on the machine; the rest of
# efa-bench's dependencies are installed into .venv-gpu beside the machine's packages. The data
# come from their public URLs or, offline, from the mirror in EFA_DATA_MIRROR. With
# EFA_GPU_TINY=1 it runs a few steps of everything with 8 features per model, on whatever device
# JAX finds (a CPU check of the script itself: at the paper's width one cluster-32 step of local
# T = 4 takes seconds and 10 GB on a CPU).
set -euo pipefail

out="${1:?usage: scripts/paper_gpu.sh OUT [CLUSTER_MINUTES]}"
minutes="${2:-5}"
tiny="${EFA_GPU_TINY:-0}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"  # OUT relative to where the script was called from
cd "$(dirname "$0")/.."
results="$out/results"

if [ ! -x .venv-gpu/bin/efa ]; then
    python3 -m venv --system-site-packages .venv-gpu
    .venv-gpu/bin/pip install -q -e .
fi
python=.venv-gpu/bin/python
efa=.venv-gpu/bin/efa

"$python" - "$out/device.txt" "$tiny" <<'PYTHON'
import sys

import jax

devices = jax.devices()
line = f"JAX {jax.__version__}: {len(devices)} x {devices[0].device_kind} ({devices[0].platform})"
open(sys.argv[1], "w").write(line + "\n")
print(line)
if devices[0].platform != "gpu" and sys.argv[2] != "1":
    sys.exit("JAX found no GPU: install jax[cuda12] or jax[cuda13] (0.10.x), or set EFA_GPU_TINY=1")
PYTHON

# Time a few steps of each cluster model (compilation excluded), then fit the budget.
probe_steps=60
[ "$tiny" = 1 ] && probe_steps=20
timing="$out/timing"
rm -rf "$timing"
"$efa" data build ref_cluster_32 > "$out/build.log" 2>&1
for model in local_T4 efa_T2; do
    "$python" - "$model" "$timing" "$probe_steps" "$tiny" <<'PYTHON'
import json
import subprocess
import sys

import yaml

model, root, steps, tiny = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
experiment = yaml.safe_load(open("config/paper_gpu.yaml"))["experiments"]["cluster_32"]
entry = experiment["models"][model]
options = {**entry["options"], **({"features": 8} if tiny else {})}
arguments = [
    ".venv-gpu/bin/efa", "train", "--dataset", "ref_cluster_32", "--model", entry["model"],
    "--set", f"model_options={json.dumps(options)}",
    "--set", f"splits={json.dumps(experiment['splits'])}",
    "--set", "log_every=5", "--set", f"valid_every={steps}", "--max-steps", str(steps),
    "--run-dir", f"{root}/{model}", "--no-progress",
]
subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL)
PYTHON
done
"$python" - "$timing" "$minutes" "$tiny" "$out/budget.yaml" <<'PYTHON' | tee "$out/steps.txt"
import json
import sys

import yaml

root, minutes, tiny, budget = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
seconds = {}
for model in ("local_T4", "efa_T2"):
    events = [json.loads(line) for line in open(f"{root}/{model}/train_log.jsonl")]
    train = [(e["step"], e["elapsed_s"]) for e in events if e["event"] == "train"]
    (first_step, first_s), (last_step, last_s) = train[1], train[-1]  # after the compiled step
    seconds[model] = (last_s - first_s) / (last_step - first_step)
    print(f"{model}: {seconds[model] * 1e3:.1f} ms per training step (batch 32)")
steps = 20 if tiny else int(minutes * 60 / sum(seconds.values()))
epochs = steps * 32 / 2000
print(f"cluster_32 budget: {steps} steps each ({epochs:.1f} epochs) in {minutes:g} minutes")
overlay = {"experiments": {"cluster_32": {"train": {"max_steps": steps}}}}
if tiny:
    overlay["train"] = {"max_steps": 50, "valid_every": 25, "log_every": 5}
    narrow = {"options": {"features": 8}}
    overlay["experiments"]["two_atoms"] = {"models": {"local": narrow, "efa": narrow}}
    overlay["experiments"]["cluster_32"]["models"] = {"local_T4": narrow, "efa_T2": narrow}
with open(budget, "w") as handle:
    yaml.safe_dump(overlay, handle)
PYTHON

SECONDS=0
.venv-gpu/bin/snakemake --cores 4 --resources gpu=1 \
    --configfile config/paper_gpu.yaml "$out/budget.yaml" \
    --config "results_root=$results" > "$out/snakemake.log" 2>&1
echo "suite: $SECONDS s wall time" | tee -a "$out/steps.txt"

"$python" - "$results" <<'PYTHON' | tee "$out/comparison.md"
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

results = Path(sys.argv[1])
metrics = xr.open_zarr(results / "metrics.zarr", consolidated=False)
paper = {
    ("two_atoms", "efa"): ("energy_mae", 5.5e-4),
    ("two_atoms", "local"): ("energy_mae", 4.2e-2),
    ("cluster_32", "efa_T2"): ("forces_rmse", 0.025),
    ("cluster_32", "local_T4"): ("forces_rmse", 0.068),
}
print("| experiment | model | metric | measured | paper | steps | step ms (median) |")
print("|---|---|---|---|---|---|---|")
for (experiment, model), (metric, value) in paper.items():
    measured = float(metrics[metric].sel(experiment=experiment, model=model).mean())
    log = results / "runs" / experiment / model / "seed0" / "train_log.jsonl"
    events = [json.loads(line) for line in log.open()]
    train = [(e["step"], e["elapsed_s"]) for e in events if e["event"] == "train"]
    steps, times = np.array(train[1:]).T  # after the compiled first interval
    per_step = np.median(np.diff(times) / np.diff(steps)) * 1e3
    print(
        f"| {experiment} | {model} | {metric} | {measured:.3g} | {value:.3g} | "
        f"{int(train[-1][0])} | {per_step:.2f} |"
    )
PYTHON
cp -r "$results/tables" "$out/tables"
echo "wrote $out"
