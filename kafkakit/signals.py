"""Stop requests from SIGINT / SIGTERM, shared by the producer and the consumer."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An Event that SIGINT and SIGTERM set while the block runs; the previous handlers come back
    after it. Keep the cleanup and the summary inside the block: a second signal (a second Ctrl+C,
    or Kubernetes' SIGTERM after ours) then only sets the event again instead of killing the
    process before its summary and exit code. Cleanup is bounded by its own timeouts (e.g.
    --flush-timeout), so it is never forced short by a second signal; SIGKILL still ends it."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
