"""``efa bench train``: training steps/s of local vs EFA models of the same width.

Five configurations of the paper's architectures (docs/science.md), each timed with the real
training step (:func:`efa.train.loop.train_step`: energy + forces loss, Adam) on data from the
generators (analytic potentials; GFN2-xTB labels for the cumulenes):

- ``two_atoms``: 2-atom structures, batch 32, 64 features, 2 layers, degree 0; EFA in both
  layers with qk 32, v 16, Lebedev 50, r_max 10. Target: EFA step time ≤ 1.3× local.
- ``cluster16``: 16-atom clusters (all pairs within the 5 Å cutoff), batch 32, 128 features,
  degree 1, 2 layers; EFA qk 16, v 32, r_max 15. Target: EFA step time ≤ 1.1× local.
- ``cluster32``: the same models on 32-atom clusters in a ball of radius 5 Å (pairs up to 10 Å,
  beyond the cutoff). Target: EFA step time ≤ 1.5× local.
- ``cumulene``: the paper's cumulene architecture at one width for both models (C₇H₄–C₁₁H₄
  with GFN2-xTB labels, batch 32, 64 features, 3 layers, degree 2, cutoff 4 Å; EFA with
  degree-1 queries, keys and values, qk 32, v 16, r_max 16). Target: EFA step time ≤ 1.5× local.
- ``nacl``: the paper's NaCl network on toy NaCl clusters of 314 ions (diameter 20 Å), batch 8,
  32 features, 1 layer, degree 0, cutoff 5 Å; EFA qk 128, v 8, Lebedev 194, b_max 4π, r_max 30.
  Here EFA is most of the model, so the target only bounds its overhead: EFA step time ≤ 10×
  local.

Beside the times, each model's floating-point operations per step, as XLA's cost analysis
counts them for the compiled step, and the rate they run at: where both models run at about the
same rate, the ratio of their operations is the step-time ratio that no faster kernel changes.

Both models are compiled and warmed up, then ``--steps`` steps of each are timed one by one, in
alternation (cycling over a few distinct batches, so both see the same background load); the
medians are reported with their spread, and the ratio comes from the same run. Outputs
(:func:`efa.bench.timing.write_report`): group ``train`` of ``<output-dir>/bench.zarr`` and the
table ``<output-dir>/bench/train.md``. The last line is ``targets met: K/N``; the exit status is
0 whether or not targets are met.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import math

from efa.bench.options import add_output_dir, count


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """One benchmark configuration.

    Attributes:
      name, description: how it is listed.
      data: ``generator`` (a name in :data:`efa.data.generators.GENERATORS`) and its options.
      model_options: options shared by the local and the EFA model.
      efa_options: options of the EFA model only.
      max_ratio: target for EFA step time / local step time.
      batch_size: structures per batch (``--batch-size`` replaces it).
    """

    name: str
    description: str
    data: dict
    model_options: dict
    efa_options: dict
    max_ratio: float
    batch_size: int = 32


CONFIGS = {
    "two_atoms": BenchConfig(
        "two_atoms",
        "2 atoms, batch 32, F=64, T=2, L=0",
        {"generator": "two_atoms"},
        {"features": 64, "num_iterations": 2, "max_degree": 0, "cutoff": 5.0},
        {"qk_features": 32, "v_features": 16, "lebedev_num": 50, "max_length": 10.0},
        1.3,
    ),
    "cluster16": BenchConfig(
        "cluster16",
        "16-atom clusters, batch 32, F=128, T=2, L=1",
        {"generator": "cluster", "num_atoms": 16, "radius": 2.5},
        {"features": 128, "num_iterations": 2, "max_degree": 1, "cutoff": 5.0},
        {"qk_features": 16, "v_features": 32, "lebedev_num": 50, "max_length": 15.0},
        1.1,
    ),
    "cluster32": BenchConfig(
        "cluster32",
        "32-atom clusters, batch 32, F=128, T=2, L=1",
        {"generator": "cluster", "num_atoms": 32, "radius": 5.0},
        {"features": 128, "num_iterations": 2, "max_degree": 1, "cutoff": 5.0},
        {"qk_features": 16, "v_features": 32, "lebedev_num": 50, "max_length": 15.0},
        1.5,
    ),
    "cumulene": BenchConfig(
        "cumulene",
        "cumulenes C7H4-C11H4, batch 32, F=64, T=3, L=2",
        {"generator": "cumulene"},
        {"features": 64, "num_iterations": 3, "max_degree": 2, "cutoff": 4.0},
        {
            "efa_max_degree": 1,
            "qk_features": 32,
            "v_features": 16,
            "lebedev_num": 50,
            "max_length": 16.0,
        },
        1.5,
    ),
    "nacl": BenchConfig(
        "nacl",
        "NaCl clusters of 314 ions, batch 8, F=32, T=1, L=0",
        {"generator": "nacl_cluster", "diameter": 20.0, "num_atoms": 314, "min_distance": 1.8},
        {"features": 32, "num_iterations": 1, "max_degree": 0, "cutoff": 5.0},
        {
            "qk_features": 128,
            "v_features": 8,
            "lebedev_num": 194,
            "max_frequency": 4 * math.pi,
            "max_length": 30.0,
        },
        10.0,
        batch_size=8,
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``efa bench train``."""
    parser.add_argument(
        "--config",
        dest="configs",
        action="append",
        choices=sorted(CONFIGS),
        help="configuration to run (repeatable; default: all)",
    )
    parser.add_argument(
        "--batch-size",
        type=count(1),
        help="structures per batch (default: each configuration's, 32 or 8 for nacl)",
    )
    parser.add_argument("--steps", type=count(1), default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=count(0), default=3, help="untimed steps after compiling")
    add_output_dir(parser, "group 'train' of bench.zarr and bench/train.md")


def _structures(config: BenchConfig, count: int):
    from efa.data.generators import GENERATORS
    from efa.data.structures import Structures

    options = {key: value for key, value in config.data.items() if key != "generator"}
    dataset = GENERATORS[config.data["generator"]](count, seed=0, **options)
    return Structures.from_dataset(dataset)


class Stepper:
    """A compiled training step of one model with its state, for timing.

    Args:
      model_name, options: the model, as in a run configuration.
      batches: the batches to cycle through.
    """

    def __init__(self, model_name: str, options: dict, batches: list):
        import jax

        from efa.bench.timing import compiled_flops
        from efa.models import build_model
        from efa.runs.config import RunConfig
        from efa.train.loop import TrainState, train_step
        from efa.train.objective import LossWeights
        from efa.train.optimizer import make_optimizer
        from efa.train.reference import zero_element_energies
        from efa.train.trained_model import count_parameters

        model = build_model(model_name, options)
        config = RunConfig(dataset="bench")  # the default optimiser and loss
        optimizer = make_optimizer(config)
        params = jax.jit(model.init)(jax.random.PRNGKey(0), batches[0])
        self.num_parameters = count_parameters(params)
        self.state = TrainState(params, optimizer.init(params))
        step = jax.jit(
            functools.partial(
                train_step, model, optimizer, zero_element_energies(), LossWeights.of(config)
            ),
            donate_argnums=0,
        )
        # One bucket, but the pair capacity may differ between batches: one compilation per
        # shape, as in training; the operations per step are their mean over the batches.
        self.steps = {}
        for batch in batches:
            if _shape(batch) not in self.steps:
                self.steps[_shape(batch)] = step.lower(self.state, batch).compile()
        self.flops = sum(compiled_flops(self.steps[_shape(b)]) for b in batches) / len(batches)
        self.batches = itertools.cycle(batches)

    def __call__(self):
        """Run one step on the next batch; returns the loss."""
        batch = next(self.batches)
        self.state, loss = self.steps[_shape(batch)](self.state, batch)
        return loss


def _shape(batch) -> tuple:
    """The array shapes of a batch (None for absent fields): its compiled program's key."""
    return tuple(None if field is None else field.shape for field in batch)


def run(args: argparse.Namespace) -> int:
    """Time every configuration, print a table and ``targets met: K/N``, write the store group."""
    import numpy as np
    import xarray as xr

    from efa.bench.timing import publish, time_alternating
    from efa.data.batching import Batcher
    from efa.report.tables import markdown_table

    names = args.configs or list(CONFIGS)
    rows, targets, lines = [], [], []
    timings, parameters, flops, batch_sizes = {}, {}, {}, {}
    for name in names:
        config = CONFIGS[name]
        batch_sizes[name] = args.batch_size or config.batch_size
        structures = _structures(config, 4 * batch_sizes[name])
        cutoff = config.model_options["cutoff"]
        batcher = Batcher(structures, batch_sizes[name], cutoff, num_buckets=1)
        batches = list(itertools.islice(batcher.training_batches(seed=0), 4))
        steppers = {
            "local": Stepper("local", config.model_options, batches),
            "efa": Stepper("efa", {**config.model_options, **config.efa_options}, batches),
        }
        # 1 + warmup untimed steps (the first compiles), then the steps of both models in turn.
        measured = time_alternating(steppers, warmup=1 + args.warmup, repeats=args.steps)
        for model, stepper in steppers.items():
            timings[name, model], parameters[name, model] = measured[model], stepper.num_parameters
            flops[name, model] = stepper.flops
        ratio = timings[name, "efa"].median_s / timings[name, "local"].median_s
        targets.append(ratio <= config.max_ratio)
        operations = flops[name, "efa"] / flops[name, "local"]
        lines.append(
            f"{name}: EFA step time / local step time = {ratio:.2f} (target ≤ "
            f"{config.max_ratio:g}; EFA / local operations per step: {operations:.2f})"
        )
        for model in steppers:
            timing = timings[name, model]
            rows.append(
                [
                    name if model == "local" else "",
                    model,
                    f"{parameters[name, model]:,}",
                    f"{timing.median_s * 1e3:.3g}",
                    timing.spread(),
                    f"{1 / timing.median_s:.1f}",
                    f"{flops[name, model] / 1e9:.3g}",
                    f"{flops[name, model] / timing.median_s / 1e9:.1f}",
                    f"{ratio:.2f}" if model == "efa" else "",
                ]
            )
    table = markdown_table(
        [
            "config",
            "model",
            "parameters",
            "step ms (median)",
            "min–max ms",
            "steps/s",
            "GFLOP/step (XLA)",
            "GFLOP/s",
            "EFA/local",
        ],
        rows,
    )
    models = ["local", "efa"]

    def field(get):
        return (("config", "model"), np.array([[get(c, m) for m in models] for c in names]))

    dataset = xr.Dataset(
        {
            "median_s": field(lambda c, m: timings[c, m].median_s),
            "min_s": field(lambda c, m: timings[c, m].min_s),
            "max_s": field(lambda c, m: timings[c, m].max_s),
            "repeats": field(lambda c, m: timings[c, m].repeats),
            "num_parameters": field(lambda c, m: parameters[c, m]),
            "flops_per_step": field(lambda c, m: flops[c, m]),
            "target_ratio": ("config", np.array([CONFIGS[c].max_ratio for c in names])),
            "batch_size": ("config", np.array([batch_sizes[c] for c in names])),
            "description": ("config", np.array([CONFIGS[c].description for c in names], object)),
        },
        coords={"config": np.array(names, object), "model": np.array(models, object)},
    )
    setup = (
        f"{f'Batch {args.batch_size}' if args.batch_size else 'Batch sizes as described'}, "
        f"{args.steps} timed steps per model after {args.warmup} "
        "warm-up steps, alternating between the models; float32."
    )
    publish(
        "train", dataset, "Training step benchmark", setup, [table], lines, targets, args.output_dir
    )
    return 0
