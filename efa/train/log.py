"""Machine-readable training log: one JSON object per line (``train_log.jsonl``).

Records carry an ``event`` (``start``, ``resume``, ``train``, ``valid``, ``checkpoint``,
``diverged``, ``interrupted``, ``finish``) and a ``step``; ``start`` and ``resume`` also record
the number of ``devices`` the session trains on. On resume, records after the restored
checkpoint are dropped, so the log of a killed-and-resumed run reads like an uninterrupted one
plus a ``resume`` record.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from efa.storage import write_text


def _json_safe(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so the line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class TrainingLog:
    """Appends records to a JSON-lines file, flushing every line."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def records(self) -> list[dict[str, Any]]:
        """All complete records (a line cut short by a kill is skipped)."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def truncate_after(self, step: int) -> None:
        """Drop records of steps after ``step`` (work a resumed run will redo)."""
        kept = [record for record in self.records() if record.get("step", 0) <= step]
        write_text("".join(json.dumps(record) + "\n" for record in kept), self.path)

    def write(self, event: str, step: int, **fields: Any) -> None:
        """Append one record."""
        record = {"event": event, "step": step}
        record.update({key: _json_safe(value) for key, value in fields.items()})
        with self.path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")
            stream.flush()
