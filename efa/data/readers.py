"""Readers of raw files into canonical data sets: npz (with key and unit mapping) and extended XYZ.

Both return the arrays through :func:`efa.data.schema.make_dataset`, so the result is validated
and every error names the file and the field.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from efa.data.schema import CANONICAL_UNITS, make_dataset, pad_atoms
from efa.data.units import to_canonical
from efa.errors import DataError

#: Canonical names an npz key mapping may use (``positions``, ``atomic_numbers``, ``energy`` and
#: ``forces`` are required; the padding comes from ``atom_mask`` or ``num_atoms`` or Z = 0).
NPZ_FIELDS = (
    "positions",
    "atomic_numbers",
    "energy",
    "forces",
    "atom_mask",
    "num_atoms",
    "total_charge",
    "coordinate",
)


def read_npz(
    path: str | os.PathLike,
    keys: Mapping[str, str],
    units: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    attrs: Mapping | None = None,
) -> xr.Dataset:
    """Read an npz file whose arrays are named by ``keys`` (canonical name → npz key).

    Args:
      keys: e.g. ``{"positions": "R", "atomic_numbers": "Z", "energy": "E", "forces": "F",
        "num_atoms": "N", "total_charge": "Q"}``.
      units: unit of each field in the file (default canonical), e.g. ``{"energy": "kcal/mol"}``;
        positions, energy and forces are converted, other units are recorded as they are.
      extra: further arrays to keep, canonical name → npz key (units from ``units``).
      attrs: data set attrs.
    """
    path = Path(path)
    units = dict(units or {})
    unknown = sorted(set(keys) - set(NPZ_FIELDS))
    if unknown:
        raise DataError(
            f"{path.name}: unknown field(s) {unknown} in the key mapping; "
            f"expected some of {list(NPZ_FIELDS)}"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path.name}: not a readable npz file ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path.name}: holds a single array (a .npy file), not an npz archive "
            "of named arrays; expected a file written by numpy.savez"
        )
    with archive:

        def get(field: str, key: str) -> np.ndarray:
            if key not in archive.files:
                raise DataError(
                    f"{path.name}: field '{field}': key {key!r} not found; "
                    f"expected one of the file's keys {sorted(archive.files)}"
                )
            try:
                array = archive[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:  # pickles, cuts
                raise DataError(
                    f"{path.name}: field '{field}': key {key!r} cannot be read "
                    f"({error}); expected a numeric array"
                ) from None
            if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
                raise DataError(
                    f"{path.name}: field '{field}': key {key!r} has dtype "
                    f"{array.dtype}; expected a numeric array"
                )
            return array

        for field in ("positions", "atomic_numbers", "energy", "forces"):
            if field not in keys:
                raise DataError(f"{path.name}: field '{field}': no npz key given in the mapping")
        arrays = {field: get(field, key) for field, key in keys.items()}
        extras = {name: get(name, key) for name, key in (extra or {}).items()}

    for field in CANONICAL_UNITS:
        unit = units.get(field, CANONICAL_UNITS[field])
        arrays[field] = np.asarray(arrays[field], dtype=np.float64) * to_canonical(unit, field)
    _check_npz_shapes(arrays, path.name)
    arrays["energy"] = np.asarray(arrays["energy"]).reshape(-1)
    numbers = np.asarray(arrays["atomic_numbers"])
    shape = arrays["positions"].shape[:2]
    if numbers.ndim == 1:
        numbers = np.broadcast_to(numbers, shape)
    if "atom_mask" in arrays:
        mask = np.asarray(arrays["atom_mask"], dtype=bool)
    elif "num_atoms" in arrays:
        mask = np.arange(shape[1])[None, :] < np.asarray(arrays["num_atoms"])[:, None]
    else:
        mask = numbers != 0
    if mask.shape != shape:
        raise DataError(
            f"{path.name}: field 'atom_mask': has shape {mask.shape}; "
            f"expected {shape} like positions"
        )
    # Values on padded atoms carry no meaning; the canonical format has zeros there.
    numbers = np.where(mask, numbers, 0)
    for field in ("positions", "forces"):
        if arrays[field].shape[:2] == mask.shape:
            arrays[field] = np.where(mask[..., None], arrays[field], 0.0)
    all_attrs = {
        **dict(attrs or {}),
        "units": {
            **dict((attrs or {}).get("units", {})),
            **{k: v for k, v in units.items() if k not in CANONICAL_UNITS},
        },
    }
    return make_dataset(
        arrays["positions"],
        numbers,
        arrays["energy"],
        arrays["forces"],
        atom_mask=mask,
        total_charge=arrays.get("total_charge"),
        coordinate=arrays.get("coordinate"),
        extra=extras,
        attrs=all_attrs,
        source=path.name,
    )


def _check_npz_shapes(arrays: Mapping[str, np.ndarray], name: str) -> None:
    """Shapes of the core npz fields: positions and forces (S, A, 3), energy (S,), atomic
    numbers (S, A) or (A,) shared by all structures."""
    positions = arrays["positions"]
    if positions.ndim != 3 or positions.shape[2] != 3:
        raise DataError(
            f"{name}: field 'positions': has shape {positions.shape}; expected "
            "(structures, atoms, 3)"
        )
    count, atoms = positions.shape[:2]
    expected = {
        "energy": [(count,), (count, 1)],
        "forces": [(count, atoms, 3)],
        "atomic_numbers": [(count, atoms), (atoms,)],
    }
    for field, shapes in expected.items():
        if arrays[field].shape not in shapes:
            wanted = " or ".join(str(s) for s in shapes)
            raise DataError(
                f"{name}: field '{field}': has shape {arrays[field].shape}; expected "
                f"{wanted} for positions of shape {positions.shape}"
            )


def read_extxyz(
    path: str | os.PathLike,
    energy_key: str = "energy",
    forces_key: str = "forces",
    charge_key: str | None = None,
    units: Mapping[str, str] | None = None,
    attrs: Mapping | None = None,
    group_key: str | None = None,
    stress_key: str = "stress",
) -> xr.Dataset:
    """Read every frame of an extended XYZ file through ASE.

    The energy is looked up as ``atoms.info[energy_key]`` or in the attached calculator's results,
    the forces as ``atoms.arrays[forces_key]`` or in the calculator's results; ``charge_key``
    (optional) names a per-frame total charge in ``atoms.info`` and ``group_key`` (optional) a
    per-frame group label there (e.g. ``config_type``), kept as the ``group`` label. Frames with
    a periodic cell (``Lattice``, ``pbc``) keep their cell and periodicity, and their stress
    (``atoms.info[stress_key]`` or the calculator's, 3×3 or Voigt, eV/Å³ or ``energy``/
    ``positions`` units cubed) when every frame is a cell periodic in all directions and has one.
    ``units`` as in :func:`read_npz`.
    """
    import ase.io

    path = Path(path)
    check_declared_counts(path)
    try:
        frames = ase.io.read(path, index=":", format="extxyz")
    except Exception as error:  # ASE raises many types for malformed files
        raise DataError(f"{path.name}: not a readable extended XYZ file ({error})") from None
    if not frames:
        raise DataError(f"{path.name}: contains no structures; expected at least one frame")
    periodic = any(atoms.pbc.any() for atoms in frames)
    units = dict(units or {})

    empty = [index for index, atoms in enumerate(frames) if len(atoms) == 0]
    if empty:
        raise DataError(f"{path.name}: frame {empty[0]} has no atoms; expected at least one")

    def lookup(atoms, key: str, field: str, frame: int, per_atom: bool):
        results = atoms.calc.results if atoms.calc is not None else {}
        table = atoms.arrays if per_atom else atoms.info
        shape = (len(atoms), 3) if per_atom else ()
        for source in (table, results):
            if key in source:
                try:
                    value = np.asarray(source[key], dtype=np.float64)
                except (TypeError, ValueError):
                    value = None
                if value is None or value.shape != shape:
                    expected = f"{len(atoms)} x 3 numbers" if per_atom else "one number"
                    raise DataError(
                        f"{path.name}: field '{field}': {source[key]!r} in frame {frame} "
                        f"(key {key!r}); expected {expected}"
                    )
                return value
        raise DataError(
            f"{path.name}: field '{field}': key {key!r} not found in frame {frame}; "
            f"available: {sorted(set(table) | set(results))}"
        )

    energy = np.array([lookup(a, energy_key, "energy", i, False) for i, a in enumerate(frames)])
    forces = [lookup(a, forces_key, "forces", i, True) for i, a in enumerate(frames)]
    charge = None
    if charge_key is not None:
        charge = []
        for i, a in enumerate(frames):
            value = float(lookup(a, charge_key, "total_charge", i, False))
            if value != round(value):
                raise DataError(
                    f"{path.name}: field 'total_charge': {value} in frame {i} "
                    f"(info key {charge_key!r}); expected an integer charge in e"
                )
            charge.append(int(round(value)))
    labels = {}
    if group_key is not None:
        missing = [i for i, a in enumerate(frames) if group_key not in a.info]
        if missing:
            raise DataError(
                f"{path.name}: field 'group': info key {group_key!r} missing in frame "
                f"{missing[0]} ({len(missing)} frames without it); expected a label "
                "in every frame"
            )
        labels["group"] = [str(a.info[group_key]) for a in frames]
    factor = {
        field: to_canonical(units.get(field, unit), field)
        for field, unit in CANONICAL_UNITS.items()
    }
    stress = _extxyz_stress(frames, stress_key, path.name)
    return make_dataset(
        pad_atoms([a.get_positions() for a in frames]) * factor["positions"],
        pad_atoms([a.get_atomic_numbers() for a in frames]),
        energy.reshape(len(frames)) * factor["energy"],
        pad_atoms(forces) * factor["forces"],
        total_charge=charge,
        cell=np.stack([a.cell.array for a in frames]) * factor["positions"] if periodic else None,
        pbc=np.stack([a.pbc for a in frames]) if periodic else None,
        stress=None if stress is None else stress * factor["energy"] / factor["positions"] ** 3,
        attrs=attrs,
        source=path.name,
        labels=labels,
    )


def check_declared_counts(path: Path) -> None:
    """Refuse a frame whose first line declares more atoms than the file has lines after it,
    before a reader allocates for them (a header of 10^12 atoms in a three-line file)."""
    try:
        with open(path, "rb") as stream:
            lines = stream.read().splitlines()
    except OSError as error:
        raise DataError(f"{path.name}: cannot read it ({error.strerror})") from None
    line, frame = 0, 0
    while line < len(lines):
        declared = lines[line].strip()
        if not declared:
            line += 1
            continue
        try:
            count = int(declared)
        except ValueError:
            return  # not a count line: the reader's own error names what is wrong
        if count < 0 or line + 2 + count > len(lines):
            raise DataError(
                f"{path.name}: frame {frame} declares {count} atoms on line {line + 1}, but "
                f"the file has {max(0, len(lines) - line - 2)} lines after its header; "
                "expected one line per atom"
            )
        line, frame = line + 2 + count, frame + 1


def _extxyz_stress(frames, key: str, name: str) -> np.ndarray | None:
    """``(S, 3, 3)`` stress of frames that all are cells periodic in all directions and all
    have one (in ``info`` or the calculator's results), else None; a stress on only some of
    them, or of another shape, is refused."""
    from ase.stress import voigt_6_to_full_3x3_stress

    found = []
    for atoms in frames:
        results = atoms.calc.results if atoms.calc is not None else {}
        value = atoms.info.get(key, results.get(key))
        found.append(None if value is None else np.asarray(value, dtype=np.float64))
    given = [index for index, value in enumerate(found) if value is not None]
    if not given:
        return None
    if len(given) < len(frames) or not all(atoms.pbc.all() for atoms in frames):
        missing = next(
            i for i, (a, v) in enumerate(zip(frames, found)) if v is None or not a.pbc.all()
        )
        raise DataError(
            f"{name}: field 'stress': frame {missing} has no stress or is not periodic in all "
            f"directions, but frame {given[0]} has one; expected a stress ({key!r}) on every "
            "frame, all of them cells periodic in all directions, or on none"
        )
    stress = []
    for index, value in enumerate(found):
        if value.size == 6:
            value = voigt_6_to_full_3x3_stress(value)
        if value.size != 9:
            raise DataError(
                f"{name}: field 'stress': frame {index} has {value.size} values; expected 9 "
                "(3×3) or 6 (Voigt)"
            )
        stress.append(value.reshape(3, 3))
    return np.stack(stress)
