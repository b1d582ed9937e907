"""``efa data list|fetch|build|show|import|export``: the data set command line."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from efa.data.units import ENERGY_IN_EV, LENGTH_IN_ANGSTROM

DEFAULT_ROOT = "datasets"


def register(subparsers) -> None:
    """Add the ``data`` command with its subcommands."""
    data = subparsers.add_parser(
        "data", help="list, fetch, build, show, import and export data sets"
    )
    data.set_defaults(handler=lambda args: data.print_help() or 0)
    commands = data.add_subparsers(title="data commands", metavar="COMMAND")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text, description=help_text)
        parser.add_argument(
            "--root",
            default=DEFAULT_ROOT,
            help="folder with registry.yaml, raw/ and the stores (default: %(default)s)",
        )
        parser.set_defaults(handler=handler)
        return parser

    listing = command(
        "list",
        _list,
        "print the registry as a table (structures: of the built store where there is one, "
        "else as the registry declares)",
    )
    listing.add_argument(
        "--citations", action="store_true", help="also print each data set's citation and licence"
    )
    fetch = command("fetch", _fetch, "download and verify the raw files of fetched data sets")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    build = command("build", _build, "build data sets into <root>/<name>.zarr")
    build.add_argument("names", nargs="+", metavar="NAME")
    build.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a generator parameter, e.g. num_structures=500 (repeatable)",
    )
    show = command("show", _show, "summarise a built data set")
    show.add_argument("name", metavar="NAME")
    imp = command(
        "import",
        _import,
        "add a local extxyz or npz file (or one file per published split) to the user "
        "registry and build it",
    )
    imp.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        nargs="?",
        help="the file with all structures (or give --split instead)",
    )
    imp.add_argument(
        "--split",
        dest="splits",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="one file per published split (repeatable): train, valid and test are "
        "required; any further name (e.g. test_ood) is another test set",
    )
    imp.add_argument(
        "--report-repeated",
        action="store_true",
        help="keep training structures that repeat in the other splits (same atoms, positions "
        "within 1e-4 Å), warn and record their count in the store (attribute "
        "repeated_structures); without it such splits are refused, since the test set leaks",
    )
    imp.add_argument(
        "--group-key",
        metavar="KEY",
        help="extxyz info key of a per-structure group label (e.g. config_type); "
        "test metrics are also given per group",
    )
    imp.add_argument(
        "--name", required=True, help="data set name: letters, digits, _ . - (see efa.names)"
    )
    imp.add_argument("--format", choices=("extxyz", "npz"), help="default: from the file suffix")
    imp.add_argument("--energy-key", default="energy")
    imp.add_argument("--forces-key", default="forces")
    imp.add_argument("--positions-key", default="positions", help="npz only")
    imp.add_argument("--numbers-key", default="atomic_numbers", help="npz only")
    imp.add_argument("--charge-key", help="total charge per structure (optional)")
    imp.add_argument(
        "--energy-unit", default="eV", choices=ENERGY_IN_EV, help="energy unit of the file"
    )
    imp.add_argument(
        "--length-unit", default="Å", choices=LENGTH_IN_ANGSTROM, help="length unit of the file"
    )
    imp.add_argument("--description", default="")
    imp.add_argument("--level-of-theory", default="unknown")
    imp.add_argument("--license", default="unknown")
    imp.add_argument("--citation", default="")
    export = command(
        "export",
        _export,
        "write a data set, or exactly the splits of a run, as extxyz for other codes' trainers "
        "(energy/forces under ASE's and MACE's keys, charge, spin)",
    )
    export.add_argument("name", metavar="NAME", help="data set name under --root")
    export.add_argument(
        "--run",
        metavar="RUN_DIR",
        help="write the run's train/valid/test splits (train.xyz, valid.xyz, "
        "test.xyz) instead of the whole set (NAME.xyz)",
    )
    export.add_argument("--format", choices=("extxyz",), default="extxyz")
    export.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="DIR",
        help="new (or empty) folder for the files",
    )


def _list(args) -> int:
    from efa.data.registry import load_registry
    from efa.data.store import store_path

    rows = [("name", "kind", "structures", "size", "license", "built")]
    entries = load_registry(args.root).entries.values()
    for entry in entries:
        path = store_path(entry.name, args.root)
        built = path.is_dir()
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if built else None
        count = _built_count(path) if built else entry.num_structures
        rows.append(
            (
                entry.name,
                entry.kind,
                "?" if count is None else str(count),
                _human_size(size) if built else "-",
                entry.license.split(" (")[0],
                "yes" if built else "no",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if args.citations:
        for entry in entries:
            print(f"\n{entry.name} ({entry.license}):\n  {entry.citation or '(no citation given)'}")
    return 0


def _built_count(store) -> int | None:
    """Structures in a built store, read from its metadata (None where it cannot be read)."""
    import xarray as xr

    try:
        return int(xr.open_zarr(store, consolidated=False).sizes["structure"])
    except (OSError, ValueError, KeyError):
        return None


def _fetch(args) -> int:
    from efa.data.build import fetch

    for name in args.names:
        for path, digest in fetch(name, args.root):
            print(f"{name}: {path} sha256 {digest}")
    return 0


def _build(args) -> int:
    import yaml

    from efa.bounded_yaml import load_yaml
    from efa.data.build import build, override_problem, resolve_registry
    from efa.errors import DataError

    overrides = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DataError(f"--set {item!r}: expected KEY=VALUE")
        try:
            overrides[key] = load_yaml(value)
        except yaml.YAMLError as error:
            raise DataError(f"--set {item!r}: the value is not valid YAML ({error})") from None
    registry = resolve_registry(args.root, None)
    for name in args.names:  # every name and override checked before the first build
        problem = override_problem(registry.get(name), overrides)
        if problem is not None:
            parameter, message = problem
            raise DataError(f"--set {parameter}: {message}" if parameter else message)
    for name in args.names:
        start = time.perf_counter()
        path = build(name, args.root, overrides=overrides or None)
        print(f"{name}: built {path} in {time.perf_counter() - start:.1f} s")
    return 0


def _show(args) -> int:
    from efa.data.store import open_dataset
    from efa.data.summary import summarize

    info = summarize(open_dataset(args.name, root=args.root))
    units = info["units"]
    lines = [
        f"{info['name']}: {info['description']}",
        f"structures      {info['structures']}",
        f"atoms           {info['atoms'][0]}..{info['atoms'][1]} per structure",
        f"elements        {info['elements']}",
        f"energy          {info['energy'][0]:.6g} .. {info['energy'][1]:.6g} {units['energy']}",
        f"|force|         {info['force_norm'][0]:.6g} .. {info['force_norm'][1]:.6g} "
        f"{units['forces']}",
    ]
    if info["pair_distance"] is not None:
        low, high = info["pair_distance"]
        lines.append(
            f"pair distance   {low:.4g} .. {high:.4g} {units['positions']} "
            f"(over {info['pair_structures']} structures)"
        )
    if info["total_charge"] is not None:
        lines.append(f"total charge    {info['total_charge']}")
    for name, title in (("split", "splits          "), ("group", "groups          ")):
        counts = info[f"{name}_counts"]
        if counts is not None:
            lines.append(title + ", ".join(f"{label} {count}" for label, count in counts.items()))
    if info["repeated_structures"]:
        lines.append(f"repeated        training structures in {info['repeated_structures']}")
    lines += [
        f"variables       {', '.join(info['variables'])}",
        f"units           {', '.join(f'{k}: {v}' for k, v in units.items())}",
        f"level of theory {info['level_of_theory']}",
        f"source          {info['source']}",
        f"sha256          {info['sha256'] or '-'}",
        f"license         {info['license']}",
        f"citation        {info['citation']}",
    ]
    print("\n".join(lines))
    return 0


def _import(args) -> int:
    """Check the name, build the store from an in-memory entry, then register the entry: a
    refused name writes nothing, and a failed build leaves the user registry as it was."""
    from efa.data.build import build, entry_registry
    from efa.data.fetch import sha256_of
    from efa.data.registry import (
        USER_REGISTRY_FILE,
        Entry,
        add_user_entry,
        load_registry,
        recorded_path,
    )
    from efa.errors import DataError
    from efa.names import check_dataset_name

    check_dataset_name(args.name, "--name")
    files = _import_files(args)
    first = next(iter(files.values()))
    fmt = args.format or ("npz" if first.suffix == ".npz" else "extxyz")
    if args.group_key and fmt != "extxyz":
        raise DataError(
            f"--group-key: group labels are read from extxyz info keys; the format is {fmt}"
        )
    units = {
        "positions": args.length_unit,
        "energy": args.energy_unit,
        "forces": f"{args.energy_unit}/{args.length_unit}",
    }
    if fmt == "extxyz":
        reader = {
            "format": "extxyz",
            "energy_key": args.energy_key,
            "forces_key": args.forces_key,
            "units": units,
        }
        if args.charge_key:
            reader["charge_key"] = args.charge_key
        if args.group_key:
            reader["group_key"] = args.group_key
    else:
        keys = {
            "positions": args.positions_key,
            "atomic_numbers": args.numbers_key,
            "energy": args.energy_key,
            "forces": args.forces_key,
        }
        if args.charge_key:
            keys["total_charge"] = args.charge_key
        reader = {"format": "npz", "keys": keys, "units": units}
    registry_file = Path(args.root) / USER_REGISTRY_FILE
    specs = {
        split: {"path": recorded_path(path, Path(args.root)), "sha256": sha256_of(path)}
        for split, path in files.items()
    }
    source = specs[""] if "" in specs else {"splits": specs}
    if args.report_repeated:
        if "" in specs:
            raise DataError("--report-repeated: applies to published splits (--split); give them")
        source["repeated"] = "report"
    names = ", ".join(path.name for path in files.values())
    entry = Entry(
        name=args.name,
        kind="import",
        description=args.description or f"imported from {names}",
        source=source,
        reader=reader,
        level_of_theory=args.level_of_theory,
        license=args.license,
        citation=args.citation,
        origin=str(registry_file),
    )
    existing = load_registry(args.root).entries.get(args.name)
    if existing is not None and existing.kind != "import":
        raise DataError(f"--name {args.name!r}: already a built-in data set; choose another name")
    store = build(args.name, args.root, registry=entry_registry(entry))
    registry_path = add_user_entry(args.root, entry)
    print(f"{args.name}: added to {registry_path}, built {store}")
    return 0


def _import_files(args) -> dict:
    """``{split name: resolved path}`` of ``efa data import`` (split ``""`` for a single FILE)."""
    from efa.errors import DataError
    from efa.names import check_name

    if (args.file is None) == (not args.splits):
        raise DataError(
            "efa data import: give either FILE or --split NAME=FILE for every split, not both"
        )
    if args.file is not None:
        items = {"": args.file}
    else:
        items = {}
        for item in args.splits:
            split, sep, file = item.partition("=")
            if not sep or not file:
                raise DataError(f"--split {item!r}: expected NAME=FILE, e.g. train=train.xyz")
            check_name("split", split, f"--split {item!r}")
            if split in items:
                raise DataError(f"--split {item!r}: split {split!r} given twice")
            items[split] = Path(file)
        missing = [name for name in ("train", "valid", "test") if name not in items]
        if missing:
            raise DataError(
                f"--split: no file for split(s) {missing}; expected train, valid and "
                "test (and any further test sets)"
            )
    for split, file in items.items():
        if not file.is_file():
            where = f"--split {split}={file}" if split else str(file)
            raise DataError(f"{where}: file not found")
    if len(items) > 1:
        from efa.data.fetch import sha256_of

        first_split = {}
        for split, file in items.items():
            other = first_split.setdefault(sha256_of(file), split)
            if other != split:
                raise DataError(
                    f"--split {split}={file}: the same content as split {other!r} "
                    f"({items[other]}); published splits must be different structures"
                )
    return {split: file.resolve() for split, file in items.items()}


def _export(args) -> int:
    """Export a whole data set, or the splits of a run checked to be of this data set."""
    from efa.data.export import export_extxyz
    from efa.data.store import open_dataset
    from efa.errors import ConfigError
    from efa.runs.directory import open_run_data

    if args.run:
        config, dataset, splits, _ = open_run_data(args.run, "export")
        if Path(config.dataset).name.removesuffix(".zarr") != args.name:
            raise ConfigError(
                f"--run {args.run}: the run was trained on {config.dataset!r}, not on {args.name!r}"
            )
    else:
        dataset, splits = open_dataset(args.name, args.root), None
    for path in export_extxyz(dataset, args.output, splits, name=args.name):
        print(path)
    return 0


def _human_size(num_bytes: float) -> str:
    unit = "B"
    for unit in ("B", "kB", "MB", "GB"):
        if num_bytes < 1000:
            break
        num_bytes /= 1000
    return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
