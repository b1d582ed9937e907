"""efa predict: any model's energies and forces for any structures."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.io import read, write

from efa.cli.main import main


@pytest.fixture
def frames(tmp_path):
    path = tmp_path / "in.xyz"
    structures = [Atoms("HHe", positions=[[0, 0, 0], [0, 0, r]]) for r in (1.2, 2.0, 3.5)]
    structures.append(Atoms("H3", positions=[[0, 0, 0], [1, 0, 0], [0, 1.1, 0]]))
    write(path, structures, format="extxyz")
    return path


def test_predict_with_a_calculator_factory(frames, tmp_path):
    output = tmp_path / "out.xyz"
    argv = [
        "predict",
        "--model",
        "ase.calculators.lj:LennardJones",
        "--option",
        "sigma=1.1",
        str(frames),
        "-o",
        str(output),
    ]
    assert main(argv) == 0
    for atoms in read(output, index=":"):
        reference = atoms.copy()
        reference.calc = LennardJones(sigma=1.1)
        assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy())
        np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), atol=1e-12)
        assert atoms.info["efa_model"] == "LennardJones"


def test_predict_refuses_periodic_frames_and_existing_outputs(frames, tmp_path, capsys):
    periodic = tmp_path / "periodic.xyz"
    write(periodic, Atoms("H2", positions=[[0, 0, 0], [0, 0, 1]], cell=[5, 5, 5], pbc=True))
    model = ["--model", "ase.calculators.lj:LennardJones"]
    assert main(["predict", *model, str(periodic), "-o", str(tmp_path / "a.xyz")]) == 2
    assert "frame 0 has periodic boundary conditions" in capsys.readouterr().err
    existing = tmp_path / "existing.xyz"
    existing.write_text("mine")
    assert main(["predict", *model, str(frames), "-o", str(existing)]) == 2
    assert "exists; choose a new file" in capsys.readouterr().err
    assert existing.read_text() == "mine"
    assert (
        main(["predict", "--model", "no_run_here", str(frames), "-o", str(tmp_path / "b.xyz")]) == 2
    )
    assert "not a run directory, nor a calculator factory" in capsys.readouterr().err
    lj = ["predict", *model, "--option", "sigma"]
    assert main([*lj, str(frames), "-o", str(tmp_path / "c.xyz")]) == 2
    assert "--option 'sigma': expected KEY=VALUE" in capsys.readouterr().err
    good = ["predict", *model, "--option", "sigma=1.1"]
    assert main([*good, str(tmp_path / "missing.xyz"), "-o", str(tmp_path / "c.xyz")]) == 2
    assert "missing.xyz" in capsys.readouterr().err
