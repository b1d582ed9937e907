"""``efa report --metrics STORE … --probes STORE … --output-dir DIR``: tables, figures, targets."""

from __future__ import annotations

import argparse

_EPILOG = """\
inputs:  --metrics: test-metric stores of 'efa evaluate' (dims experiment, model, seed; per-run
           stores are combined); optional.
         --test-sets: per-run test-set stores of 'efa evaluate' (test_sets.zarr, dims
           experiment, model, seed, test_set, group); optional.
         --probes: probe stores of 'efa probe'; optional.
outputs (under --output-dir):
  tables/test_metrics.md|csv        test metrics per experiment x model, mean ± std over seeds,
                                    and whether any run was truncated (stopped on max_time_s)
  tables/leaderboard_<exp>.md|csv   per experiment: every model ranked, errors, parameters,
                                    targets met (figures/leaderboard_<exp>.png beside it)
  tables/test_sets.md|csv           errors per test set and group (with --test-sets)
  tables/cost.md|csv, cost.json     steps and training wall time (kept apart: they vary)
  tables/probe_<label>.md|csv       probe metrics per model
  tables/curve_<label>.csv          probe curves (reference, seed-mean prediction per model)
  tables/targets.md, targets.json   verdicts of the declared targets (--targets), each
                                    model's score; summary.md: all tables with headings
  figures/<label>.png               one figure per probe (reference vs each model, side by side)
  figures/parity_<exp>.png          predicted vs reference energies and forces (--predictions)
  figures/learning_curves_<exp>.png validation loss per step of each run (--predictions: the
                                    train_log.jsonl beside each store)
  figures/force_error_vs_depth.png  test force RMSE vs depth T, for models labelled <name>_T<k>
  metrics.json                      nested summary for DVC ('dvc metrics show'): quality
                                    numbers, targets met, truncated runs (no timings)
  provenance.json                   code, packages, devices, configuration and data hashes
  dvc.yaml                          the probe curves as DVC plots ('dvc plots show')
  --combined-metrics PATH           (optional) the combined test-metric store
stdout:  a provenance header, each declared target's verdict with its measured value (a target
         judged on a truncated run is not met; one a model cannot take is n/a with the
         reason), 'targets met: K/N' (targets on families, labels, ratios and the suite), and
         per experiment each model's score (targets met of those judged, targets on 'all').

example: efa report --metrics results/runs/*/*/seed*/metrics.zarr \\
             --test-sets results/runs/*/*/seed*/test_sets.zarr \\
             --predictions results/runs/*/*/seed*/predictions_test.zarr \\
             --probes results/probes/*.zarr --output-dir results
"""


def _declared_targets(args: argparse.Namespace) -> list:
    """The targets of ``--targets FILE`` (a workflow configuration) or ``--targets-json``."""
    import json

    from efa.errors import ConfigError
    from efa.report.target_spec import parse_declarations, parse_targets

    if args.targets_json is not None:
        try:
            found = json.loads(args.targets_json)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--targets-json: not JSON ({error})") from None
        if not isinstance(found, list):
            raise ConfigError("--targets-json: expected a list of declarations")
        return parse_declarations(found)
    if args.targets is None:
        return []
    import yaml

    from efa.bounded_yaml import load_yaml

    try:
        with open(args.targets, encoding="utf-8") as stream:
            config = load_yaml(stream.read())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"--targets {args.targets}: cannot read it ({error})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"--targets {args.targets}: expected a workflow configuration mapping")
    try:
        return parse_targets(config)
    except ConfigError as error:
        raise ConfigError(f"--targets {args.targets}: {error}") from None


def _run(args: argparse.Namespace) -> int:
    from efa.errors import ConfigError
    from efa.provenance import header
    from efa.report.build import build_report, targets_text

    if not args.metrics and not args.probes:
        raise ConfigError("nothing to report: give --metrics STORE … and/or --probes STORE …")
    specs = _declared_targets(args)
    verdicts, written, provenance = build_report(
        args.metrics,
        args.probes,
        args.output_dir,
        args.combined_metrics,
        args.config_sha256,
        args.test_sets,
        args.predictions,
        specs,
    )
    print(header(provenance))
    print(f"wrote {len(written)} files under {args.output_dir}")
    print(targets_text(verdicts, bullet=""), end="")
    return 0


def register(subparsers) -> None:
    """Add ``efa report``."""
    parser = subparsers.add_parser(
        "report",
        help="tables, figures and quality targets from the result stores",
        description="Aggregate test metrics and probe stores over seeds into tables, figures "
        "and metrics.json, and print the quality targets.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=[],
        metavar="STORE.zarr",
        help="test-metric stores (combined)",
    )
    parser.add_argument(
        "--test-sets",
        nargs="+",
        default=[],
        metavar="STORE.zarr",
        help="per-run test-set stores (errors per test set and group)",
    )
    parser.add_argument(
        "--predictions",
        nargs="+",
        default=[],
        metavar="STORE.zarr",
        help="per-run test predictions (predictions_test.zarr): parity plots per experiment, "
        "and learning curves from the train_log.jsonl beside each store",
    )
    parser.add_argument(
        "--probes", nargs="+", default=[], metavar="STORE.zarr", help="probe stores"
    )
    parser.add_argument(
        "--output-dir",
        required=True,
        metavar="DIR",
        help="directory receiving tables/, figures/ and metrics.json",
    )
    parser.add_argument(
        "--combined-metrics",
        metavar="STORE.zarr",
        help="also write the combined test-metric store here",
    )
    targets = parser.add_mutually_exclusive_group()
    targets.add_argument(
        "--targets",
        metavar="CONFIG.yaml",
        help="judge the targets declared in this workflow configuration (its experiments' and "
        "probes' 'targets' lists and report.targets)",
    )
    targets.add_argument(
        "--targets-json",
        metavar="JSON",
        help="the declarations as the workflow passes them (a JSON list)",
    )
    parser.add_argument(
        "--config-sha256",
        metavar="HEX",
        help="content hash of the workflow configuration, for the provenance",
    )
    parser.set_defaults(handler=_run)
