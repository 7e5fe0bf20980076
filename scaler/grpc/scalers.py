"""One scaler per ScaledObject for the external-scaler server, built from the trigger metadata KEDA
forwards, and kept between calls the way KEDA keeps its own scaler instance.

No gRPC here: scaler.grpc.service maps these results and errors onto the wire.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafkakit.errors import BrokerError, ConfigError, Problem
from kafkakit.logs import log_event
from scaler.grpc.drain_rate import (
    ConsumeRateMeter,
    DrainEstimate,
    DrainSettings,
    estimate_drain,
    parse_drain_settings,
    positive_seconds,
)
from scaler.kafka.offsets import KafkaOffsetSource
from scaler.keda.fixes import KEDA_EXACT, Fixes
from scaler.keda.lag import LagCalculator, LagReport
from scaler.keda.trigger import KafkaTrigger, parse_trigger
from scaler.loop.clock import Clock
from scaler.loop.offsets import OffsetSource

logger = logging.getLogger("scaler.grpc")

STREAM_INTERVAL_KEY = "streamIntervalSeconds"
# Metadata KEDA forwards that belongs to the external trigger itself, not to the Kafka settings.
_EXTERNAL_TRIGGER_KEYS = ("scalerAddress", "enableTLS")


@dataclass(frozen=True)
class ScalerSettings:
    """Server-wide settings; each ScaledObject's own come from its metadata."""

    fixes: Fixes = KEDA_EXACT
    kafka_timeout: float = 10.0
    stream_interval: float = 30.0
    reuse_seconds: float = 2.0
    """KEDA asks GetMetrics then IsActive for one evaluation; both get the same sample."""
    idle_seconds: float = 600.0
    auth_params: Mapping[str, str] = field(default_factory=dict, repr=False)
    """TriggerAuthentication parameters (username, password, ca...): KEDA does not forward them."""


@dataclass(frozen=True)
class ScalerConfig:
    """A ScaledObject's trigger metadata, parsed."""

    trigger: KafkaTrigger
    drain: DrainSettings | None
    stream_interval: float | None

    @property
    def metric_name(self) -> str:
        """KEDA's Kafka metric name without the `s<index>-` prefix KEDA adds itself."""
        base = self.trigger.metric_name.split("-", 1)[1]
        return f"{base}-drain-seconds" if self.drain else base

    @property
    def target(self) -> float:
        return self.drain.target_drain_seconds if self.drain else float(self.trigger.lag_threshold)


def parse_metadata(metadata: Mapping[str, str], auth_params: Mapping[str, str]) -> ScalerConfig:
    """Parse like KEDA's Kafka scaler (same words), plus this server's own keys; every problem listed."""
    kafka_metadata = {k: v for k, v in metadata.items() if k not in _EXTERNAL_TRIGGER_KEYS}
    # KEDA's external scaler replaces each `xFromEnv` value by the resolved variable's value.
    resolved_env = {value: value for key, value in metadata.items() if key.endswith("FromEnv")}
    problems: list[Problem] = []
    trigger: KafkaTrigger | None = None
    try:
        trigger = parse_trigger(kafka_metadata, auth_params, resolved_env=resolved_env)
    except ConfigError as error:
        problems.extend(error.problems)
    drain, drain_problems = parse_drain_settings(metadata)
    problems.extend(drain_problems)
    stream_interval = None
    if metadata.get(STREAM_INTERVAL_KEY, "").strip():
        stream_interval = positive_seconds(metadata, STREAM_INTERVAL_KEY, problems)
    if problems or trigger is None:
        raise ConfigError(problems, title="invalid trigger metadata")
    return ScalerConfig(trigger, drain, stream_interval)


@dataclass(frozen=True)
class Evaluation:
    """One sample: KEDA's report, the drain estimate when asked for, and the value the HPA sees."""

    report: LagReport
    drain: DrainEstimate | None
    metric_value: float
    at: float


SourceFactory = Callable[[KafkaTrigger, Fixes, float], OffsetSource]


def kafka_source(trigger: KafkaTrigger, fixes: Fixes, timeout: float) -> OffsetSource:
    return KafkaOffsetSource.for_trigger(trigger, fixes, timeout=timeout)


class ScaledObjectScaler:
    """The scaler of one ScaledObject: offset source, persistent-lag history and rate meter."""

    def __init__(self, config: ScalerConfig, source: OffsetSource, clock: Clock, settings: ScalerSettings):
        self.config = config
        self.source = source
        self._clock = clock
        self._settings = settings
        self._calculator = LagCalculator(config.trigger, settings.fixes)
        window = config.drain.rate_window_seconds if config.drain else 1.0
        self._rate = ConsumeRateMeter(clock, window)
        self._lock = threading.Lock()
        self._last: Evaluation | None = None
        self.last_used = clock.now()

    def evaluate(self) -> Evaluation:
        """A fresh sample, or the previous one when it is younger than `reuse_seconds`."""
        with self._lock:
            now = self._clock.now()
            self.last_used = now
            if self._last is not None and now - self._last.at < self._settings.reuse_seconds:
                return self._last
            offsets = self.source.fetch()
            report = self._calculator.evaluate(offsets)
            rate = self._rate.observe(offsets)
            self._last = self._evaluation(report, rate, now)
            return self._last

    def _evaluation(self, report: LagReport, rate: float | None, now: float) -> Evaluation:
        drain_settings = self.config.drain
        if drain_settings is None:
            return Evaluation(report, None, float(report.metric), now)
        lag_threshold = self.config.trigger.lag_threshold
        drain = estimate_drain(report.total_lag, report.metric, lag_threshold, rate, drain_settings)
        return Evaluation(report, drain, round(drain.metric, 3), now)

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if callable(close):
            close()


class ScalerRegistry:
    """Scalers by (namespace, name, metadata hash): changed metadata means a new scaler, as in KEDA."""

    def __init__(self, settings: ScalerSettings, clock: Clock, source_factory: SourceFactory = kafka_source):
        self.settings = settings
        self._clock = clock
        self._source_factory = source_factory
        self._scalers: dict[tuple[str, str, str], ScaledObjectScaler] = {}
        self._lock = threading.Lock()

    def scaler_for(self, namespace: str, name: str, metadata: Mapping[str, str]) -> ScaledObjectScaler:
        key = (namespace, name, _metadata_hash(metadata))
        with self._lock:
            self._evict_idle()
            scaler = self._scalers.get(key)
            if scaler is None:
                config = parse_metadata(metadata, self.settings.auth_params)
                source = self._source_factory(
                    config.trigger, self.settings.fixes, self.settings.kafka_timeout
                )
                scaler = ScaledObjectScaler(config, source, self._clock, self.settings)
                self._scalers[key] = scaler
                log_event(
                    logger, "scaler_created", scaled_object=f"{namespace}/{name}", metric=config.metric_name
                )
            return scaler

    def evaluate(self, namespace: str, name: str, metadata: Mapping[str, str]) -> Evaluation:
        """Evaluate; after an offsets error the scaler is dropped so the next call rebuilds it
        (new client, empty history), which is what KEDA does with a failing scaler."""
        scaler = self.scaler_for(namespace, name, metadata)
        try:
            evaluation = scaler.evaluate()
        except BrokerError as error:
            self._drop(scaler)
            log_event(
                logger, "evaluation_failed", logging.WARNING, scaled_object=f"{namespace}/{name}", error=error
            )
            raise
        _log_evaluation(f"{namespace}/{name}", evaluation)
        return evaluation

    def _drop(self, scaler: ScaledObjectScaler) -> None:
        with self._lock:
            for key, known in list(self._scalers.items()):
                if known is scaler:
                    del self._scalers[key]
        scaler.close()

    def _evict_idle(self) -> None:
        """Forget scalers nobody asked about for a while (deleted or changed ScaledObjects)."""
        horizon = self._clock.now() - self.settings.idle_seconds
        for key, scaler in list(self._scalers.items()):
            if scaler.last_used < horizon:
                del self._scalers[key]
                scaler.close()

    def __len__(self) -> int:
        return len(self._scalers)


def _metadata_hash(metadata: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(metadata.items())).encode()).hexdigest()


def _log_evaluation(scaled_object: str, evaluation: Evaluation) -> None:
    report = evaluation.report
    fields: dict[str, Any] = {
        "scaled_object": scaled_object,
        "metric": evaluation.metric_value,
        "active": report.active,
        "total_lag": report.total_lag,
        "partitions": report.partition_count,
    }
    if evaluation.drain is not None:
        fields["reason"] = evaluation.drain.reason
    log_event(logger, "evaluated", **fields)
