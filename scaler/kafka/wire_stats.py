"""Requests a librdkafka client really sent, read from its statistics (`tx` per broker connection).

Used to check, not just claim, that an evaluation costs a fixed number of Kafka requests.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

_INTERVAL_MS = 20


class _Pollable(Protocol):
    def poll(self, timeout: float) -> Any: ...


class WireRequestCounter:
    """Attach to a client config before the client is built; then `sent(client)` gives the running
    total of requests that client has transmitted to every broker."""

    def __init__(self) -> None:
        self._taken_at_us = 0
        self._sent = 0

    def attach(self, config: dict[str, Any]) -> dict[str, Any]:
        config["statistics.interval.ms"] = _INTERVAL_MS
        config["stats_cb"] = self._on_stats
        return config

    def _on_stats(self, payload: str) -> None:
        report = json.loads(payload)
        self._taken_at_us = int(report["ts"])
        self._sent = sum(int(broker.get("tx", 0)) for broker in report.get("brokers", {}).values())

    def sent(self, client: _Pollable, timeout: float = 5.0) -> int:
        """Total sent so far, from a report librdkafka assembled after this call started.

        Reports queue up while the caller is busy; `ts` (librdkafka's monotonic clock, the same
        CLOCK_MONOTONIC as Python's, in microseconds) tells a fresh one from a stale one.
        """
        started_us = time.monotonic_ns() // 1000
        deadline = time.monotonic() + timeout
        while self._taken_at_us <= started_us:
            if time.monotonic() > deadline:
                raise TimeoutError("librdkafka sent no statistics; was attach() called on the config?")
            client.poll(_INTERVAL_MS / 1000)
        return self._sent
