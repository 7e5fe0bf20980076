"""Time behind a Protocol, so the scaling loop runs in real time or in instantaneous fake time."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic scale, and a way to wait that a stop event can interrupt."""

    def now(self) -> float:
        """Current time in seconds; only differences are meaningful."""
        ...

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Wait `seconds` (or until `stop` is set); True when stopped."""
        ...


class SystemClock:
    """Real time: monotonic, so a wall-clock jump cannot shorten or stretch a cooldown."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if seconds <= 0:
            return stop.is_set() if stop else False
        if stop is None:
            time.sleep(seconds)
            return False
        return stop.wait(seconds)


class FakeClock:
    """Time that moves only when told to: `wait` jumps forward at once, `advance` moves it by hand."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if stop is not None and stop.is_set():
            return True
        self.advance(seconds)
        return False

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._now += seconds
