"""The one line of JSON a command prints on standard output when it is done.

The line is strict JSON (RFC 8259), so that ``jq`` and every other JSON reader take it: a value
that JSON cannot write (NaN, an infinity: a metric a model does not give, a loss that diverged)
is written as ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def strict_json(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None, in nested lists and
    mappings too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def print_result(result: Mapping[str, Any]) -> None:
    """Print ``result`` as one line of strict JSON on standard output."""
    print(json.dumps(strict_json(result), allow_nan=False))
