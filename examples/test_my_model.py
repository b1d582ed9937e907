"""Your own model's test: the model contract of efa-bench, checked by efa.testing."""

from efa.testing import check_model_contract


def test_pair_mlp_keeps_the_model_contract():
    model = check_model_contract("examples.my_model:PairMLP", {"cutoff": 3.0, "hidden": 8})
    assert model.model.receptive_field == 3.0
