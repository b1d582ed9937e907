"""YAML within bounds: alias bombs, self-containing values and huge texts are refused before
anything is built; every ordinary document loads as yaml.safe_load loads it."""

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from efa.bounded_yaml import MAX_BYTES, YAMLBoundError, load_yaml


def alias_bomb(levels: int, width: int = 9) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the one before: width^levels
    values in a few hundred bytes."""
    lines = ["l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_built():
    with pytest.raises(YAMLBoundError, match="expand to more than 1000000 values"):
        load_yaml(alias_bomb(levels=12))  # 9^12 = 2.8e11 values in 500 bytes
    small = load_yaml(alias_bomb(levels=3))
    assert len(small["l2"]) == 9 and small["l2"][0] is small["l1"]  # ordinary aliases still load
    with pytest.raises(YAMLBoundError, match="more than 100 values"):
        load_yaml(alias_bomb(levels=3), max_values=100)


def test_a_value_that_contains_itself_and_an_oversized_text_are_refused():
    with pytest.raises(YAMLBoundError, match="contains itself"):
        load_yaml("a: &a [1, *a]")
    with pytest.raises(YAMLBoundError, match="contains itself"):
        load_yaml("a: &a {b: {c: *a}}")
    with pytest.raises(YAMLBoundError, match=f"at most {MAX_BYTES}"):
        load_yaml("#" * (MAX_BYTES + 1))
    assert isinstance(YAMLBoundError("x"), yaml.YAMLError)  # readers name their file for it
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [")


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)


@given(values)
def test_ordinary_documents_load_as_yaml_loads_them(value):
    text = yaml.safe_dump({"value": value}, allow_unicode=True)
    assert load_yaml(text) == yaml.safe_load(text)
