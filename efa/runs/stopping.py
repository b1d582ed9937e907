"""Stop requests of a training job: signals that ask a run to stop at its next safe point.

A built-in run checks them between steps and saves a checkpoint; an external trainer's runner
ends the trainer's process group. Either way the run is ``interrupted`` and nothing is marked
complete.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator


@contextlib.contextmanager
def stop_requests(signals: Iterable[int] = (signal.SIGTERM,)) -> Iterator[list[int]]:
    """While active, each of ``signals`` appends its number to the yielded list instead of
    ending the process; handlers are set in the main thread only (elsewhere the list stays
    empty) and restored on exit."""
    requests: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield requests
        return
    previous = {
        number: signal.signal(number, lambda n, _: requests.append(n)) for number in signals
    }
    try:
        yield requests
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
