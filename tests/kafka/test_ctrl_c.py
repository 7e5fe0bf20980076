"""Ctrl+C and an absent broker, as a person at a terminal meets them: every long-running command
stops within a second of Ctrl+C with exit status 130, a second Ctrl+C cuts the cleanup short, and
`lagscale scale` says what it does at once and keeps to its --timeout when the broker is down."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest
from confluent_kafka import Producer
from offsets_helpers import env_without_connection_settings, produce

from kafkakit.events import Event, encode_event

pytestmark = pytest.mark.kafka

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

# Ctrl+C must end a command within a second; the margin covers a loaded two-core CI machine.
STOP_WITHIN_S = 1.5
WaitUntil = Callable[[Callable[[], bool], float, str], None]


class Command:
    """`python -m lagscale ...` in the background, its output in a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lagscale", *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env_without_connection_settings(),
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def interrupt(self) -> tuple[int, float]:
        """Ctrl+C (SIGINT); returns the exit status and the seconds it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(30)
        return code, time.monotonic() - started

    def stop(self) -> None:
        """Whatever the test left running: this process and anything it started, by PID."""
        if self.process.poll() is None:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            self.process.kill()
        self.process.wait(30)


@pytest.fixture
def command(tmp_path: Path) -> Iterator[Callable[..., Command]]:
    started: list[Command] = []

    def start(*args: str) -> Command:
        started.append(Command(list(args), tmp_path / f"command-{len(started)}.log"))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def _ts(line: str) -> datetime:
    return datetime.fromisoformat(line.split(maxsplit=1)[0].removeprefix("ts=").replace("Z", "+00:00"))


def test_scale_with_the_broker_down_says_so_at_once_and_ctrl_c_ends_it(
    command: Callable[..., Command], free_port: Callable[[], int], wait_until: WaitUntil
) -> None:
    absent = f"127.0.0.1:{free_port()}"
    scale = command("scale", "--bootstrap", absent, "--group", "g", "--topic", "t", "--timeout", "20")
    # The start line comes before the first attempt to reach the broker, not 20 s later.
    wait_until(lambda: "event=start" in scale.output(), 15, "the start line")
    assert "event=evaluation_failed" not in scale.output()
    assert f"bootstrap={absent}" in scale.output()
    code, took = scale.interrupt()  # while the first evaluation still waits for the broker
    assert code == 130, scale.output()
    assert took < STOP_WITHIN_S, f"took {took:.1f}s"


def test_scale_once_with_the_broker_down_keeps_to_its_timeout(
    command: Callable[..., Command], free_port: Callable[[], int]
) -> None:
    timeout = 3
    absent = f"127.0.0.1:{free_port()}"
    scale = command(
        "scale", "--bootstrap", absent, "--group", "g", "--topic", "t", "--timeout", str(timeout), "--once"
    )
    assert scale.process.wait(60) == 1
    lines = scale.output().splitlines()
    start = next(line for line in lines if "event=start" in line)
    decision = next(line for line in lines if "event=decision" in line)
    waited = (_ts(decision) - _ts(start)).total_seconds()
    assert timeout - 0.5 < waited < timeout * 1.5, (
        f"one evaluation waited {waited}s for a --timeout of {timeout}s"
    )
    assert lines[-1] == "error: the evaluation failed (see the error above)"


def test_a_second_ctrl_c_cuts_the_cleanup_short(
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    command: Callable[..., Command],
    wait_until: WaitUntil,
) -> None:
    # A consumer busy with a 60 s event takes long to stop, and scale waits for it (--stop-grace):
    # the first Ctrl+C starts that wait, the second ends the command at once.
    topic, group = make_topic("second-ctrl-c", partitions=1), unique_name("second-ctrl-c")
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for sequence in range(5):
        producer.produce(topic, encode_event(Event.new(sequence, "ctrl-c-test")))
    assert producer.flush(30) == 0
    scale = command(
        "scale", "--bootstrap", kafka.bootstrap, "--group", group, "--topic", topic,
        "--offset-reset-policy", "earliest", "--mode", "direct", "--polling-interval", "1",
        "--target", "processes", "--process-time", "60", "--stop-grace", "120", "--consumer-arg", "--verbose",
    )  # fmt: skip
    wait_until(lambda: "event=processing" in scale.output(), 60, "a consumer busy with an event")
    consumer = psutil.Process(scale.process.pid).children()[0]
    scale.process.send_signal(signal.SIGINT)
    time.sleep(STOP_WITHIN_S)  # the first Ctrl+C: scale is now waiting for the busy consumer
    assert scale.process.poll() is None, scale.output()
    code, took = scale.interrupt()
    assert code == 130, scale.output()
    assert took < STOP_WITHIN_S, f"took {took:.1f}s"
    consumer.kill()  # what the skipped cleanup would have stopped


@pytest.mark.parametrize("which", ["produce", "consume", "lag --watch", "serve-grpc"])
def test_ctrl_c_ends_each_long_running_command_with_130(
    which: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    command: Callable[..., Command],
    free_port: Callable[[], int],
    wait_until: WaitUntil,
) -> None:
    topic, group = make_topic("ctrl-c", partitions=1), unique_name("ctrl-c")
    produce(kafka.bootstrap, topic, {0: 3})
    connection = ["--bootstrap", kafka.bootstrap, "--topic", topic]
    started, ready = {
        "produce": (["produce", *connection, "--rate", "5"], "event=start"),
        "consume": (["consume", *connection, "--group", group, "--process-time", "0"], "event=start"),
        "lag --watch": (["lag", *connection, "--group", group, "--watch", "0.5", "--json"], '"total_lag"'),
        "serve-grpc": (
            ["serve-grpc", "--listen", f"127.0.0.1:{free_port()}"],
            "serving KEDA external scaler",
        ),
    }[which]
    running = command(*started)
    wait_until(lambda: ready in running.output(), 60, f"{which} to run")
    code, took = running.interrupt()
    assert code == 130, running.output()
    # The consumer first finishes its poll (up to a second, consumer.settings) and commits.
    assert took < STOP_WITHIN_S + (1.0 if which == "consume" else 0.0), f"took {took:.1f}s"
    assert "Traceback" not in running.output()
