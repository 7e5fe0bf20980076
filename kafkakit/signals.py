"""Stop requests from SIGINT / SIGTERM for the commands that run until stopped, and Ctrl+C that
ends them within a second, with the exit status a shell expects (130)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(*, second_interrupt_quits: bool = False) -> Iterator[threading.Event]:
    """An Event that SIGINT and SIGTERM set while the block runs; the previous handlers come back
    after it. Keep the cleanup and the summary inside the block: a second signal (Kubernetes'
    SIGTERM after ours) then only sets the event again instead of killing the process before its
    summary. With `second_interrupt_quits`, a second Ctrl+C stops waiting for the cleanup
    (KeyboardInterrupt at once). SIGKILL still ends everything.

    When the block ends after Ctrl+C (SIGINT), KeyboardInterrupt is raised, so the command exits
    like any command stopped by Ctrl+C: status 130. SIGTERM, a supervisor's stop, ends normally."""
    stop = threading.Event()
    interrupted = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            if interrupted.is_set() and second_interrupt_quits:
                raise KeyboardInterrupt
            interrupted.set()
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in _STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if interrupted.is_set():
        raise KeyboardInterrupt


def run_in_background(work: Callable[[threading.Event], T], *, grace: float = 1.0) -> T | None:
    """`work(stop)` in a daemon thread, waited for here, so a broker call that blocks for its whole
    timeout cannot delay Ctrl+C: KeyboardInterrupt is raised here at once (the thread is left to the
    process's exit). SIGTERM sets `stop` and waits `grace` seconds more for `work` to notice; it
    returns None if it did not. An exception of `work` is raised here."""
    stop = threading.Event()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            outcome.append(work(stop))
        except BaseException as error:  # handed to the waiting thread
            failure.append(error)

    worker = threading.Thread(target=body, name="work", daemon=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        worker.start()
        while worker.is_alive() and not stop.is_set():
            worker.join(0.2)
        worker.join(grace)
    finally:
        stop.set()
        signal.signal(signal.SIGTERM, previous)
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None
