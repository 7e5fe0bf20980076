"""The KEDA External Scaler gRPC server, called through a real gRPC channel with the generated stub,
against the real local broker: the answers KEDA would get for lag we produce and commit here."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest
from offsets_helpers import commit, produce

from scaler.grpc.gen import externalscaler_pb2 as pb
from scaler.grpc.gen import externalscaler_pb2_grpc as pb_grpc
from scaler.grpc.scalers import ScalerSettings
from scaler.grpc.service import ExternalScalerService, start_server
from scaler.keda.lag import LagCalculator, PartitionOffsets
from scaler.keda.trigger import parse_trigger
from scaler.loop.clock import FakeClock

pytestmark = pytest.mark.kafka
CALL_TIMEOUT_S = 30.0


@dataclass
class ScalerClient:
    stub: pb_grpc.ExternalScalerStub
    service: ExternalScalerService
    namespace: str

    def ref(self, metadata: dict[str, str], name: str = "orders") -> pb.ScaledObjectRef:
        return pb.ScaledObjectRef(name=name, namespace=self.namespace, scalerMetadata=metadata)

    def active(self, metadata: dict[str, str]) -> bool:
        return bool(self.stub.IsActive(self.ref(metadata), timeout=CALL_TIMEOUT_S).result)

    def metric(self, metadata: dict[str, str], metric_name: str = "") -> pb.MetricValue:
        request = pb.GetMetricsRequest(scaledObjectRef=self.ref(metadata), metricName=metric_name)
        values = self.stub.GetMetrics(request, timeout=CALL_TIMEOUT_S).metricValues
        assert len(values) == 1
        return values[0]

    def spec(self, metadata: dict[str, str]) -> pb.MetricSpec:
        specs = self.stub.GetMetricSpec(self.ref(metadata), timeout=CALL_TIMEOUT_S).metricSpecs
        assert len(specs) == 1
        return specs[0]


def serve(unique_name: Callable[[str], str], **settings: object) -> Iterator[ScalerClient]:
    clock = settings.pop("clock", None)
    service = ExternalScalerService(ScalerSettings(**settings), clock=clock)  # type: ignore[arg-type]
    server, port = start_server(service, "127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield ScalerClient(pb_grpc.ExternalScalerStub(channel), service, unique_name("ns"))
    finally:
        channel.close()
        server.stop(grace=None).wait()
        service.close()


@pytest.fixture
def client(unique_name: Callable[[str], str]) -> Iterator[ScalerClient]:
    # reuse 0, max sample age 0: every call reads, so each assertion sees the offsets as they are now
    yield from serve(unique_name, reuse_seconds=0.0, max_sample_age=0.0, kafka_timeout=5.0)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client_on_fake_time(unique_name: Callable[[str], str], fake_clock: FakeClock) -> Iterator[ScalerClient]:
    yield from serve(unique_name, reuse_seconds=0.0, max_sample_age=0.0, kafka_timeout=5.0, clock=fake_clock)


def kafka_metadata(bootstrap: str, group: str, topic: str, **extra: str) -> dict[str, str]:
    return {"scalerAddress": "lagscale:6000", "bootstrapServers": bootstrap, "consumerGroup": group,
            "topic": topic, **extra}  # fmt: skip


def status_of(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_answers_match_keda_semantics_for_produced_minus_committed(kafka, make_topic, unique_name, client):
    topic, group = make_topic("grpc", partitions=3), unique_name("group")
    produced = {0: 30, 1: 20, 2: 10}
    committed = {0: 10, 1: 20, 2: 4}
    produce(kafka.bootstrap, topic, produced)
    commit(kafka.bootstrap, group, {(topic, p): offset for p, offset in committed.items()})
    metadata = kafka_metadata(kafka.bootstrap, group, topic, lagThreshold="10")

    spec = client.spec(metadata)
    assert (spec.metricName, spec.targetSizeFloat) == (f"kafka-{topic}", 10.0)
    value = client.metric(metadata, spec.metricName)
    offsets = [PartitionOffsets(topic, p, committed[p], produced[p]) for p in produced]
    expected = LagCalculator(parse_trigger(metadata)).evaluate(offsets).metric
    assert value.metricValueFloat == expected == sum(produced.values()) - sum(committed.values()) == 26
    assert value.metricName == spec.metricName
    assert client.active(metadata) is True

    # lagThreshold 5 on 3 partitions: KEDA caps 26 at 3 x 5 (another metadata = another scaler)
    capped = kafka_metadata(kafka.bootstrap, group, topic, lagThreshold="5")
    assert (
        client.metric(capped).metricValueFloat
        == LagCalculator(parse_trigger(capped)).evaluate(offsets).metric
    )
    assert client.metric(capped).metricValueFloat == 15

    commit(kafka.bootstrap, group, {(topic, p): end for p, end in produced.items()})
    assert client.metric(metadata).metricValueFloat == 0
    assert client.active(metadata) is False


def test_activation_threshold_decides_is_active(kafka, make_topic, unique_name, client):
    topic, group = make_topic("grpc-act"), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 8})
    commit(kafka.bootstrap, group, {(topic, 0): 0})
    metadata = kafka_metadata(kafka.bootstrap, group, topic, activationLagThreshold="8")
    assert client.metric(metadata).metricValueFloat == 8
    assert client.active(metadata) is False  # KEDA: active only when lag > activationLagThreshold
    produce(kafka.bootstrap, topic, {0: 1})
    assert client.active(metadata) is True


def test_invalid_metadata_is_invalid_argument_listing_every_problem(kafka, client):
    bad = {"bootstrapServers": kafka.bootstrap, "lagThreshold": "many", "targetDrainSeconds": "0"}
    calls = [
        lambda: client.spec(bad),
        lambda: client.active(bad),
        lambda: client.metric(bad),
    ]
    for call in calls:
        error = status_of(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = error.details()
        assert 'missing required parameter "consumerGroup"' in details
        assert '"lagThreshold" value "many"' in details
        assert '"targetDrainSeconds" must be a positive number' in details


def test_unknown_metric_name_is_not_found(kafka, make_topic, unique_name, client):
    metadata = kafka_metadata(kafka.bootstrap, unique_name("group"), make_topic("grpc-name"))
    error = status_of(lambda: client.metric(metadata, "kafka-some-other-topic"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "kafka-some-other-topic" in error.details()


def test_unknown_topic_is_unavailable_and_the_server_keeps_serving(kafka, make_topic, unique_name, client):
    missing = kafka_metadata(kafka.bootstrap, unique_name("group"), unique_name("no-such-topic"))
    error = status_of(lambda: client.metric(missing))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "does not exist" in error.details()
    assert status_of(lambda: client.active(missing)).code() == grpc.StatusCode.UNAVAILABLE

    topic, group = make_topic("grpc-after"), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 3})
    commit(kafka.bootstrap, group, {(topic, 0): 1})
    assert client.metric(kafka_metadata(kafka.bootstrap, group, topic)).metricValueFloat == 2


def test_unreachable_broker_is_unavailable(free_port, unique_name, client):
    nowhere = kafka_metadata(f"127.0.0.1:{free_port()}", unique_name("group"), "orders")
    error = status_of(lambda: client.active(nowhere))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot reach Kafka" in error.details()


def test_stream_is_active_pushes_each_change(kafka, make_topic, unique_name, client):
    topic, group = make_topic("grpc-stream"), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 5})
    commit(kafka.bootstrap, group, {(topic, 0): 0})
    metadata = kafka_metadata(kafka.bootstrap, group, topic, streamIntervalSeconds="0.2")
    stream = client.stub.StreamIsActive(client.ref(metadata), timeout=CALL_TIMEOUT_S)
    try:
        assert next(stream).result is True
        commit(kafka.bootstrap, group, {(topic, 0): 5})
        assert next(stream).result is False  # sent once, on the change
        produce(kafka.bootstrap, topic, {0: 1})
        assert next(stream).result is True
    finally:
        stream.cancel()


def test_drain_seconds_target_uses_the_measured_consume_rate(
    kafka, make_topic, unique_name, client_on_fake_time, fake_clock
):
    client = client_on_fake_time
    topic, group = make_topic("grpc-drain", partitions=2), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 600, 1: 400})
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0})
    metadata = kafka_metadata(kafka.bootstrap, group, topic, lagThreshold="100", targetDrainSeconds="60",
                              allowIdleConsumers="true")  # fmt: skip

    spec = client.spec(metadata)
    assert (spec.metricName, spec.targetSizeFloat) == (f"kafka-{topic}-drain-seconds", 60.0)
    # no rate yet: KEDA's lag metric (1000) with each lagThreshold (100) counted as 60 s
    assert client.metric(metadata, spec.metricName).metricValueFloat == 600.0

    fake_clock.advance(10)
    commit(kafka.bootstrap, group, {(topic, 0): 150, (topic, 1): 50})  # 200 records in 10 s
    # 800 records left at 20 records/s
    assert client.metric(metadata, spec.metricName).metricValueFloat == 40.0
    assert client.active(metadata) is True


@pytest.fixture
def client_reusing_on_fake_time(
    unique_name: Callable[[str], str], fake_clock: FakeClock
) -> Iterator[ScalerClient]:
    yield from serve(unique_name, reuse_seconds=2.0, max_sample_age=0.0, kafka_timeout=5.0, clock=fake_clock)


def test_persistent_lag_history_lives_across_calls_like_a_keda_scaler(
    kafka, make_topic, unique_name, client_reusing_on_fake_time, fake_clock
):
    client = client_reusing_on_fake_time
    topic, group = make_topic("grpc-persist", partitions=2), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 10, 1: 10})
    commit(kafka.bootstrap, group, {(topic, 0): 4, (topic, 1): 2})
    metadata = kafka_metadata(kafka.bootstrap, group, topic, excludePersistentLag="true")

    # KEDA's poll = GetMetrics then IsActive: one evaluation answers both (else the pair alone
    # would make every partition look stuck)
    assert client.metric(metadata).metricValueFloat == 14
    assert client.active(metadata) is True
    fake_clock.advance(30)
    commit(kafka.bootstrap, group, {(topic, 1): 5})
    # p0 did not move: excluded from the metric, still counted for activity (semantics 2.3 step 4)
    assert client.metric(metadata).metricValueFloat == 5
    assert client.active(metadata) is True
    fake_clock.advance(30)
    assert client.metric(metadata).metricValueFloat == 0
    assert client.active(metadata) is True
    # the next GetMetrics is the next poll, however soon: a new evaluation, as in KEDA
    commit(kafka.bootstrap, group, {(topic, 0): 6})
    assert client.metric(metadata).metricValueFloat == 4


def test_cli_serves_until_sigterm(kafka, make_topic, unique_name, free_port, wait_until):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lagscale", "serve-grpc", "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        topic, group = make_topic("grpc-cli"), unique_name("group")
        produce(kafka.bootstrap, topic, {0: 4})
        commit(kafka.bootstrap, group, {(topic, 0): 1})
        stub = pb_grpc.ExternalScalerStub(channel)
        ref = pb.ScaledObjectRef(
            name="cli", namespace="ns", scalerMetadata=kafka_metadata(kafka.bootstrap, group, topic)
        )
        request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=f"kafka-{topic}")
        assert stub.GetMetrics(request, timeout=CALL_TIMEOUT_S).metricValues[0].metricValueFloat == 3
        second = subprocess.run(
            [sys.executable, "-m", "lagscale", "serve-grpc", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    finally:
        channel.close()
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "grpc_stopped" in stderr
