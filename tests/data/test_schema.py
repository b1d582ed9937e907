"""Validation of the canonical format: every bad input names the field."""

import numpy as np
import pytest

from efa.data.schema import make_dataset, pad_atoms, validate
from efa.errors import DataError


def arrays(num_structures=3, num_atoms=4):
    rng = np.random.default_rng(0)
    return dict(
        positions=rng.normal(size=(num_structures, num_atoms, 3)),
        atomic_numbers=np.full((num_structures, num_atoms), 6),
        energy=rng.normal(size=num_structures),
        forces=rng.normal(size=(num_structures, num_atoms, 3)),
    )


def test_make_dataset_is_canonical():
    ds = make_dataset(
        **arrays(),
        total_charge=[0, 1, -1],
        coordinate=[0.0, 1.0, 2.0],
        attrs={"units": {"coordinate": "deg"}},
    )
    assert dict(ds.sizes) == {"structure": 3, "atom": 4, "xyz": 3}
    assert ds.positions.dtype == np.float64 and ds.forces.dtype == np.float64
    assert ds.atom_mask.dtype == bool and ds.atom_mask.all()
    assert ds.attrs["units"]["positions"] == "Å" and ds.attrs["units"]["coordinate"] == "deg"


def test_padding_is_masked():
    numbers = pad_atoms([np.array([1, 8]), np.array([1, 8, 1])])
    positions = pad_atoms([np.eye(3)[:2], 2 * np.eye(3)])
    ds = make_dataset(positions, numbers, [0.0, 1.0], np.zeros((2, 3, 3)))
    assert ds.atom_mask.values.tolist() == [[True, True, False], [True, True, True]]


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda a: a["positions"].__setitem__((1, 2, 0), np.nan), "positions"),
        (lambda a: a.__setitem__("forces", a["forces"][:, :3]), "forces"),
        (lambda a: a.__setitem__("energy", a["energy"][:2]), "energy"),
        (lambda a: a["atomic_numbers"].__setitem__((0, 1), 119), "atomic_numbers"),
        (lambda a: a["forces"].__setitem__((0, 0, 0), np.inf), "forces"),
    ],
    ids=["nan-positions", "forces-shape", "energy-shape", "z-119", "inf-forces"],
)
def test_bad_arrays_are_rejected_naming_the_field(change, field):
    data = arrays()
    change(data)
    with pytest.raises(DataError, match=f"file.npz.*'{field}'"):
        make_dataset(**data, source="file.npz")


def test_atomic_number_zero_on_a_real_atom():
    data = arrays()
    mask = np.ones((3, 4), dtype=bool)
    data["atomic_numbers"][2, 3] = 0
    with pytest.raises(DataError, match="'atomic_numbers'.*contains 0.*1..118"):
        make_dataset(**data, atom_mask=mask, source="file.npz")


def test_missing_energy():
    ds = make_dataset(**arrays()).drop_vars("energy")
    with pytest.raises(DataError, match="store.zarr: field 'energy': missing"):
        validate(ds, source="store.zarr")


def test_undeclared_unit_and_wrong_dtype():
    ds = make_dataset(**arrays())
    ds["partial_charges"] = (("structure", "atom"), np.zeros((3, 4)))
    with pytest.raises(DataError, match="'partial_charges': has no declared unit"):
        validate(ds)
    with pytest.raises(DataError, match="'energy'.*float64"):
        ds = make_dataset(**arrays())
        ds["energy"] = ds["energy"].astype(np.float32)
        validate(ds)


def test_metadata_required_for_stores():
    with pytest.raises(DataError, match="attrs.name"):
        validate(make_dataset(**arrays()), metadata=True)


def test_non_integral_atomic_numbers():
    data = arrays()
    data["atomic_numbers"] = data["atomic_numbers"] + 0.5
    with pytest.raises(DataError, match="'atomic_numbers'.*integers"):
        make_dataset(**data)


def test_stress_needs_cells_periodic_in_every_direction():
    from efa.data.generators import nacl_crystal

    dataset = nacl_crystal(2, seed=0)
    assert validate(dataset)["stress"].dims == ("structure", "cell_vector", "xyz")
    slab = dataset.copy(deep=True)
    slab["pbc"].values[1, 2] = False
    with pytest.raises(DataError, match="field 'stress': given for structure 1, which is not"):
        validate(slab)
    dataset.attrs["units"] = {**dataset.attrs["units"], "stress": "GPa"}
    with pytest.raises(DataError, match="field 'stress': declared in units 'GPa'"):
        validate(dataset)
