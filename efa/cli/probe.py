"""``efa probe NAME --run RUN_DIR [--run …] --output STORE.zarr [options]``.

Evaluates one probe for every given run (:func:`efa.probes.job.probe_runs`) and writes the probe
store (:mod:`efa.probes.store`) atomically. Heavy imports happen inside the handler.
"""

from __future__ import annotations

import argparse

from efa.cli.result_line import print_result

_EPILOG = """\
probes (kind; default reference):
  two_atoms        dissociation; analytic E(r) of the two_atoms set, r = 1 ... 10 Å
  sn2              dissociation; scan store sn2_scan (GFN2-xTB), or --reference ref_sn2_F_I
                   for models trained on the PhysNet SN2 set
  pull_apart       dissociation; --reference DATASET --structure I --fragment I,J,...: a fragment
                   pulled away rigidly, labelled at the data set's level of theory
  torsion          torsion; scan store cumulene_torsion (GFN2-xTB), or ref_cumulene_profile
  charge_transfer  charge transfer; pair store carbon_chain_probe, far-end atoms --far-atoms 9,10
  reach            reach; two atoms moved out to 40 Å (or --reference/--fragment as pull_apart)
  nacl_size        size scan; every run evaluated on its own --split (NaCl clusters per size)
  nacl_supercell   finite size; L×L×L rock-salt supercells (L = 1 ... --max-repeats) with and
                   without a charged Cl vacancy, exact Ewald energies (periodic models)
  nacl_slab        vacuum; a charged slab of --layers conventional cells against the vacuum
                   width 0 ... --max-vacuum Å between its images, exact Ewald energies
  nacl_cutout      finite size; neutral rock-salt cubes of 2, 4, ... 2·--max-edge-pairs ions per
                   edge as clusters (direct sum) and as periodic cells (Ewald)
  nve              dynamics; --reference DATASET: NVE molecular dynamics (ASE velocity Verlet,
                   float64) from --num-trajectories of its structures: energy drift per atom
                   and ps, time to failure; the reference level of theory alongside
  size_extrapolation  size scan; --datasets NAME,…: every model on the first --num-structures
                   structures of each (train on small systems, test on larger ones)
  far_fragment     far fragment; Na+Cl-Na+ with a far Na+, Cl- or neutral Ar moved from
                   --min-distance to --max-distance Å: the force change on the molecule must
                   be the Coulomb one for the ions and none for Ar (exact labels)
  physics          physics; --reference DATASET: label-free checks of any model on
                   --num-structures of its structures (symmetry, forces and stress as
                   gradients, path work, a far neutral atom, extensivity, Coulomb far field)

inputs:  run directories of 'efa train' (--run, repeatable; one per model and seed), and the
         reference data set stores <datasets-root>/<reference>.zarr ('efa data build NAME').
output:  one zarr store (--output) with dims (probe, model, seed, point): coordinate, reference
         and predicted energies and forces, and the probe's metrics per (model, seed). A JSON
         line with the metrics is printed on stdout.

example: efa probe two_atoms --run results/runs/two_atoms/local/seed0 \\
             --run results/runs/two_atoms/efa/seed0 --output results/probes/two_atoms.zarr
"""


def _indices(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected comma-separated atom indices, e.g. 4,5"
        ) from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``efa probe``."""
    parser.add_argument("name", metavar="NAME", help="probe name (see below)")
    parser.add_argument(
        "--run",
        dest="runs",
        action="append",
        required=True,
        metavar="RUN_DIR",
        help="run directory written by 'efa train' (repeatable)",
    )
    parser.add_argument(
        "--output", required=True, metavar="STORE.zarr", help="probe store to write"
    )
    parser.add_argument("--reference", help="reference data set name or .zarr path (probe default)")
    parser.add_argument("--datasets-root", help="directory of data set stores (default: datasets)")
    parser.add_argument("--label", help="probe name inside the store (default: NAME)")
    parser.add_argument("--num-points", type=int, help="points of a built scan")
    parser.add_argument("--min-gap", type=float, help="smallest fragment gap / distance (Å)")
    parser.add_argument("--max-gap", type=float, help="largest fragment gap / distance (Å)")
    parser.add_argument("--structure", type=int, help="index of the structure to pull apart")
    parser.add_argument(
        "--fragment", type=_indices, help="atom indices of the moving fragment, e.g. 4,5"
    )
    parser.add_argument("--far-atoms", type=_indices, help="far-end atom indices (charge_transfer)")
    parser.add_argument("--split", help="split evaluated by nacl_size (default: test)")
    parser.add_argument("--max-repeats", type=int, help="largest supercell L (nacl_supercell)")
    parser.add_argument("--layers", type=int, help="conventional cells in the slab (nacl_slab)")
    parser.add_argument("--max-vacuum", type=float, help="largest vacuum width, Å (nacl_slab)")
    parser.add_argument(
        "--max-edge-pairs", type=int, help="largest cube edge / 2 ions (nacl_cutout)"
    )
    parser.add_argument(
        "--lattice-constant", type=float, help="rock-salt lattice constant, Å (nacl_* probes)"
    )
    parser.add_argument("--num-molecules", type=int, help="molecules scanned (far_fragment)")
    parser.add_argument(
        "--min-distance", type=float, help="nearest far-atom distance, Å (far_fragment)"
    )
    parser.add_argument(
        "--max-distance", type=float, help="farthest far-atom distance, Å (far_fragment)"
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the probe's random geometries or velocities"
    )
    parser.add_argument(
        "--datasets",
        type=_names,
        help="data sets of growing size, comma-separated (size_extrapolation)",
    )
    parser.add_argument(
        "--num-structures",
        type=int,
        help="structures per data set (size_extrapolation), structures checked (physics)",
    )
    parser.add_argument("--num-rotations", type=int, help="random rotations (physics)")
    parser.add_argument(
        "--num-displacements", type=int, help="finite-difference displacements (physics)"
    )
    parser.add_argument("--fd-step", type=float, help="finite-difference step, Å (physics)")
    parser.add_argument("--strain-step", type=float, help="finite-difference strain (physics)")
    parser.add_argument("--path-points", type=int, help="points of the work path (physics)")
    parser.add_argument(
        "--ghost-distance", type=float, help="far neutral atom's distance, Å (physics)"
    )
    parser.add_argument("--copy-distance", type=float, help="gap between two copies, Å (physics)")
    parser.add_argument("--num-trajectories", type=int, help="NVE trajectories (nve)")
    parser.add_argument("--temperature-k", type=float, help="initial temperature, K (nve)")
    parser.add_argument("--timestep-fs", type=float, help="velocity Verlet time step, fs (nve)")
    parser.add_argument("--steps", type=int, help="time steps per trajectory (nve)")
    parser.add_argument("--sample-every", type=int, help="steps between energy samples (nve)")
    parser.add_argument(
        "--failure-energy",
        type=float,
        help="|E_tot(t) - E_tot(0)| per atom (eV) that ends a trajectory as failed (nve)",
    )
    parser.add_argument(
        "--with-reference",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the reference level of theory where a labeller exists (nve; default: on)",
    )


def _run(args: argparse.Namespace) -> int:
    from efa.names import check_name
    from efa.probes.job import probe_runs
    from efa.probes.registry import probe_option_names
    from efa.storage import check_output_path, write_zarr

    if args.label is not None:
        check_name("probe label", args.label, "--label")  # names the report's files
    check_output_path(args.output, folder=True)
    options = {key: getattr(args, key) for key in probe_option_names()}
    store = probe_runs(args.name, args.runs, options, split=args.split)
    write_zarr(store, args.output)
    summary = {
        f"{name}/{model}/seed{seed}": store[name].sel(model=model, seed=seed).item()
        for name in store.attrs["metrics"]
        for model in store["model"].values
        for seed in store["seed"].values
    }
    print_result({"probe": args.name, "output": str(args.output), **summary})
    return 0


def register(subparsers) -> None:
    """Add ``efa probe``."""
    parser = subparsers.add_parser(
        "probe",
        help="evaluate trained runs on a probe (dissociation, torsion, ...)",
        description="Evaluate the best checkpoints of trained runs on one probe and write the "
        "probe store.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(handler=_run)
