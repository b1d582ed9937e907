"""The canonical data set format and its one validation function.

A canonical data set is an ``xr.Dataset`` with dims ``structure`` (S), ``atom`` (A, padded to the
largest structure) and ``xyz`` (3):

==================  ==================  ========  ========
variable            dims                dtype     units
==================  ==================  ========  ========
``positions``       (S, A, 3)           float64   Å
``atomic_numbers``  (S, A)              int32     --  (0 on padding, 1..118 on atoms)
``atom_mask``       (S, A)              bool      --  (True on real atoms)
``energy``          (S,)                float64   eV
``forces``          (S, A, 3)           float64   eV/Å  (= -∂E/∂positions)
``total_charge``    (S,)                int32     e   (optional)
``coordinate``      (S,)                float64   declared (optional, scans: angle, distance…)
``cell``            (S, 3, 3)           float64   Å   (optional: lattice vectors as rows)
``pbc``             (S, 3)              bool      --  (optional: periodic along each vector)
``stress``          (S, 3, 3)           float64   eV/Å³  (optional, cells periodic in all three
                                                  directions: ``σ = (1/V) ∂E/∂ε``, ASE's sign)
``split``           (S,)                string    --  (optional: published split of each
                                                  structure, ``train``, ``valid``, ``test``
                                                  or another test set)
``group``           (S,)                string    --  (optional: a label such as ``ood`` or a
                                                  configuration type; metrics are given per group)
extra variables     (S, …)              numeric   declared (e.g. ``partial_charges`` (S, A) in e,
                                                  ``dipoles`` (S, A, 3) in e·Å)
==================  ==================  ========  ========

``attrs['units']`` maps every variable with a physical unit to its unit string; the core units
are fixed (:data:`CANONICAL_UNITS`). Padded atoms have atomic number 0 and zero positions, forces
and per-atom extras. Every reader and generator returns its data through :func:`make_dataset`,
and every store is checked by :func:`validate` when written and when opened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from efa import __version__
from efa.data.geometry_bounds import check_geometry
from efa.errors import DataError

#: Units of the core fields; readers convert to these.
CANONICAL_UNITS: dict[str, str] = {"positions": "Å", "energy": "eV", "forces": "eV/Å"}

#: Attributes every stored data set carries (checked with ``validate(..., metadata=True)``).
METADATA_ATTRS: tuple[str, ...] = (
    "name",
    "description",
    "source",
    "sha256",
    "level_of_theory",
    "units",
    "license",
    "citation",
    "created_with",
)

#: Core variables: dims, dtype kind (``f`` float64, ``i`` integer, ``b`` bool) and description.
_CORE: dict[str, tuple[tuple[str, ...], str, str]] = {
    "positions": (("structure", "atom", "xyz"), "f", "float64 coordinates in Å"),
    "atomic_numbers": (("structure", "atom"), "i", "integer atomic numbers"),
    "atom_mask": (("structure", "atom"), "b", "bool mask of real atoms"),
    "energy": (("structure",), "f", "float64 energies in eV"),
    "forces": (("structure", "atom", "xyz"), "f", "float64 forces in eV/Å"),
}
_OPTIONAL: dict[str, tuple[tuple[str, ...], str, str]] = {
    "total_charge": (("structure",), "i", "integer total charge per structure in e"),
    "coordinate": (("structure",), "f", "float64 scan coordinate per structure"),
    "cell": (("structure", "cell_vector", "xyz"), "f", "float64 lattice vectors (rows) in Å"),
    "pbc": (("structure", "xyz"), "b", "bool periodicity along each lattice vector"),
    "stress": (("structure", "cell_vector", "xyz"), "f", "float64 stress in eV/Å^3"),
}
#: Unit of the optional ``stress``.
STRESS_UNIT = "eV/Å^3"
#: Optional per-structure string labels: the published split and a group.
LABELS: dict[str, str] = {
    "split": "the published split of each structure (train, valid, test or another test set)",
    "group": "a group label per structure (e.g. 'ood', a configuration type)",
}
MAX_ATOMIC_NUMBER = 118


def pad_atoms(per_structure: Sequence[np.ndarray], fill: float = 0) -> np.ndarray:
    """Stack per-structure arrays of shapes (N_s, …) into one (S, max N_s, …) array.

    Rows beyond N_s are set to ``fill``; the trailing shape must agree between structures.
    """
    arrays = [np.asarray(a) for a in per_structure]
    if not arrays:
        raise DataError("pad_atoms: no structures given; expected at least one")
    width = max(a.shape[0] for a in arrays)
    out = np.full((len(arrays), width, *arrays[0].shape[1:]), fill, dtype=arrays[0].dtype)
    for index, array in enumerate(arrays):
        out[index, : array.shape[0]] = array
    return out


def make_dataset(
    positions: ArrayLike,
    atomic_numbers: ArrayLike,
    energy: ArrayLike,
    forces: ArrayLike,
    atom_mask: ArrayLike | None = None,
    total_charge: ArrayLike | None = None,
    coordinate: ArrayLike | None = None,
    cell: ArrayLike | None = None,
    pbc: ArrayLike | None = None,
    stress: ArrayLike | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    attrs: Mapping | None = None,
    source: str = "<arrays>",
    labels: Mapping[str, Sequence[str]] | None = None,
) -> xr.Dataset:
    """Build and validate a canonical data set from padded arrays in canonical units.

    Args:
      positions: (S, A, 3) Å.
      atomic_numbers: (S, A), or (A,) shared by all structures; 0 marks padding.
      energy: (S,) eV.
      forces: (S, A, 3) eV/Å.
      atom_mask: (S, A) bool; default ``atomic_numbers != 0``.
      total_charge: (S,) integer total charge in e, optional.
      coordinate: (S,) scan coordinate, optional; its unit goes into ``attrs['units']``.
      cell: (S, 3, 3) lattice vectors as rows (Å) and ``pbc`` (S, 3) periodicity, optional
        (together): a structure with any periodic direction is a periodic cell.
      stress: (S, 3, 3) eV/Å³ ``σ = (1/V) ∂E/∂ε`` (cell and atoms strained together), optional;
        only for cells periodic along all three lattice vectors.
      extra: further per-structure arrays with leading dim S, e.g. ``partial_charges`` (S, A)
        or ``dipoles`` (S, A, 3); dims follow from the shape (or pass ``(dims, array)``);
        units go into ``attrs['units']``.
      attrs: data set attributes (``name``, ``description``, ``source``, …, ``units``).
      source: name of the file or generator, used in error messages.
      labels: optional string labels per structure, ``{"split": (S,), "group": (S,)}``
        (:data:`LABELS`).

    Returns:
      The validated ``xr.Dataset``, whose structures are within the bounds of
      :mod:`efa.data.geometry_bounds`.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3:
        raise DataError(
            f"{source}: field 'positions' has shape {positions.shape}; "
            "expected (structure, atom, 3)"
        )
    num_structures, num_atoms = positions.shape[:2]
    atomic_numbers = np.asarray(atomic_numbers)
    if atomic_numbers.ndim == 1:
        atomic_numbers = np.broadcast_to(atomic_numbers, (num_structures, atomic_numbers.shape[0]))
    atomic_numbers = _as_integers(atomic_numbers, "atomic_numbers", source)
    if atom_mask is None:
        atom_mask = atomic_numbers != 0
    variables = {
        "positions": (_CORE["positions"][0], positions),
        "atomic_numbers": (_CORE["atomic_numbers"][0], atomic_numbers),
        "atom_mask": (_CORE["atom_mask"][0], np.asarray(atom_mask, dtype=bool)),
        "energy": (_CORE["energy"][0], np.asarray(energy, dtype=np.float64)),
        "forces": (_CORE["forces"][0], np.asarray(forces, dtype=np.float64)),
    }
    if total_charge is not None:
        charge = _as_integers(np.asarray(total_charge), "total_charge", source)
        variables["total_charge"] = (_OPTIONAL["total_charge"][0], charge)
    if coordinate is not None:
        variables["coordinate"] = (("structure",), np.asarray(coordinate, dtype=np.float64))
    if (cell is None) != (pbc is None):
        raise DataError(
            f"{source}: field 'cell': cell and pbc go together; expected both or neither"
        )
    if cell is not None:
        variables["cell"] = (_OPTIONAL["cell"][0], np.asarray(cell, dtype=np.float64))
        variables["pbc"] = (_OPTIONAL["pbc"][0], np.asarray(pbc, dtype=bool))
    if stress is not None:
        variables["stress"] = (_OPTIONAL["stress"][0], np.asarray(stress, dtype=np.float64))
    for name, value in (extra or {}).items():
        if isinstance(value, tuple):
            dims, array = value[0], np.asarray(value[1])
        else:
            array = np.asarray(value)
            dims = _extra_dims(name, array, num_atoms, source)
        variables[name] = (tuple(dims), array)
    for name, values in (labels or {}).items():
        if name not in LABELS:
            raise DataError(f"{source}: label {name!r}: unknown; expected one of {list(LABELS)}")
        variables[name] = (("structure",), np.array([str(v) for v in values], dtype=object))
    units = {**dict((attrs or {}).get("units", {})), **CANONICAL_UNITS}
    if total_charge is not None:
        units.setdefault("total_charge", "e")
    if cell is not None:
        units["cell"] = "Å"
    if stress is not None:
        units["stress"] = STRESS_UNIT
    all_attrs = {**dict(attrs or {}), "units": units, "created_with": f"efa-bench {__version__}"}
    try:
        dataset = xr.Dataset({k: xr.Variable(*v) for k, v in variables.items()}, attrs=all_attrs)
    except ValueError as error:  # inconsistent dim sizes between variables
        raise DataError(f"{source}: inconsistent array shapes: {error}") from None
    validate(dataset, source=source)
    check_geometry(
        positions,
        variables["atom_mask"][1],
        None if cell is None else variables["cell"][1],
        None if pbc is None else variables["pbc"][1],
        source,
    )
    return dataset


def validate(ds: xr.Dataset, source: str = "<dataset>", metadata: bool = False) -> xr.Dataset:
    """Check that ``ds`` is a canonical data set; return it unchanged or raise :class:`DataError`.

    Checks: required variables present with the canonical dims and dtypes; sizes consistent;
    positions, energies, forces and extras finite; atomic numbers in 1..118 exactly where
    ``atom_mask`` is True and 0 on padding (with zero positions and forces there); every structure
    has at least one atom; units declared for every variable that carries one and equal to
    :data:`CANONICAL_UNITS` for the core fields. With ``metadata=True`` also the attributes in
    :data:`METADATA_ATTRS`. Every message names ``source`` and the field.
    """

    def fail(field: str, problem: str, expected: str) -> DataError:
        return DataError(f"{source}: field '{field}': {problem}; expected {expected}")

    for name, (dims, kind, description) in {**_CORE, **_OPTIONAL}.items():
        if name not in ds.variables:
            if name in _OPTIONAL:
                continue
            raise fail(name, "missing", f"{dims} {description}")
        variable = ds.variables[name]
        if variable.dims != dims:
            raise fail(name, f"has dims {variable.dims} with shape {variable.shape}", f"{dims}")
        if not _has_kind(variable.dtype, kind):
            raise fail(name, f"has dtype {variable.dtype}", description)
    if ds.sizes.get("xyz") != 3:
        raise fail("positions", f"has {ds.sizes.get('xyz')} Cartesian components", "3")
    if ds.sizes["structure"] == 0:
        raise fail("energy", "has no structures", "at least one structure")

    mask = np.asarray(ds["atom_mask"].values)
    numbers = np.asarray(ds["atomic_numbers"].values)
    real = numbers[mask]
    if real.size and (real.min() < 1 or real.max() > MAX_ATOMIC_NUMBER):
        bad = int(real[(real < 1) | (real > MAX_ATOMIC_NUMBER)][0])
        raise fail("atomic_numbers", f"contains {bad} on a real atom", "values in 1..118")
    if np.any(numbers[~mask] != 0):
        raise fail("atomic_numbers", "non-zero on padded atoms", "0 where atom_mask is False")
    empty = np.flatnonzero(~mask.any(axis=1))
    if empty.size:
        raise fail("atom_mask", f"structure {empty[0]} has no atoms", "at least one atom each")

    if ("cell" in ds.variables) != ("pbc" in ds.variables):
        raise fail("cell", "given without pbc (or pbc without cell)", "both or neither")
    if "cell" in ds.variables:
        _check_cells(np.asarray(ds["cell"].values), np.asarray(ds["pbc"].values), fail)
    if "stress" in ds.variables:
        _check_stress(ds, fail)

    units = ds.attrs.get("units")
    if not isinstance(units, Mapping):
        raise fail("attrs.units", f"is {units!r}", "a mapping from variable name to unit")
    for name, unit in CANONICAL_UNITS.items():
        if units.get(name) != unit:
            raise fail(name, f"declared in units {units.get(name)!r}", f"{unit!r}")

    for name in ds.data_vars:
        array = np.asarray(ds[name].values)
        if ds[name].dims[:1] != ("structure",):
            raise fail(name, f"has dims {ds[name].dims}", "'structure' as the first dim")
        if name in LABELS:
            _check_labels(name, ds[name], fail)
            continue
        if name in ("atomic_numbers", "atom_mask", "pbc"):
            continue
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise fail(name, f"has dtype {array.dtype}", "a numeric array")
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            where = np.argwhere(~np.isfinite(array))[0]
            raise fail(
                name,
                f"{int((~np.isfinite(array)).sum())} non-finite values "
                f"(first at index {tuple(int(i) for i in where)})",
                "finite values",
            )
        if name not in units:
            raise fail(name, "has no declared unit", "an entry in attrs['units'] ('1' if none)")
        if ds[name].dims[:2] == ("structure", "atom") and np.any(array[~mask] != 0):
            raise fail(name, "non-zero on padded atoms", "0 where atom_mask is False")

    if metadata:
        missing = [key for key in METADATA_ATTRS if key not in ds.attrs]
        if missing:
            raise fail(f"attrs.{missing[0]}", "missing", f"all of {', '.join(METADATA_ATTRS)}")
    return ds


def _check_cells(cells: np.ndarray, pbc: np.ndarray, fail) -> None:
    """Finite lattice vectors, and linearly independent ones along the periodic directions."""
    if not np.all(np.isfinite(cells)):
        raise fail("cell", "has non-finite values", "finite lattice vectors in Å")
    for index, (cell, periodic) in enumerate(zip(cells, pbc)):
        if periodic.any() and np.linalg.matrix_rank(cell[periodic], tol=1e-6) < periodic.sum():
            raise fail(
                "cell",
                f"structure {index}: the periodic lattice vectors "
                f"{cell[periodic].tolist()} are linearly dependent",
                "independent lattice vectors along every periodic direction",
            )


def _check_stress(ds: xr.Dataset, fail) -> None:
    """Stress only on cells periodic in all directions, in :data:`STRESS_UNIT`."""
    if "pbc" not in ds.variables:
        raise fail("stress", "given without cell and pbc", "periodic cells with a stress")
    open_cells = np.flatnonzero(~np.asarray(ds["pbc"].values).all(axis=1))
    if open_cells.size:
        raise fail(
            "stress",
            f"given for structure {open_cells[0]}, which is not periodic in all directions",
            "a stress only for cells periodic along all three lattice vectors",
        )
    unit = dict(ds.attrs.get("units") or {}).get("stress")
    if unit != STRESS_UNIT:
        raise fail("stress", f"declared in units {unit!r}", f"{STRESS_UNIT!r}")


def _check_labels(name: str, variable: xr.DataArray, fail) -> None:
    """A label variable (:data:`LABELS`): (S,) strings; split names follow :mod:`efa.names`."""
    from efa.names import NAME_PATTERN

    if variable.dims != ("structure",) or variable.dtype.kind not in "OUT":
        raise fail(
            name, f"has dims {variable.dims} and dtype {variable.dtype}", "(structure,) strings"
        )
    values = [str(value) for value in np.asarray(variable.values)]
    if any(not value for value in values):
        raise fail(name, "has empty labels", "a non-empty label for every structure")
    if name == "split":
        bad = sorted({value for value in values if not re.fullmatch(NAME_PATTERN, value)})
        if bad:
            raise fail(name, f"has the split name {bad[0]!r}", "letters, digits, _ . - only")


def concat_datasets(parts: Sequence[xr.Dataset], source: str = "<datasets>") -> xr.Dataset:
    """Concatenate canonical data sets along ``structure``, padding ``atom`` to the widest.

    Variables and units must agree; the attrs of the first part are kept.
    """
    width = max(part.sizes["atom"] for part in parts)
    names = set(parts[0].data_vars)
    padded = []
    for index, part in enumerate(parts):
        if set(part.data_vars) != names:
            raise DataError(
                f"{source}: part {index} has the fields {sorted(part.data_vars)}; "
                f"expected the same fields as the first, {sorted(names)}"
            )
        extra = width - part.sizes["atom"]
        padded.append(part.pad(atom=(0, extra), constant_values=0) if extra else part)
    for part in padded:  # pad() turns bool masks into ints
        part["atom_mask"] = part["atom_mask"].astype(bool)
    combined = xr.concat(padded, dim="structure", combine_attrs="override")
    return validate(combined, source=source)


def _as_integers(array: np.ndarray, field: str, source: str) -> np.ndarray:
    """Convert to int32, refusing non-integral or non-finite values (e.g. float atomic numbers)."""
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int32)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise DataError(
                f"{source}: field '{field}': has non-integral values; expected integers"
            )
        return array.astype(np.int32)
    raise DataError(f"{source}: field '{field}': has dtype {array.dtype}; expected integers")


def _extra_dims(name: str, array: np.ndarray, num_atoms: int, source: str) -> tuple[str, ...]:
    """Dims of an extra variable from its shape: (S,), (S, 3), (S, A) or (S, A, 3).

    With A = 3 a shape (S, 3) is ambiguous; pass ``(dims, array)`` in ``extra`` then.
    """
    candidates = {
        (): ("structure",),
        (num_atoms,): ("structure", "atom"),
        (num_atoms, 3): ("structure", "atom", "xyz"),
    }
    if num_atoms != 3:
        candidates[(3,)] = ("structure", "xyz")
    if array.shape[1:] in candidates:
        return candidates[array.shape[1:]]
    raise DataError(
        f"{source}: field '{name}': has shape {array.shape}; expected (structure,), "
        f"(structure, 3), (structure, {num_atoms}) or (structure, {num_atoms}, 3)"
    )


def _has_kind(dtype: np.dtype, kind: str) -> bool:
    if kind == "f":
        return dtype == np.float64
    if kind == "i":
        return np.issubdtype(dtype, np.integer)
    return dtype == np.dtype(bool)
