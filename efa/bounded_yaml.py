"""YAML read within bounds, so that a hostile or broken file cannot exhaust memory.

A few lines of YAML can stand for billions of values: anchors that alias each other (``a: &a
[x, x]``, ``b: &b [*a, *a]``, …) build a small graph that expands to ``2^n`` leaves in whatever
walks it (a schema check, a hash, a JSON dump). :func:`load_yaml` refuses text longer than
:data:`MAX_BYTES`, a document whose expanded size (values counted with every alias expanded)
exceeds :data:`MAX_VALUES`, and one that contains itself; the graph is measured before anything
is built. Refusals are :class:`YAMLBoundError`, a :class:`yaml.YAMLError`, so every reader that
turns a YAML error into a message naming its file does the same for these.
"""

from __future__ import annotations

from typing import Any

import yaml

#: The longest YAML text read (characters).
MAX_BYTES = 16 * 2**20
#: The most values (scalars, sequences and mappings, every alias expanded) one document holds.
MAX_VALUES = 1_000_000


class YAMLBoundError(yaml.YAMLError):
    """A YAML text beyond :data:`MAX_BYTES`, or a document beyond :data:`MAX_VALUES` values or
    containing itself."""


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """The number of values of the document at ``root``, every alias expanded; stops counting
    past ``limit``.

    Each node is measured once (children before parents, with the sizes kept by node), so a
    graph of ``n`` nodes costs ``O(n)`` however far its aliases expand.

    Raises:
      YAMLBoundError: the document contains itself (an alias inside its own anchor).
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = (
            [part for pair in node.value for part in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if children_done:
            on_path.discard(id(node))
            sizes[id(node)] = min(limit + 1, 1 + sum(sizes[id(child)] for child in children))
            continue
        if id(node) in on_path:
            raise YAMLBoundError(f"a value contains itself (line {node.start_mark.line + 1})")
        on_path.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise YAMLBoundError(f"a value contains itself (line {child.start_mark.line + 1})")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def load_yaml(text: str, max_values: int = MAX_VALUES) -> Any:
    """The value of one YAML document (safe types only), within the bounds above.

    Raises:
      YAMLBoundError: the text or its expanded document is too large, or contains itself.
      yaml.YAMLError: the text is not valid YAML.
    """
    if len(text) > MAX_BYTES:
        raise YAMLBoundError(f"{len(text)} characters of YAML; at most {MAX_BYTES} are read")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, max_values)
        if size > max_values:
            raise YAMLBoundError(
                f"its aliases expand to more than {max_values} values (an alias bomb?); "
                "write the values out or use fewer aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()
