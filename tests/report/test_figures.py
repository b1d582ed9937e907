"""The report's figures read as their data: a log axis only over a wide range, one colour per
model (external models too), parity legends beside the points, not on them."""

import numpy as np
import xarray as xr
from matplotlib.colors import to_hex

from efa.report.figures import leaderboard_figure, parity_figure

HEADER = ["model", "energy_mae", "forces_mae"]


def _markers(axis):
    return [line for line in axis.get_lines() if line.get_marker() == "o"]


def test_errors_within_one_percent_get_a_linear_axis_and_a_wide_range_a_log_one():
    close = [["a", 0.100, 0.2], ["b", 0.101, 20.0]]
    figure = leaderboard_figure("x", HEADER, close, {"a": "external", "b": "external"})
    energy, forces = figure.axes
    assert energy.get_yscale() == "linear"  # 0.100 and 0.101: a log axis would hide it
    assert forces.get_yscale() == "log"  # 0.2 and 20


def test_every_external_model_gets_a_colour_of_its_own():
    rows = [["mace", 0.1, 0.2], ["nequip", 0.2, 0.3], ["lj", 0.3, 0.4], ["efa", 0.05, 0.1]]
    families = {"mace": "external", "nequip": "external", "lj": "external", "efa": "efa"}
    figure = leaderboard_figure("x", HEADER, rows, families)
    colours = [to_hex(line.get_color()) for line in _markers(figure.axes[0])]
    assert len(set(colours)) == 4, colours
    many = [[f"m{index}", 0.1, 0.2] for index in range(12)]  # more models than colours
    assert len(_markers(leaderboard_figure("x", HEADER, many, {}).axes[0])) == 12


def test_parity_legends_lie_outside_the_points():
    def store(seed):
        rng = np.random.default_rng(seed)
        energy = rng.normal(size=20)
        forces = rng.normal(size=(20, 2, 3))
        return xr.Dataset(
            {
                "atom_mask": (("structure", "atom"), np.ones((20, 2), bool)),
                "energy_reference": ("structure", energy),
                "energy_predicted": ("structure", energy + 0.1),
                "forces_reference": (("structure", "atom", "xyz"), forces),
                "forces_predicted": (("structure", "atom", "xyz"), forces * 1.1),
            }
        )

    figure = parity_figure("x", {"a": [store(0)], "b": [store(1)]}, {"a": "efa", "b": "local"})
    figure.canvas.draw()
    for axis in figure.axes:
        legend = axis.get_legend().get_window_extent()
        assert legend.y1 <= axis.get_window_extent().y0  # below the axes
