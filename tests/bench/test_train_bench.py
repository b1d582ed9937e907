"""``efa bench train`` on a small batch: table, targets line and its group of ``bench.zarr``."""

import jax
import xarray as xr

from efa.cli.main import main


def test_two_atom_run_writes_its_group_and_targets(tmp_path, capsys):
    arguments = [
        "bench",
        "train",
        "--config",
        "two_atoms",
        "--batch-size",
        "4",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--output-dir",
        str(tmp_path),
    ]
    assert main(arguments) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] in ("targets met: 0/1", "targets met: 1/1")
    device = jax.devices()[0]
    assert (
        lines[0].startswith("Machine: ") and f"{device.device_kind} ({device.platform})" in lines[0]
    )
    ratio_line = next(line for line in lines if line.startswith("two_atoms: EFA step time"))
    store = xr.open_zarr(tmp_path / "bench.zarr", group="train", consolidated=False).load()
    assert store["model"].values.tolist() == ["local", "efa"]
    assert (store["min_s"] <= store["median_s"]).all() and (
        store["median_s"] <= store["max_s"]
    ).all()
    assert (store["repeats"] == 3).all()
    assert int(store["batch_size"].sel(config="two_atoms")) == 4
    ratio = float(store["median_s"].sel(config="two_atoms", model="efa")) / float(
        store["median_s"].sel(config="two_atoms", model="local")
    )
    assert f"= {ratio:.2f} (target ≤ 1.3;" in ratio_line
    # XLA's operation count per step: the EFA model adds its blocks to the local network.
    flops = store["flops_per_step"].sel(config="two_atoms")
    assert 0 < float(flops.sel(model="local")) < float(flops.sel(model="efa"))
    operations = float(flops.sel(model="efa")) / float(flops.sel(model="local"))
    assert ratio_line.endswith(f"EFA / local operations per step: {operations:.2f})")
    assert store.attrs["targets_met"] == int(lines[-1][-3])
    assert "| two_atoms | local |" in (tmp_path / "bench" / "train.md").read_text()


def test_nacl_configuration_builds_its_clusters_and_both_models():
    """The paper's NaCl network: 314-ion clusters, batch 8 by default, both models build."""
    from efa.bench.train import CONFIGS, _structures
    from efa.models import build_model

    config = CONFIGS["nacl"]
    structures = _structures(config, 2)
    assert structures.num_atoms.tolist() == [314, 314]
    assert config.batch_size == 8
    build_model("local", config.model_options)
    build_model("efa", {**config.model_options, **config.efa_options})
