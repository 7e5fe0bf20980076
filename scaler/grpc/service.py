"""KEDA's External Scaler gRPC API (`type: external` / `external-push`), answered with the Kafka
scaler's exact semantics, or with the opt-in drain-time target (scaler.grpc.drain_rate).

KEDA forwards the trigger `metadata` on every call; the metric name is KEDA's Kafka one without the
`s<index>-` prefix, which KEDA adds back, so the HPA sees the same name as with `type: kafka`.
Errors become gRPC statuses, never a crashed server: unusable metadata -> INVALID_ARGUMENT listing
every problem; Kafka unreachable, unknown topic, failed offsets -> UNAVAILABLE.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import grpc

from kafkakit.errors import BrokerError, ConfigError
from kafkakit.logs import log_event
from scaler.grpc.connections import ConnectionPool, ReaderFactory, kafka_reader
from scaler.grpc.gen import externalscaler_pb2 as pb
from scaler.grpc.gen import externalscaler_pb2_grpc as pb_grpc
from scaler.grpc.scalers import Evaluation, Purpose, ScalerConfig, ScalerRegistry, ScalerSettings
from scaler.loop.clock import Clock, SystemClock

logger = logging.getLogger("scaler.grpc")
# How often ScaledObjects KEDA stopped asking for are looked for (their clients then close).
SWEEP_SECONDS = 5.0


class ExternalScalerService(pb_grpc.ExternalScalerServicer):
    """The four RPCs KEDA calls (its names, hence N802); one cached scaler per ScaledObject, one
    shared Kafka client per connection."""

    def __init__(
        self,
        settings: ScalerSettings | None = None,
        *,
        clock: Clock | None = None,
        reader_factory: ReaderFactory = kafka_reader,
    ) -> None:
        self.clock = clock or SystemClock()
        settings = settings or ScalerSettings()
        pool = ConnectionPool(
            self.clock,
            timeout=settings.kafka_timeout,
            max_age=settings.max_sample_age,
            reader_factory=reader_factory,
        )
        self.registry = ScalerRegistry(settings, self.clock, pool)
        self._stopped = threading.Event()
        self._sweeper: threading.Thread | None = None

    def start_sweeping(self, interval: float = SWEEP_SECONDS) -> None:
        """Forget, in the background, the ScaledObjects nobody asks for any more (even when no
        call comes that would notice)."""

        def sweep() -> None:
            while not self._stopped.wait(interval):
                self.registry.sweep()

        self._sweeper = threading.Thread(target=sweep, name="grpc-sweeper", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        """Stop sweeping and close every Kafka client."""
        self._stopped.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
        self.registry.close()

    def IsActive(self, request: pb.ScaledObjectRef, context: Any) -> pb.IsActiveResponse:  # noqa: N802
        return pb.IsActiveResponse(result=self._evaluate(request, context, "activity").report.active)

    def StreamIsActive(self, request: pb.ScaledObjectRef, context: Any) -> Iterator[pb.IsActiveResponse]:  # noqa: N802
        """Send activity now, then again whenever it changes; checked every stream interval."""
        stopped = threading.Event()
        context.add_callback(stopped.set)
        interval = self._config(request, context).stream_interval or self.registry.settings.stream_interval
        last: bool | None = None
        while context.is_active():
            active = self._evaluate(request, context, "activity").report.active
            if active != last:
                yield pb.IsActiveResponse(result=active)
                last = active
            if self.clock.wait(interval, stopped):
                return

    def GetMetricSpec(self, request: pb.ScaledObjectRef, context: Any) -> pb.GetMetricSpecResponse:  # noqa: N802
        config = self._config(request, context)
        spec = pb.MetricSpec(
            metricName=config.metric_name,
            targetSize=round(config.target),
            targetSizeFloat=config.target,
        )
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    def GetMetrics(self, request: pb.GetMetricsRequest, context: Any) -> pb.GetMetricsResponse:  # noqa: N802
        ref = request.scaledObjectRef
        config = self._config(ref, context)
        if request.metricName and request.metricName != config.metric_name:
            _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"unknown metric {request.metricName!r}: this trigger serves {config.metric_name!r}",
            )
        value = self._evaluate(ref, context, "metrics").metric_value
        metric = pb.MetricValue(
            metricName=config.metric_name, metricValue=round(value), metricValueFloat=value
        )
        return pb.GetMetricsResponse(metricValues=[metric])

    def _config(self, ref: pb.ScaledObjectRef, context: Any) -> ScalerConfig:
        """The ScaledObject's parsed metadata (aborts the call when it is unusable)."""
        try:
            return self.registry.scaler_for(ref.namespace, ref.name, dict(ref.scalerMetadata)).config
        except ConfigError as error:
            _abort_invalid(context, ref, error)

    def _evaluate(self, ref: pb.ScaledObjectRef, context: Any, purpose: Purpose) -> Evaluation:
        try:
            return self.registry.evaluate(ref.namespace, ref.name, dict(ref.scalerMetadata), purpose)
        except ConfigError as error:  # the metadata, or connection settings the client refuses
            _abort_invalid(context, ref, error)
        except BrokerError as error:  # Kafka unreachable, unknown topic, offsets unreadable
            _abort(context, grpc.StatusCode.UNAVAILABLE, f"{_name(ref)}: {error}")


def _name(ref: pb.ScaledObjectRef) -> str:
    return f"ScaledObject {ref.namespace}/{ref.name}"


def _abort_invalid(context: Any, ref: pb.ScaledObjectRef, error: ConfigError) -> NoReturn:
    """Every problem, in the words KEDA users know (the metadata keys they wrote)."""
    problems = error.keda_problems
    listed = "\n".join(f"  - {problem}" for problem in problems)
    log_event(logger, "invalid_metadata", logging.WARNING, scaled_object=_name(ref), problems=problems)
    _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{_name(ref)}: invalid trigger metadata:\n{listed}")


def _abort(context: Any, code: Any, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("grpc context.abort returned")  # it always raises


def start_server(
    service: ExternalScalerService,
    address: str,
    *,
    max_workers: int = 32,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[Any, int]:
    """Serve on `address` (`host:port`, port 0 = any free one), over TLS with `credentials`;
    returns (server, bound port).

    Each open StreamIsActive holds one worker thread, so `max_workers` bounds push ScaledObjects.
    """
    # Without SO_REUSEPORT off, a second server on a busy port would silently share it.
    server = grpc.server(
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[("grpc.so_reuseport", 0)],
    )
    pb_grpc.add_ExternalScalerServicer_to_server(service, server)
    try:
        if credentials is None:
            port = int(server.add_insecure_port(address))
        else:
            port = int(server.add_secure_port(address, credentials))
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {address}: is the port in use, or the host not local?")
    server.start()
    service.start_sweeping()
    log_event(logger, "grpc_listening", address=address, port=port, tls=credentials is not None)
    return server, port
