"""scaler.grpc.scalers and .connections: one scaler per ScaledObject, one shared client per
connection, when a ScaledObject is gone, credential sets; on fake time with in-memory readers (the
gRPC wire and the real broker are in tests/kafka)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkakit.errors import ConfigError
from scaler.errors import OffsetsError
from scaler.grpc.auth_sets import AuthSets
from scaler.grpc.connections import ConnectionPool
from scaler.grpc.metrics import ServerMetrics
from scaler.grpc.rounds import FakeBatchReader
from scaler.grpc.scalers import ScalerRegistry, ScalerSettings
from scaler.kafka.connection import KafkaConnection
from scaler.keda.lag import PartitionOffsets
from scaler.loop.clock import FakeClock

METADATA = {"bootstrapServers": "k:9092", "consumerGroup": "g", "topic": "t", "lagThreshold": "10"}


class Readers:
    """The reader factory: one FakeBatchReader per connection opened, offsets set per group."""

    def __init__(self) -> None:
        self.built: list[tuple[KafkaConnection, FakeBatchReader]] = []
        self.offsets: dict[str, list[PartitionOffsets]] = {"g": [PartitionOffsets("t", 0, 0, 5)]}

    def __call__(self, connection: KafkaConnection, timeout: float) -> FakeBatchReader:
        reader = FakeBatchReader()
        reader.offsets = self.offsets  # shared: tests change offsets for every connection at once
        self.built.append((connection, reader))
        return reader

    @property
    def readers(self) -> list[FakeBatchReader]:
        return [reader for _, reader in self.built]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def readers() -> Readers:
    return Readers()


def registry(clock: FakeClock, readers: Readers, **settings: object) -> ScalerRegistry:
    config = ScalerSettings(**settings)  # type: ignore[arg-type]
    pool = ConnectionPool(clock, timeout=1.0, max_age=config.max_sample_age, reader_factory=readers)
    return ScalerRegistry(config, clock, pool)


def test_one_scaler_per_scaled_object_and_metadata(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers)
    first = scalers.scaler_for("ns", "a", METADATA)
    assert scalers.scaler_for("ns", "a", dict(METADATA)) is first
    assert scalers.scaler_for("other", "a", METADATA) is not first
    assert scalers.scaler_for("ns", "a", {**METADATA, "lagThreshold": "20"}) is not first
    assert len(scalers) == 3


def test_scaled_objects_on_one_connection_share_one_client(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers)
    for name in ("a", "b", "c"):
        scalers.evaluate("ns", name, {**METADATA, "consumerGroup": name})
    scalers.evaluate("ns", "elsewhere", {**METADATA, "bootstrapServers": "other:9092"})
    scalers.evaluate("ns", "tls", {**METADATA, "tls": "enable"})
    assert len(readers.built) == 3  # k:9092 plain, other:9092, k:9092 with TLS
    shared = readers.readers[0]
    assert shared.reads[0] == ["a"]  # the first ScaledObject's round: the others joined after it
    assert [stats.members for stats in scalers.pool.stats()] == [3, 1, 1]


def test_keda_s_get_metrics_and_is_active_pair_shares_one_evaluation(
    clock: FakeClock, readers: Readers
) -> None:
    scalers = registry(clock, readers, reuse_seconds=2.0)
    first = scalers.evaluate("ns", "a", METADATA, "metrics")
    clock.advance(0.01)
    assert scalers.evaluate("ns", "a", METADATA, "activity") is first  # the pair: one poll
    second = scalers.evaluate("ns", "a", METADATA, "metrics")  # the next poll, however soon
    assert second is not first
    clock.advance(2.5)
    assert scalers.evaluate("ns", "a", METADATA, "activity") is not second  # too late to pair
    assert scalers.evaluate("ns", "a", METADATA, "activity") is not second  # only one of a kind pairs
    assert len(readers.readers[0].reads) == 4


def test_persistent_lag_history_is_per_scaled_object(clock: FakeClock, readers: Readers) -> None:
    """Two ScaledObjects on the same group and topic share reads, never their history: each
    compares its own successive samples, as each KEDA scaler instance does."""
    scalers = registry(clock, readers, reuse_seconds=0.0)
    metadata = {**METADATA, "excludePersistentLag": "true"}
    assert scalers.evaluate("ns", "a", metadata).metric_value == 5
    assert scalers.evaluate("ns", "a", metadata).metric_value == 0  # a's second sample: stuck
    assert scalers.evaluate("ns", "b", metadata).metric_value == 5  # b's first sample
    assert scalers.evaluate("ns", "b", metadata).report.active is True  # stuck lag still counts


def test_an_offsets_error_rebuilds_only_that_scaler(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers, reuse_seconds=0.0)
    scalers.evaluate("ns", "a", METADATA)
    other = scalers.scaler_for("ns", "b", {**METADATA, "consumerGroup": "h"})
    readers.offsets["h"] = []
    readers.readers[0].errors["g"] = OffsetsError("group coordinator moved", retriable=True)
    with pytest.raises(OffsetsError, match="coordinator moved"):
        scalers.evaluate("ns", "a", METADATA)
    assert scalers.scaler_for("ns", "b", {**METADATA, "consumerGroup": "h"}) is other
    del readers.readers[0].errors["g"]
    assert scalers.evaluate("ns", "a", METADATA).report.total_lag == 5  # a new scaler
    assert len(readers.built) == 1  # the shared client stayed: b still uses it


def test_a_scaled_object_is_gone_after_three_of_its_own_polling_intervals(
    clock: FakeClock, readers: Readers
) -> None:
    scalers = registry(clock, readers, reuse_seconds=0.0, forget_min_seconds=10.0)
    for _ in range(3):
        scalers.evaluate("ns", "a", METADATA)  # polls every 30 s
        clock.advance(30)
    clock.advance(30)  # 60 s since the last poll: 2 intervals
    assert scalers.sweep() == 0
    clock.advance(31)  # 91 s: more than 3 intervals
    assert scalers.sweep() == 1
    assert readers.readers[0].closed  # its last ScaledObject gone: the client is closed
    assert scalers.pool.stats() == []


def test_a_fast_poller_is_kept_for_the_minimum(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers, reuse_seconds=0.0, forget_min_seconds=60.0)
    for _ in range(3):
        scalers.evaluate("ns", "a", METADATA)  # every second
        clock.advance(1)
    clock.advance(30)
    assert scalers.sweep() == 0
    clock.advance(31)
    assert scalers.sweep() == 1


def test_a_scaled_object_asked_once_is_kept_for_the_idle_time(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers, idle_seconds=600.0)
    scalers.evaluate("ns", "a", METADATA)
    scalers.evaluate("ns", "b", {**METADATA, "consumerGroup": "h"})
    clock.advance(599)
    assert scalers.sweep() == 0
    clock.advance(2)
    assert scalers.sweep() == 2
    assert readers.readers[0].closed


def test_the_client_stays_open_while_one_scaled_object_uses_it(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers, idle_seconds=100.0)
    scalers.evaluate("ns", "old", METADATA)
    clock.advance(60)
    scalers.evaluate("ns", "new", METADATA)
    clock.advance(50)
    assert scalers.sweep() == 1
    assert not readers.readers[0].closed
    assert [stats.members for stats in scalers.pool.stats()] == [1]


def test_drain_mode_value_is_milli_rounded(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers, reuse_seconds=0.0)
    metadata = {**METADATA, "targetDrainSeconds": "60", "allowIdleConsumers": "true"}
    scalers.evaluate("ns", "a", metadata)
    clock.advance(3)
    readers.offsets["g"] = [PartitionOffsets("t", 0, 1, 5)]  # 1 record in 3 s, 4 left -> 12 s
    assert scalers.evaluate("ns", "a", metadata).metric_value == 12.0
    clock.advance(3)
    readers.offsets["g"] = [PartitionOffsets("t", 0, 1, 6)]
    evaluation = scalers.evaluate("ns", "a", metadata)
    assert evaluation.drain is not None
    assert evaluation.drain.rate is not None
    assert evaluation.metric_value == round(5 / evaluation.drain.rate, 3)
    assert evaluation.metric_value != 5 / evaluation.drain.rate  # more digits than milli before rounding


def write_set(root: Path, namespace: str, name: str, password: str) -> None:
    directory = root / namespace / name
    directory.mkdir(parents=True)
    for key, value in {"sasl": "plaintext", "username": "app", "password": password}.items():
        (directory / key).write_text(value + "\n")


def test_auth_name_picks_a_credential_set_of_the_scaled_objects_namespace(
    clock: FakeClock, readers: Readers, tmp_path: Path
) -> None:
    write_set(tmp_path, "team-a", "kafka", "secret-a")
    write_set(tmp_path, "team-b", "kafka", "secret-b")
    scalers = registry(clock, readers, auth_sets=AuthSets(tmp_path))
    with_auth = {**METADATA, "authName": "kafka"}
    scalers.evaluate("team-a", "a", with_auth)
    scalers.evaluate("team-b", "b", with_auth)
    scalers.evaluate("team-a", "plain", METADATA)
    passwords = [connection.profile.password for connection, _ in readers.built]
    assert passwords == ["secret-a", "secret-b", ""]  # three connections: credentials differ
    with pytest.raises(ConfigError, match="no credential set 'kafka' for namespace 'team-c'"):
        scalers.scaler_for("team-c", "c", with_auth)
    with pytest.raises(ConfigError, match="not a credential set name"):
        scalers.scaler_for("team-a", "d", {**METADATA, "authName": "../team-b/kafka"})


def test_auth_name_without_auth_sets_is_a_clear_error(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers)
    with pytest.raises(ConfigError, match="started without --auth-sets") as caught:
        scalers.scaler_for("ns", "a", {**METADATA, "authName": "kafka"})
    assert caught.value.keda_problems[0].startswith('"authName"')


def test_server_metrics_count_scaled_objects_clients_and_rounds(clock: FakeClock, readers: Readers) -> None:
    scalers = registry(clock, readers, reuse_seconds=0.0)
    scalers.evaluate("ns", "a", METADATA)
    scalers.evaluate("ns", "b", {**METADATA, "bootstrapServers": "other:9092"})
    readers.readers[1].failure = OffsetsError("cannot reach Kafka", retriable=True)
    with pytest.raises(OffsetsError):
        scalers.evaluate("ns", "b", {**METADATA, "bootstrapServers": "other:9092"})
    text = ServerMetrics(scalers).render().decode()
    samples = [line.split(" ") for line in text.splitlines() if not line.startswith("#")]
    values = {name: float(value) for name, value in samples}
    assert values["lagscale_grpc_scaled_objects"] == 1  # b was dropped after its error
    assert values["lagscale_grpc_connections"] == 1  # and its client closed with it
    assert values["lagscale_grpc_connections_opened_total"] == 2
    assert values["lagscale_grpc_evaluations_total"] == 2
    assert values["lagscale_grpc_evaluation_errors_total"] == 1
    assert values["lagscale_grpc_rounds_total"] == 3
    assert values["lagscale_grpc_kafka_requests_total"] == 3 + 3  # FakeBatchReader: 2 + groups per read
