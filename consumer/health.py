"""What the consumer serves on `/healthz` and `/metrics` (kafkakit.probe_server does the HTTP).

`/healthz` answers 200 while the poll loop is alive and the member either owns partitions or is
waiting for an assignment, and 503 once it is stopping or the loop has not turned for `stale_after`
seconds (a wedged worker should be restarted by Kubernetes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from consumer.event_histogram import EventHistogram

WAITING = "waiting_for_assignment"
ASSIGNED = "assigned"
STOPPING = "stopping"
_LIVE_PHASES = (WAITING, ASSIGNED)


@dataclass
class HealthState:
    """Written by the poll loop, read by the HTTP thread."""

    stale_after: float
    clock: Callable[[], float] = time.monotonic
    phase: str = WAITING
    _last_beat: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._last_beat = self.clock()

    def beat(self) -> None:
        """The poll loop went round once more."""
        self._last_beat = self.clock()

    def check(self) -> tuple[bool, str]:
        """(healthy, reason) for /healthz."""
        silent_for = self.clock() - self._last_beat
        if self.phase not in _LIVE_PHASES:
            return False, self.phase
        if silent_for > self.stale_after:
            return False, f"poll loop silent for {silent_for:.0f}s"
        return True, self.phase


class ConsumerMetrics:
    """The consumer's Prometheus series, in a registry of its own (one per worker)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.processed = Counter(
            "lagscale_consumer_events_processed", "Events processed.", registry=self.registry
        )
        self.failed = Counter(
            "lagscale_consumer_events_failed", "Events that could not be processed.", registry=self.registry
        )
        self.dead_lettered = Counter(
            "lagscale_consumer_events_dead_lettered",
            "Events written to the dead-letter topic.",
            registry=self.registry,
        )
        self.dead_letter_failures = Counter(
            "lagscale_consumer_dead_letter_failures",
            "Dead-letter writes that failed (the event is retried, not committed).",
            registry=self.registry,
        )
        self.processing_seconds = EventHistogram(
            "lagscale_consumer_processing_seconds", "Time spent per event."
        )
        self.registry.register(self.processing_seconds)
        self.committed_offset = Gauge(
            "lagscale_consumer_committed_offset",
            "Last offset committed by this member.",
            ["topic", "partition"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus exposition text of every series."""
        return generate_latest(self.registry)
