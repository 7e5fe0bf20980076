"""One scaler per ScaledObject for the external-scaler server, built from the trigger metadata KEDA
forwards, and kept between calls the way KEDA keeps its own scaler instance: its parsed trigger,
its excludePersistentLag history and its consume-rate meter. Its offsets come from the rounds of
its connection (scaler.grpc.connections, scaler.grpc.rounds), shared with every other ScaledObject
on the same cluster and credentials.

No gRPC here: scaler.grpc.service maps these results and errors onto the wire.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kafkakit.errors import BrokerError, ConfigError, Problem
from kafkakit.logs import log_event
from scaler.grpc.auth_sets import AUTH_NAME_KEY, AuthSets
from scaler.grpc.connections import ConnectionPool
from scaler.grpc.drain_rate import (
    ConsumeRateMeter,
    DrainEstimate,
    DrainSettings,
    estimate_drain,
    parse_drain_settings,
    positive_seconds,
)
from scaler.grpc.rounds import Member
from scaler.kafka.connection import connection_from_trigger
from scaler.kafka.query import OffsetQuery
from scaler.keda.fixes import KEDA_EXACT, Fixes
from scaler.keda.lag import LagCalculator, LagReport
from scaler.keda.trigger import KafkaTrigger, parse_trigger
from scaler.loop.clock import Clock

logger = logging.getLogger("scaler.grpc")

STREAM_INTERVAL_KEY = "streamIntervalSeconds"
# Metadata KEDA forwards that belongs to the external trigger itself, not to the Kafka settings.
_EXTERNAL_TRIGGER_KEYS = ("scalerAddress", "enableTLS", AUTH_NAME_KEY)


@dataclass(frozen=True)
class ScalerSettings:
    """Server-wide settings; each ScaledObject's own come from its metadata."""

    fixes: Fixes = KEDA_EXACT
    kafka_timeout: float = 10.0
    stream_interval: float = 30.0
    reuse_seconds: float = 2.0
    """KEDA asks GetMetrics then IsActive for one poll: the pair, this close, shares one evaluation."""
    max_sample_age: float = 5.0
    """An evaluation uses offsets read at most this long ago (and after its previous one)."""
    forget_after_polls: float = 3.0
    """A ScaledObject not asked for within this many of its own polling intervals is gone..."""
    forget_min_seconds: float = 60.0
    """...but never sooner than this, ..."""
    idle_seconds: float = 600.0
    """...and one asked for only once (interval unknown) after this."""
    auth_params: Mapping[str, str] = field(default_factory=dict, repr=False)
    """TriggerAuthentication parameters (username, password, ca...): KEDA does not forward them."""
    auth_sets: AuthSets | None = None
    """Named credential sets, chosen by a trigger's `authName` (scaler.grpc.auth_sets)."""


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


Purpose = Literal["metrics", "activity"]
"""What a call asks for: GetMetrics, or IsActive / StreamIsActive."""


@dataclass(frozen=True)
class Evaluation:
    """One sample: KEDA's report, the drain estimate when asked for, and the value the HPA sees."""

    report: LagReport
    drain: DrainEstimate | None
    metric_value: float
    at: float
    sample_age: float
    """Seconds between the start of the round that read the offsets and this evaluation."""


class ScaledObjectScaler:
    """The scaler of one ScaledObject: its member of a connection's rounds, persistent-lag history
    and rate meter, and the rhythm in which KEDA asks for it."""

    def __init__(self, config: ScalerConfig, member: Member, clock: Clock, settings: ScalerSettings):
        self.config = config
        self.member = member
        self._clock = clock
        self._settings = settings
        self._calculator = LagCalculator(config.trigger, settings.fixes)
        window = config.drain.rate_window_seconds if config.drain else 1.0
        self._rate = ConsumeRateMeter(clock, window)
        self._lock = threading.Lock()
        self._last: Evaluation | None = None
        self._unpaired: Purpose | None = None
        self.last_used = clock.now()

    def evaluate(self, purpose: Purpose = "metrics") -> Evaluation:
        """A new evaluation; or, for the second call of KEDA's GetMetrics + IsActive pair within
        `reuse_seconds`, the first one's. One evaluation per poll, as KEDA's own scaler evaluates
        once per GetMetricsAndActivity: a sample read twice would make every partition look stuck."""
        with self._lock:
            now = self._clock.now()
            self.last_used = now
            last, pending = self._last, self._unpaired
            if (
                last is not None
                and pending not in (None, purpose)
                and now - last.at < self._settings.reuse_seconds
            ):
                self._unpaired = None
                return last
            self._unpaired = purpose
            sample = self.member.take()
            assert sample.offsets is not None  # take() raises the sample's error
            report = self._calculator.evaluate(sample.offsets)
            rate = self._rate.observe(sample.offsets, at=sample.taken_at)
            now = self._clock.now()  # after any wait for a round
            self._last = self._evaluation(report, rate, now, now - sample.taken_at)
            return self._last

    @property
    def last(self) -> Evaluation | None:
        return self._last

    def _evaluation(self, report: LagReport, rate: float | None, now: float, age: float) -> Evaluation:
        drain_settings = self.config.drain
        if drain_settings is None:
            return Evaluation(report, None, float(report.metric), now, age)
        lag_threshold = self.config.trigger.lag_threshold
        drain = estimate_drain(report.total_lag, report.metric, lag_threshold, rate, drain_settings)
        return Evaluation(report, drain, round(drain.metric, 3), now, age)

    def gone(self, now: float) -> bool:
        """KEDA stopped asking: deleted, changed (new metadata, new scaler) or moved to another
        server. Judged by its own rhythm: the longest recent gap between its evaluations."""
        settings = self._settings
        gaps = self.member.gaps
        if gaps:
            horizon = max(settings.forget_after_polls * max(gaps), settings.forget_min_seconds)
        else:
            horizon = settings.idle_seconds
        return now - self.last_used > horizon


class ScalerRegistry:
    """Scalers by (namespace, name, metadata hash): changed metadata means a new scaler, as in KEDA.
    Their offsets come from `pool`, one shared client per connection."""

    def __init__(self, settings: ScalerSettings, clock: Clock, pool: ConnectionPool):
        self.settings = settings
        self.pool = pool
        self._clock = clock
        self._scalers: dict[tuple[str, str, str], ScaledObjectScaler] = {}
        self._lock = threading.Lock()
        self.evaluations = 0
        self.failures = 0

    def scaler_for(self, namespace: str, name: str, metadata: Mapping[str, str]) -> ScaledObjectScaler:
        key = (namespace, name, _metadata_hash(metadata))
        with self._lock:
            scaler = self._scalers.get(key)
            if scaler is None:
                scaler = self._build(namespace, metadata)
                self._scalers[key] = scaler
                log_event(
                    logger,
                    "scaler_created",
                    scaled_object=f"{namespace}/{name}",
                    metric=scaler.config.metric_name,
                    connection=scaler.member.scheduler.name,
                )
            scaler.last_used = self._clock.now()  # asked for: not gone, even before it evaluates
            return scaler

    def _build(self, namespace: str, metadata: Mapping[str, str]) -> ScaledObjectScaler:
        auth_params = self.settings.auth_params
        if self.settings.auth_sets is not None or metadata.get(AUTH_NAME_KEY, "").strip():
            auth_params = AuthSets.params_for(self.settings.auth_sets, namespace, metadata, auth_params)
        config = parse_metadata(metadata, auth_params)
        query = OffsetQuery.for_trigger(config.trigger, self.settings.fixes)
        member = self.pool.join(connection_from_trigger(config.trigger), query)
        return ScaledObjectScaler(config, member, self._clock, self.settings)

    def evaluate(
        self, namespace: str, name: str, metadata: Mapping[str, str], purpose: Purpose = "metrics"
    ) -> Evaluation:
        """Evaluate; after an offsets error the scaler is dropped so the next call rebuilds it
        (empty history, credentials read again), which is what KEDA does with a failing scaler."""
        scaler = self.scaler_for(namespace, name, metadata)
        earlier = scaler.last
        try:
            evaluation = scaler.evaluate(purpose)
        except BrokerError as error:
            self.failures += 1
            self._drop(scaler)
            log_event(
                logger, "evaluation_failed", logging.WARNING, scaled_object=f"{namespace}/{name}", error=error
            )
            raise
        if evaluation is not earlier:  # one line per poll, not one per call
            self.evaluations += 1
            _log_evaluation(f"{namespace}/{name}", evaluation)
        return evaluation

    def sweep(self) -> int:
        """Forget the scalers KEDA no longer asks for (their clients close with the last one);
        returns how many were forgotten."""
        now = self._clock.now()
        with self._lock:
            gone = {key: scaler for key, scaler in self._scalers.items() if scaler.gone(now)}
            for key in gone:
                del self._scalers[key]
        for (namespace, name, _), scaler in gone.items():
            self.pool.leave(scaler.member)
            log_event(logger, "scaler_forgotten", scaled_object=f"{namespace}/{name}")
        return len(gone)

    def close(self) -> None:
        with self._lock:
            self._scalers.clear()
        self.pool.close()

    def _drop(self, scaler: ScaledObjectScaler) -> None:
        with self._lock:
            keys = [key for key, known in self._scalers.items() if known is scaler]
            for key in keys:
                del self._scalers[key]
        if keys:
            self.pool.leave(scaler.member)

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
        "sample_age": round(evaluation.sample_age, 3),
    }
    if evaluation.drain is not None:
        fields["reason"] = evaluation.drain.reason
    log_event(logger, "evaluated", **fields)
