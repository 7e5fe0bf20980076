"""The external scaler's Prometheus metrics (`--metrics-port`): how many ScaledObjects and Kafka
clients it serves, and what its evaluations and rounds cost. Read from the registry and the
connection pool at scrape time, so nothing is counted twice and the gRPC path does no extra work."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from scaler.grpc.scalers import ScalerRegistry


class ServerMetrics(Collector):
    """One registry of its own (not the global one), collected from `scalers` and its pool."""

    def __init__(self, scalers: ScalerRegistry) -> None:
        self._scalers = scalers
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        pool, totals = self._scalers.pool, self._scalers.pool.totals()
        kept = len(self._scalers)
        yield GaugeMetricFamily(
            "lagscale_grpc_scaled_objects", "ScaledObjects kept (asked for lately).", value=kept
        )
        yield GaugeMetricFamily(
            "lagscale_grpc_connections",
            "Kafka clients open: one per distinct connection.",
            value=len(pool.stats()),
        )
        counters = (
            ("lagscale_grpc_connections_opened", "Kafka clients opened since the start.", totals.opened),
            ("lagscale_grpc_evaluations", "New evaluations (one per KEDA poll).", self._scalers.evaluations),
            ("lagscale_grpc_evaluation_errors", "Evaluations that failed.", self._scalers.failures),
            ("lagscale_grpc_rounds", "Batched reads of a connection's offsets.", totals.rounds),
            ("lagscale_grpc_round_seconds", "Time in rounds (over rounds: the mean).", totals.round_seconds),
            ("lagscale_grpc_kafka_requests", "Kafka requests the rounds sent (counted).", totals.requests),
        )
        for name, documentation, value in counters:
            yield CounterMetricFamily(name, documentation, value=value)

    def health(self) -> tuple[bool, str]:
        """The process answers: the gRPC server runs beside this one (its own probe is tcpSocket)."""
        return True, "ok"

    def render(self) -> bytes:
        return generate_latest(self.registry)
