"""Fixtures for the producer and consumer tests: run the apps as real processes against the real
broker, and read back what they wrote and committed."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_TIMEOUT_S = 60.0
# Variables that would silently change which broker or credentials an app uses.
_CONNECTION_PREFIXES = ("KAFKA_EVENTHUB_", "LAGSCALE_", "EVENTHUBS_")


def parse_log_lines(text: str, event: str | None = None) -> list[dict[str, str]]:
    """The apps' `key=value` log lines as dicts, optionally only those with `event=<event>`."""
    records = []
    for line in text.splitlines():
        if not line.startswith("ts="):
            continue
        record = dict(item.partition("=")[::2] for item in shlex.split(line))
        if event is None or record.get("event") == event:
            records.append(record)
    return records


@dataclass
class RunningApp:
    """An app started with Popen; its stderr goes to a file so it can be read while it runs."""

    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, event: str) -> list[dict[str, str]]:
        return parse_log_lines(self.log(), event)

    def wait(self, timeout: float = APP_TIMEOUT_S) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@dataclass
class AppKit:
    """Runs `python -m producer|consumer` and inspects topics and groups on the test broker."""

    kafka: KafkaEndpoints
    workdir: Path
    started: list[RunningApp] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """The current environment without connection settings, plus `extra`."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_CONNECTION_PREFIXES)}
        return {**clean, "PYTHONUNBUFFERED": "1", **extra}

    def run(
        self,
        module: str,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        timeout: float = APP_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=env if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, module: str, args: Sequence[str], env: dict[str, str] | None = None) -> RunningApp:
        log_path = self.workdir / f"{module}-{len(self.started)}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=env if env is not None else self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        app = RunningApp(process, log_path, log)
        self.started.append(app)
        return app

    def plain(self, *args: str) -> list[str]:
        """Connection options for the PLAINTEXT listener followed by `args`."""
        return ["--bootstrap", self.kafka.bootstrap, *args]

    def produce_events(self, topic: str, count: int, client: str = "confluent") -> set[str]:
        """Produce `count` events with our producer; returns their ids as the producer logged them."""
        args = self.plain("--topic", topic, "--count", str(count), "--verbose", "--client", client)
        result = self.run("producer", args)
        assert result.returncode == 0, result.stderr
        ids = {json.loads(line["message"])["id"] for line in parse_log_lines(result.stderr, "sent")}
        assert len(ids) == count
        return ids

    def produce_raw(self, topic: str, values: Sequence[bytes | None], partition: int = 0) -> None:
        producer = Producer({"bootstrap.servers": self.kafka.bootstrap})
        for value in values:
            producer.produce(topic, value=value, partition=partition)
        assert producer.flush(30) == 0, "raw test messages not delivered"

    def kafka_topics(self) -> set[str]:
        consumer = self._reader()
        try:
            return set(consumer.list_topics(timeout=10).topics)
        finally:
            consumer.close()

    def end_offsets(self, topic: str) -> dict[int, int]:
        consumer = self._reader()
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
            }
        finally:
            consumer.close()

    def read_all(self, topic: str, timeout: float = 30.0) -> list[Any]:
        """Every message currently in `topic`, read without a group."""
        ends = self.end_offsets(topic)
        consumer = self._reader()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        messages: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while len(messages) < sum(ends.values()):
                assert time.monotonic() < deadline, f"read {len(messages)} of {sum(ends.values())} messages"
                message = consumer.poll(0.5)
                if message is not None and message.error() is None:
                    messages.append(message)
        finally:
            consumer.close()
        return messages

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed offset per partition (negative = none)."""
        partitions = self.end_offsets(topic)
        consumer = Consumer({"bootstrap.servers": self.kafka.bootstrap, "group.id": group})
        try:
            result = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
            return {tp.partition: tp.offset for tp in result}
        finally:
            consumer.close()

    def _reader(self) -> Consumer:
        return Consumer(
            {"bootstrap.servers": self.kafka.bootstrap, "group.id": "unused", "enable.auto.commit": False}
        )


@pytest.fixture
def apps(kafka: KafkaEndpoints, tmp_path: Path) -> Iterator[AppKit]:
    kit = AppKit(kafka, tmp_path)
    yield kit
    for app in kit.started:  # a failed test must not leave processes behind
        app.kill()


@pytest.fixture
def free_port() -> Callable[[], int]:
    def pick() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    return pick


@pytest.fixture
def log_lines() -> Callable[..., list[dict[str, str]]]:
    return parse_log_lines
