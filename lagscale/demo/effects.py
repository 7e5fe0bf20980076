"""The demo's side effects besides the scaling loop: topic readiness and removal, the producer
subprocess, and the consumer group's member count. Processes are handled by PID only."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from kafkakit.errors import BrokerError

PRODUCER_STOP_SECONDS = 10.0


def require_listening(bootstrap: str, timeout: float = 3.0) -> None:
    """Fail fast (BrokerError) when no bootstrap server accepts TCP, before librdkafka retries (and
    logs) for seconds."""
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
        except (OSError, ValueError) as error:
            errors.append(f"{server.strip()}: {error}")
        else:
            return
    raise BrokerError(f"cannot reach Kafka at {bootstrap} ({'; '.join(errors)})")


def wait_for_leaders(admin: AdminClient, topic: str, partitions: int, timeout: float = 30.0) -> None:
    """A new topic's partitions need leaders before clients see it; the producer checks at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metadata = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        leaders = (
            [] if metadata is None or metadata.error else [p.leader for p in metadata.partitions.values()]
        )
        if len(leaders) == partitions and min(leaders) >= 0:
            return
        time.sleep(0.2)
    raise BrokerError(
        f"topic {topic!r} has no leader for every partition after {timeout:g}s: check the broker"
    )


def delete_topics(admin: AdminClient, topics: list[str], timeout: float = 20.0) -> None:
    """Delete the demo's topics and wait for it; a topic that was never created is fine."""
    futures = admin.delete_topics(topics, operation_timeout=timeout)
    for future in futures.values():
        # e.g. no DLQ topic was created (no invalid event): nothing to undo then.
        with contextlib.suppress(KafkaException):
            future.result(timeout=timeout)


def start_producer(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start the producer with its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    output: IO[bytes] = log_path.open("ab")
    try:
        return subprocess.Popen(argv, stdout=output, stderr=output, stdin=subprocess.DEVNULL)
    finally:
        output.close()  # the child holds its own descriptor


def stop_producer(producer: subprocess.Popen[bytes] | None) -> None:
    if producer is None or producer.poll() is not None:
        return
    producer.terminate()
    try:
        producer.wait(timeout=PRODUCER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        producer.kill()
        producer.wait()


def group_members(admin: AdminClient, group: str) -> int | None:
    """How many consumers are in the group right now (None when the broker did not say)."""
    try:
        description = admin.describe_consumer_groups([group], request_timeout=5)[group].result(timeout=5)
    except Exception:  # a missing number on screen is not worth stopping for
        return None
    return len(description.members)
