"""One external scaler for 200 ScaledObjects, on the real broker, called the way KEDA's operator calls
it: the bounds of a cluster-wide scaler that the suite can check in seconds (the runs against the
real KEDA operator at 100 to 1000 ScaledObjects are bench/bench_fleet.py).

200 ScaledObjects, each with its own consumer group (five groups per topic, 40 topics of 6 to 12
partitions), committed behind the log end. A driver calls `lagscale serve-grpc` like KEDA does:
GetMetricSpec once, then GetMetrics + IsActive every polling interval, the 200 polls spread over the
interval. After a warm-up, over three polling intervals:
* every ScaledObject's metric is KEDA's for its offsets;
* the server holds one client's connections to the broker, not one per ScaledObject;
* the broker's own request log, per polling interval: Metadata and ListOffsets a few times (once per
  round), OffsetFetch about once per group: O(groups + brokers), where one client per ScaledObject
  (KEDA's kafka scaler) sends Metadata + OffsetFetch + ListOffsets for each of them;
* the server's memory stays small.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import psutil
import pytest
from broker_requests import BrokerRequestLog
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from offsets_helpers import env_without_connection_settings, produce

from lagscale.demo.local_broker import kafka_state_dir
from scaler.grpc.gen import externalscaler_pb2 as pb
from scaler.grpc.gen import externalscaler_pb2_grpc as pb_grpc
from scaler.keda.lag import LagCalculator, PartitionOffsets
from scaler.keda.trigger import parse_trigger

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

pytestmark = pytest.mark.kafka

SCALED_OBJECTS = 200
GROUPS_PER_TOPIC = 5
RECORDS = 10
POLLING_INTERVAL_S = 3.0
MEASURED_INTERVALS = 3
MAX_RSS_MIB = 150
CALL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ScaledObject:
    name: str
    topic: str
    group: str
    partitions: int

    def metadata(self, bootstrap: str) -> dict[str, str]:
        return {"scalerAddress": "lagscale:9090", "bootstrapServers": bootstrap, "consumerGroup": self.group,
                "topic": self.topic, "lagThreshold": "5"}  # fmt: skip

    def lag(self, partition: int) -> int:
        return (int(self.name.rsplit("-", 1)[1]) + partition) % 4

    def expected_metric(self, bootstrap: str) -> float:
        offsets = [
            PartitionOffsets(self.topic, p, RECORDS - self.lag(p), RECORDS) for p in range(self.partitions)
        ]
        return float(LagCalculator(parse_trigger(self.metadata(bootstrap))).evaluate(offsets).metric)


@pytest.fixture
def fleet(
    kafka: KafkaEndpoints, make_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> list[ScaledObject]:
    """200 ScaledObjects' topics and groups, with their lag committed (one request per group)."""
    objects = []
    for topic_index in range(SCALED_OBJECTS // GROUPS_PER_TOPIC):
        partitions = 6 + topic_index % 7
        topic = make_topic("fleet", partitions=partitions)
        produce(kafka.bootstrap, topic, dict.fromkeys(range(partitions), RECORDS))
        for member in range(GROUPS_PER_TOPIC):
            index = topic_index * GROUPS_PER_TOPIC + member
            objects.append(ScaledObject(f"so-{index}", topic, unique_name(f"fleet-{index}"), partitions))
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    futures = []
    for so in objects:
        offsets = [TopicPartition(so.topic, p, RECORDS - so.lag(p)) for p in range(so.partitions)]
        futures.append(admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(so.group, offsets)]))
    for future in futures:
        next(iter(future.values())).result(timeout=30)
    return objects


@pytest.fixture
def server(
    free_port: Callable[[], int], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """`lagscale serve-grpc` with its default settings, as one would run it for a cluster."""
    port, metrics_port, log = free_port(), free_port(), tmp_path / "serve-grpc.log"
    command = [sys.executable, "-m", "lagscale", "serve-grpc", "--listen", f"127.0.0.1:{port}",
               "--metrics-port", str(metrics_port)]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env_without_connection_settings()
        )
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        channel.close()
        yield process, f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    finally:
        process.terminate()
        process.wait(30)


class KedaLikeDriver:
    """Calls the server as KEDA's operator does for each ScaledObject (scale_handler: one
    GetMetricsAndActivity = GetMetrics then IsActive per poll), the polls spread over the interval."""

    def __init__(self, address: str, objects: list[ScaledObject], bootstrap: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.ExternalScalerStub(self.channel)
        self.refs = [
            pb.ScaledObjectRef(name=so.name, namespace="fleet", scalerMetadata=so.metadata(bootstrap))
            for so in objects
        ]
        self.metrics: dict[str, float] = {}

    def metric_specs(self) -> None:
        for ref in self.refs:
            assert self.stub.GetMetricSpec(ref, timeout=CALL_TIMEOUT_S).metricSpecs[0].targetSizeFloat == 5

    def poll(self, ref: pb.ScaledObjectRef) -> None:
        request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=f"kafka-{ref.scalerMetadata['topic']}")
        self.metrics[ref.name] = (
            self.stub.GetMetrics(request, timeout=CALL_TIMEOUT_S).metricValues[0].metricValueFloat
        )
        self.stub.IsActive(ref, timeout=CALL_TIMEOUT_S)

    def run(self, intervals: int) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            calls = []
            for interval in range(intervals):
                for index, ref in enumerate(self.refs):
                    due = started + (interval + index / len(self.refs)) * POLLING_INTERVAL_S
                    time.sleep(max(0.0, due - time.monotonic()))
                    calls.append(pool.submit(self.poll, ref))
            for call in calls:
                call.result(timeout=CALL_TIMEOUT_S)


def scrape(url: str) -> dict[str, float]:
    """The server's /metrics samples (they have no labels)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        lines = response.read().decode().splitlines()
    return {
        name: float(value) for name, value in (line.split(" ") for line in lines if not line.startswith("#"))
    }


def broker_sockets(pid: int, broker_port: int) -> list[psutil._common.pconn]:
    """The process's established TCP connections to the broker."""
    return [
        socket
        for socket in psutil.Process(pid).net_connections("tcp")
        if socket.raddr and socket.raddr.port == broker_port and socket.status == psutil.CONN_ESTABLISHED
    ]


def test_two_hundred_scaled_objects_share_one_client_and_batched_requests(
    kafka: KafkaEndpoints, fleet: list[ScaledObject], server: tuple[subprocess.Popen[bytes], str, str]
) -> None:
    process, address, metrics_url = server
    driver = KedaLikeDriver(address, fleet, kafka.bootstrap)
    driver.metric_specs()
    driver.run(intervals=2)  # warm-up: the clients connect, the server learns each one's rhythm
    request_log = kafka_state_dir() / "logs" / "requests.log"
    broker_port = int(kafka.bootstrap.rpartition(":")[2])
    with BrokerRequestLog(kafka.bootstrap, request_log) as broker:
        assert request_log.exists(), (
            f"no {request_log}: restart the broker with this checkout's scripts/kafka"
        )
        start, counted_before = broker.mark(), scrape(metrics_url)
        driver.run(intervals=MEASURED_INTERVALS)
        counted = scrape(metrics_url)
        sockets = broker_sockets(process.pid, broker_port)
        counts = broker.count_since(start, client_ports={c.laddr.port for c in sockets})
    rss_mib = psutil.Process(process.pid).memory_info().rss / 2**20

    wrong = {so.name: (driver.metrics.get(so.name), so.expected_metric(kafka.bootstrap)) for so in fleet
             if driver.metrics.get(so.name) != so.expected_metric(kafka.bootstrap)}  # fmt: skip
    assert not wrong, f"{len(wrong)} metrics differ from KEDA's (got, expected): {list(wrong.items())[:5]}"
    assert len(sockets) <= 3, f"one client, a few broker connections; got {len(sockets)}"
    per_interval = dict.fromkeys(("METADATA", "LIST_OFFSETS", "OFFSET_FETCH", "FIND_COORDINATOR"), 0.0)
    for (_, api), count in counts.items():
        per_interval[api] = per_interval.get(api, 0.0) + count / MEASURED_INTERVALS
    groups = len(fleet)
    # Bounds with room for a loaded machine (late polls can cost a round or a re-read); a client per
    # ScaledObject (KEDA's kafka scaler) sends Metadata + OffsetFetch + ListOffsets for each: 3 per group.
    assert per_interval["METADATA"] <= 5, per_interval  # once per round, not once per ScaledObject
    assert per_interval["LIST_OFFSETS"] <= 5, per_interval  # one broker: once per round
    assert groups * 0.9 <= per_interval["OFFSET_FETCH"] <= groups * 1.25, per_interval  # once per poll
    # librdkafka's coordinator cache keeps 11 groups, so most OffsetFetches need a FindCoordinator.
    assert per_interval["FIND_COORDINATOR"] <= per_interval["OFFSET_FETCH"], per_interval
    assert sum(per_interval.values()) <= 2.5 * groups + 10, per_interval
    assert rss_mib < MAX_RSS_MIB, f"server RSS {rss_mib:.0f} MiB"
    assert (counted["lagscale_grpc_scaled_objects"], counted["lagscale_grpc_connections_opened_total"]) == (
        groups,
        1,
    )
    # The scaler's own count (FindCoordinator is librdkafka's, not counted) against the broker's.
    own_count = (
        counted["lagscale_grpc_kafka_requests_total"] - counted_before["lagscale_grpc_kafka_requests_total"]
    )
    seen = sum(count for (_, api), count in counts.items() if api != "FIND_COORDINATOR")
    assert abs(own_count - seen) <= 0.1 * seen, (own_count, seen)
    print(f"per polling interval: {per_interval}; server RSS {rss_mib:.0f} MiB; {len(sockets)} sockets")
