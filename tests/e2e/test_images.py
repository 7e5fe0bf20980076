"""The three container images, built for real (`scripts/images build`: docker, else buildah) and run
against the real local broker the way the tutorial runs them (`docker run -e KAFKA_EVENTHUB_...`).

The build is a session fixture; unchanged inputs reuse cached layers, so a warm run takes seconds.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from kafkakit.events import Event, decode_event, encode_event

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]

IMAGES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "images"
BUILD_TIMEOUT_S = 900
RUN_TIMEOUT_S = 120
EVENTS = 20
# Uncompressed sizes the images must stay under (measured: see docs/images.md).
SIZE_BUDGET_MB = {"producer": 250, "consumer": 250, "scaler": 450}
# What the manifests run in each image (`command: ["lagscale", ...]`).
SUBCOMMANDS = {"producer": "produce", "consumer": "consume", "scaler": "scale"}

WaitUntil = Callable[[Callable[[], bool], float, str], None]


@dataclass(frozen=True)
class BuiltImages:
    seconds: float


def images(*args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(IMAGES_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def run_args(image: str, args: list[str], env: dict[str, str], volumes: tuple[str, ...] = ()) -> list[str]:
    """`scripts/images run` arguments: the `docker run -e ... -v ... IMAGE ARGS` shape."""
    options = [item for name, value in env.items() for item in ("-e", f"{name}={value}")]
    options += [item for volume in volumes for item in ("-v", volume)]
    return ["run", *options, image, "--", *args]


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="session")
def built_images() -> BuiltImages:
    """All three images; a build that fails fails every test here (it is never skipped)."""
    start = time.monotonic()
    result = images("build", timeout=BUILD_TIMEOUT_S)
    assert result.returncode == 0, f"scripts/images build failed: {explain(result)}"
    return BuiltImages(seconds=time.monotonic() - start)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def produce_events(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for number in range(count):
        producer.produce(topic, key=str(number % 7), value=encode_event(Event.new(number, "test-images")))
    assert producer.flush(30) == 0, "test events were not delivered"


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{topic}-check", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value() or b"")
    finally:
        consumer.close()
    return values


def committed_total(bootstrap: str, topic: str, group: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return sum(max(tp.offset, 0) for tp in offsets)


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except (urllib.error.URLError, OSError):
        return 0


@pytest.mark.parametrize("image", sorted(SUBCOMMANDS))
def test_image_runs_as_non_root(built_images: BuiltImages, image: str) -> None:
    result = images("run", "--entrypoint", "id", image, "--", "-u")
    assert result.returncode == 0, explain(result)
    uid = result.stdout.strip()
    assert uid.isdigit(), f"unexpected `id -u` output: {uid!r}"
    assert int(uid) != 0, f"{image} runs as root"


@pytest.mark.parametrize("image", sorted(SUBCOMMANDS))
def test_manifest_command_is_on_path(built_images: BuiltImages, image: str) -> None:
    """The rendered manifests run `lagscale <subcommand>`, not the image's entry point."""
    result = images("run", "--entrypoint", "lagscale", image, "--", SUBCOMMANDS[image], "--help")
    assert result.returncode == 0, explain(result)
    assert f"lagscale {SUBCOMMANDS[image]}" in result.stdout


@pytest.mark.parametrize("image", sorted(SUBCOMMANDS))
def test_image_stays_small(built_images: BuiltImages, image: str) -> None:
    result = images("sizes")
    assert result.returncode == 0, explain(result)
    line = next((row for row in result.stdout.splitlines() if f"lagscale-{image}:" in row), "")
    size = re.search(r"\s([\d.]+)\s*([kMG]B)$", line)  # "210 MB" (buildah) or "210MB" (docker)
    assert size, f"no size for {image} in: {result.stdout!r}"
    megabytes = float(size[1]) * {"kB": 1e-3, "MB": 1.0, "GB": 1e3}[size[2]]
    assert megabytes < SIZE_BUDGET_MB[image], f"{image} image is {megabytes:.0f} MB"


def test_producer_image_the_tutorial_way(
    built_images: BuiltImages, kafka: KafkaEndpoints, make_topic: Callable[..., str]
) -> None:
    """`docker run -e KAFKA_EVENTHUB_ENDPOINT -e ..._CONNECTION_STRING -e ..._TOPIC`, over SASL_SSL
    with `$ConnectionString` as the user, against the broker's Event-Hubs-shaped listener."""
    topic = make_topic("images-producer", partitions=3)
    env = {
        "KAFKA_EVENTHUB_ENDPOINT": kafka.bootstrap_ssl,
        "KAFKA_EVENTHUB_CONNECTION_STRING": kafka.eventhubs_connection_string,
        "KAFKA_EVENTHUB_TOPIC": topic,
        "LAGSCALE_CA_FILE": "/ca.pem",
    }
    args = run_args("producer", ["--count", str(EVENTS)], env, volumes=(f"{kafka.ca_file}:/ca.pem:ro",))
    result = images(*args)
    assert result.returncode == 0, explain(result)
    assert f"delivered={EVENTS}" in result.stderr + result.stdout
    output = result.stdout + result.stderr
    assert kafka.eventhubs_connection_string not in output, "the connection string leaked into the output"
    events = [decode_event(value) for value in consume_all(kafka.bootstrap, topic, EVENTS)]
    assert sorted(event.sequence for event in events) == list(range(EVENTS))


def test_consumer_image_serves_health_and_consumes(
    built_images: BuiltImages,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: WaitUntil,
) -> None:
    topic = make_topic("images-consumer", partitions=2)
    dlq_topic = make_topic("images-consumer-dlq")
    group = unique_name("images-group")
    produce_events(kafka.bootstrap, topic, EVENTS)
    port = free_port()
    env = {
        "KAFKA_EVENTHUB_ENDPOINT": kafka.bootstrap_ssl,
        "KAFKA_EVENTHUB_PASSWORD": kafka.eventhubs_connection_string,  # the tutorial consumer's name
        "KAFKA_EVENTHUB_CONSUMER_GROUP": group,
        "KAFKA_EVENTHUB_TOPIC": topic,
        "LAGSCALE_CA_FILE": "/ca.pem",
    }
    args = [
        *("--metrics-host", "127.0.0.1", "--metrics-port", str(port)),
        *("--max-events", str(EVENTS), "--process-time", "0.25", "--dlq-topic", dlq_topic),
    ]
    command = [str(IMAGES_SCRIPT), *run_args("consumer", args, env, (f"{kafka.ca_file}:/ca.pem:ro",))]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            wait_until(
                lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200, 60, "consumer /healthz"
            )
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.terminate()
                process.communicate(timeout=30)
    assert process.returncode == 0, f"exit {process.returncode}\n{stdout[-2000:]}\n{stderr[-3000:]}"
    assert f"processed={EVENTS}" in stdout + stderr
    assert committed_total(kafka.bootstrap, topic, group, partitions=2) == EVENTS


def test_consumer_image_stops_cleanly_on_sigterm(
    built_images: BuiltImages,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: WaitUntil,
) -> None:
    """SIGTERM to `scripts/images run` reaches the consumer like `docker stop`: it commits, leaves
    the group and exits 0 (buildah alone would SIGKILL it)."""
    topic = make_topic("images-sigterm")
    group = unique_name("images-sigterm-group")
    produce_events(kafka.bootstrap, topic, 5)
    env = {"KAFKA_EVENTHUB_ENDPOINT": kafka.bootstrap, "KAFKA_EVENTHUB_CONSUMER_GROUP": group}
    args = ["--topic", topic, "--process-time", "0", "--commit-interval", "0.5", "--dlq-topic", topic]
    command = [str(IMAGES_SCRIPT), *run_args("consumer", [*args, "--metrics-port", "0"], env)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            wait_until(lambda: committed_total(kafka.bootstrap, topic, group, 1) == 5, 60, "5 commits")
            process.terminate()
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
    assert process.returncode == 0, f"exit {process.returncode}\n{stdout[-2000:]}\n{stderr[-3000:]}"
    assert "event=summary processed=5" in stdout + stderr


def test_scaler_image_dry_run_once(
    built_images: BuiltImages,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    """A group that never committed, 20 events on 2 partitions, lagThreshold 10: 0 -> 1 -> 2."""
    topic = make_topic("images-scaler", partitions=2)
    produce_events(kafka.bootstrap, topic, EVENTS)
    group = unique_name("images-scaler-group")
    args = [
        *("--bootstrap", kafka.bootstrap, "--group", group, "--topic", topic),
        *("--lag-threshold", "10", "--offset-reset-policy", "earliest", "--once"),
    ]
    result = images(*run_args("scaler", args, {}))
    assert result.returncode == 0, explain(result)
    assert f"total_lag={EVENTS}" in result.stdout
    assert "desired=2" in result.stdout


def test_scaler_image_has_the_grpc_code(built_images: BuiltImages) -> None:
    """The external-scaler mode (`lagscale serve-grpc`) needs the generated, uncommitted gRPC code."""
    code = (
        "import grpc, scaler.grpc.gen.externalscaler_pb2_grpc as s; print(s.ExternalScalerServicer.__name__)"
    )
    result = images("run", "--entrypoint", "python", "scaler", "--", "-c", code)
    assert result.returncode == 0, explain(result)
    assert result.stdout.strip() == "ExternalScalerServicer"


def test_run_rejects_a_missing_image(built_images: BuiltImages) -> None:
    result = images("run", "lagscale-nosuch:0.0.0", "--", "--help")
    assert result.returncode != 0
    assert "hint=" in result.stderr


def test_warm_build_reuses_the_cache(built_images: BuiltImages) -> None:
    """A second build with unchanged inputs must not redo the work (the cold build takes minutes)."""
    start = time.monotonic()
    result = images("build", timeout=BUILD_TIMEOUT_S)
    assert result.returncode == 0, explain(result)
    assert time.monotonic() - start < 60, f"warm build took {time.monotonic() - start:.0f}s"


@pytest.fixture(autouse=True)
def _no_leftover_containers() -> Iterator[None]:
    """`scripts/images run` must remove its working container (`lagscale-run-<its PID>`) however
    the command ends; only containers whose run is over count, so concurrent runs do not."""
    before = _orphaned_run_containers()
    yield
    assert _orphaned_run_containers() <= before, "scripts/images run left a working container behind"


def _orphaned_run_containers() -> set[str]:
    if shutil.which("buildah") is None:
        return set()
    listed = subprocess.run(
        ["buildah", "containers", "--format", "{{.ContainerName}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    names = [name for name in listed.stdout.split() if re.fullmatch(r"lagscale-run-\d+", name)]
    return {name for name in names if not Path(f"/proc/{name.rsplit('-', 1)[1]}").exists()}
