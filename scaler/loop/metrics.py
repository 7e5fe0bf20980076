"""Prometheus metrics of the scaler, and its health, for kafkakit.probe_server's /metrics and /healthz."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from scaler.loop.decision import Decision

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ScalerMetrics:
    """One registry per scaler (not the global one), so tests and several loops do not collide."""

    def __init__(self, scaled_object: str, stale_after_seconds: float = 120.0) -> None:
        self.registry = CollectorRegistry()
        self._stale_after = stale_after_seconds
        self._last_seen = time.monotonic()
        self._lock = threading.Lock()
        labels = ["scaledobject"]
        self._labels = {"scaledobject": scaled_object}
        self.partition_lag = Gauge(
            "lagscale_partition_lag",
            "Lag of one partition at the last evaluation (log end offset minus committed offset).",
            [*labels, "topic", "partition"],
            registry=self.registry,
        )
        self.total_lag = Gauge("lagscale_total_lag", "Sum of partition lags.", labels, registry=self.registry)
        self.metric_value = Gauge(
            "lagscale_metric_value",
            "The value KEDA would report to the HPA (capped).",
            labels,
            registry=self.registry,
        )
        self.active = Gauge(
            "lagscale_active", "1 when the trigger is active.", labels, registry=self.registry
        )
        self.desired = Gauge("lagscale_desired_replicas", "Replicas decided.", labels, registry=self.registry)
        self.current = Gauge(
            "lagscale_current_replicas", "Replicas before the decision.", labels, registry=self.registry
        )
        self.duration = Histogram(
            "lagscale_evaluation_duration_seconds",
            "Time to fetch offsets and decide.",
            labels,
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "lagscale_evaluation_errors",
            "Evaluations that failed (offsets could not be read).",
            labels,
            registry=self.registry,
        )

    def observe(self, decision: Decision) -> None:
        """Record one decision of the scaling loop (usable directly as `on_decision`)."""
        with self._lock:
            self._last_seen = time.monotonic()
            labels = self._labels
            self.desired.labels(**labels).set(decision.desired)
            self.current.labels(**labels).set(decision.current)
            self.duration.labels(**labels).observe(decision.duration_seconds)
            if decision.error is not None or decision.total_lag is None or decision.metric is None:
                self.errors.labels(**labels).inc()
                return
            self.active.labels(**labels).set(1 if decision.active else 0)
            self.total_lag.labels(**labels).set(decision.total_lag)
            self.metric_value.labels(**labels).set(decision.metric)
            self.partition_lag.clear()  # partitions may disappear (partitionLimitation, leaders)
            for item in decision.partitions:
                self.partition_lag.labels(**labels, topic=item.topic, partition=str(item.partition)).set(
                    item.lag
                )

    def health(self) -> tuple[bool, str]:
        """Healthy while decisions keep arriving (the loop is not stuck), for /healthz."""
        with self._lock:
            fresh = time.monotonic() - self._last_seen <= self._stale_after
        return fresh, "ok" if fresh else "stale: no decision lately"

    def render(self) -> bytes:
        return generate_latest(self.registry)
