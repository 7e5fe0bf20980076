"""Pacing sends at a steady rate.

Send times are scheduled on an absolute timeline (start + n / rate), so the average rate stays
right even when single waits are imprecise. After a stall (e.g. a full client queue) at most one
second of missed sends is caught up, so a hiccup does not turn into a burst.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_MAX_CATCH_UP_SECONDS = 1.0


class Pacer:
    """Tells how long to wait before the next send; `rate` 0 means as fast as possible."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._next_due: float | None = None

    def delay(self) -> float:
        """Seconds to wait before sending the next event, and book that event's slot."""
        if not self._interval:
            return 0.0
        now = self._clock()
        if self._next_due is None or self._next_due < now - _MAX_CATCH_UP_SECONDS:
            self._next_due = now
        wait = max(0.0, self._next_due - now)
        self._next_due += self._interval
        return wait
