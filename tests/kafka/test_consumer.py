"""`python -m consumer` against the real broker: at-least-once, shutdown, dead letters (and their
retries when the dead-letter topic refuses them), probes."""

from __future__ import annotations

import re
import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from kafkakit.events import Event, encode_event

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

    from tests.kafka.conftest import AppKit

pytestmark = pytest.mark.kafka

LogLines = Callable[..., list[dict[str, str]]]


def produce(apps: AppKit, topic: str, count: int) -> set[str]:
    return apps.produce_events(topic, count)


def consume_args(apps: AppKit, topic: str, group: str, *extra: str) -> list[str]:
    return apps.plain("--topic", topic, "--group", group, "--verbose", "--commit-interval", "0.5", *extra)


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_round_trip_processes_and_commits_every_event(
    client: str,
    apps: AppKit,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    log_lines: LogLines,
) -> None:
    topic, group = make_topic("roundtrip", partitions=3), unique_name("group")
    produced = apps.produce_events(topic, 60, client)

    result = apps.run(
        "consumer", consume_args(apps, topic, group, "--process-time", "0", "--max-events", "60")
    )

    assert result.returncode == 0, result.stderr
    processed = [line["id"] for line in log_lines(result.stderr, "processed")]
    assert sorted(processed) == sorted(produced)
    assert apps.committed(group, topic) == apps.end_offsets(topic)
    assert log_lines(result.stderr, "summary")[-1]["processed"] == "60"


@pytest.mark.parametrize("protocol", ["consumer", "classic"])
def test_sigterm_finishes_the_event_commits_and_a_second_member_resumes(
    protocol: str,
    apps: AppKit,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: Callable[..., None],
    log_lines: LogLines,
) -> None:
    topic, group = make_topic("sigterm", partitions=2), unique_name("group")
    produced = produce(apps, topic, 20)
    first = apps.start(
        "consumer", consume_args(apps, topic, group, "--process-time", "2", "--group-protocol", protocol)
    )

    in_progress: list[str] = []

    def working_after_two_done() -> bool:
        """True once an event's 2 s of work has begun (and not ended) after two were done."""
        done = {line["id"] for line in first.events("processed")}
        started = [line["id"] for line in first.events("processing") if line["id"] not in done]
        in_progress[:] = started[-1:] if len(done) >= 2 else []
        return bool(in_progress)

    wait_until(working_after_two_done, 60, "an event in progress after two were processed")
    working_on = in_progress[0]

    first.process.send_signal(signal.SIGTERM)

    assert first.wait(15) == 0, first.log()
    done_first = [line["id"] for line in first.events("processed")]
    assert done_first[-1] == working_on  # the event in progress was finished, and nothing after it
    committed = sum(max(0, offset) for offset in apps.committed(group, topic).values())
    assert committed == len(done_first) < 20
    remaining = 20 - len(done_first)
    args = ["--process-time", "0", "--max-events", str(remaining), "--group-protocol", protocol]
    second = apps.run("consumer", consume_args(apps, topic, group, *args))
    assert second.returncode == 0, second.stderr
    done_second = [line["id"] for line in log_lines(second.stderr, "processed")]
    assert set(done_first).isdisjoint(done_second)
    assert sorted(done_first + done_second) == sorted(produced)
    assert apps.committed(group, topic) == apps.end_offsets(topic)


def test_poison_message_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    apps: AppKit, make_topic: Callable[..., str], unique_name: Callable[[str], str], log_lines: LogLines
) -> None:
    topic, group = make_topic("poison"), unique_name("group")
    produce(apps, topic, 3)
    apps.produce_raw(topic, [b"not json at all", b'{"id": "x"}'])
    produce(apps, topic, 2)  # 5 valid events around 2 invalid ones

    result = apps.run(
        "consumer", consume_args(apps, topic, group, "--process-time", "0", "--max-events", "7")
    )

    assert result.returncode == 0, result.stderr
    assert len(log_lines(result.stderr, "processed")) == 5
    invalid = log_lines(result.stderr, "invalid_event")
    assert [line["payload"] for line in invalid] == ["not json at all", '{"id": "x"}']
    assert "missing field" in invalid[1]["reason"]
    dead = apps.read_all(f"{topic}.dlq")
    assert [m.value() for m in dead] == [b"not json at all", b'{"id": "x"}']
    assert dict(dead[0].headers())["lagscale.source"] == f"{topic}/0/3".encode()
    assert apps.committed(group, topic) == {0: 7}
    summary = log_lines(result.stderr, "summary")[-1]
    assert (summary["processed"], summary["failed"], summary["dead_lettered"]) == ("5", "2", "2")


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else -1.0


def test_healthz_and_metrics_report_the_work_done(
    apps: AppKit,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    free_port: Callable[[], int],
    wait_until: Callable[..., None],
) -> None:
    topic, group = make_topic("metrics", partitions=2), unique_name("group")
    produce(apps, topic, 6)
    apps.produce_raw(topic, [b"\xff\xfe garbage"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = apps.start(
        "consumer", consume_args(apps, topic, group, "--process-time", "0.1", "--metrics-port", str(port))
    )

    wait_until(lambda: app.events("metrics_listening") != [], 30, "the metrics server")
    wait_until(
        lambda: metric(http_get(f"{base}/metrics")[1], "lagscale_consumer_events_processed_total") == 6,
        60,
        "6 processed events in /metrics",
    )
    wait_until(lambda: _all_committed(http_get(f"{base}/metrics")[1]), 30, "7 committed offsets in /metrics")
    text = http_get(f"{base}/metrics")[1]

    status, body = http_get(f"{base}/healthz")
    assert (status, body.strip()) == (200, "assigned"), app.log()
    assert metric(text, "lagscale_consumer_events_failed_total") == 1, text
    assert metric(text, "lagscale_consumer_events_dead_lettered_total") == 1, text
    assert metric(text, "lagscale_consumer_processing_seconds_count") == 6, text
    # Random keys may leave a partition empty: it has no commit and no gauge.
    committed = {p: o for p, o in apps.committed(group, topic).items() if o >= 0}
    gauges = {
        p: metric(text, f'lagscale_consumer_committed_offset{{partition="{p}",topic="{topic}"}}')
        for p in committed
    }
    assert gauges == committed, text
    assert http_get(f"{base}/nothing-here")[0] == 404
    taken = apps.run("consumer", consume_args(apps, topic, unique_name("group"), "--metrics-port", str(port)))
    assert taken.returncode == 1
    assert taken.stderr.strip().splitlines()[-1].endswith("pick another --metrics-port"), taken.stderr
    app.process.send_signal(signal.SIGTERM)
    assert app.wait(15) == 0, app.log()


def _all_committed(text: str) -> bool:
    values = re.findall(r"^lagscale_consumer_committed_offset\{.*\} (\S+)$", text, re.MULTILINE)
    return sum(float(v) for v in values) == 7


def test_eventhubs_profile_with_the_tutorial_consumer_env_vars(
    apps: AppKit,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    log_lines: LogLines,
) -> None:
    topic = make_topic("eventhubs")
    produce(apps, topic, 5)
    # The tutorial's consumer takes the connection string as KAFKA_EVENTHUB_PASSWORD.
    env = apps.env(
        KAFKA_EVENTHUB_ENDPOINT=kafka.bootstrap_ssl,
        KAFKA_EVENTHUB_PASSWORD=kafka.eventhubs_connection_string,
        KAFKA_EVENTHUB_TOPIC=topic,
        KAFKA_EVENTHUB_CONSUMER_GROUP=unique_name("group"),
        LAGSCALE_CA_FILE=kafka.ca_file,
    )

    result = apps.run("consumer", ["--process-time", "0", "--max-events", "5", "--verbose"], env=env)

    assert result.returncode == 0, result.stderr
    assert "profile=eventhubs" in result.stderr
    # Event Hubs documents no KIP-848 support: the classic protocol (docs/apps.md, "Group protocol").
    start = log_lines(result.stderr, "start")[0]
    assert (start["group_protocol"], start["assignment_strategy"]) == ("classic", "range")
    assert len(log_lines(result.stderr, "processed")) == 5
    assert kafka.eventhubs_connection_string.split("SharedAccessKey=")[1] not in result.stderr


def test_missing_dead_letter_topic_is_a_warning_and_invalid_events_are_skipped(
    apps: AppKit, make_topic: Callable[..., str], unique_name: Callable[[str], str], log_lines: LogLines
) -> None:
    topic, group = make_topic("nodlq"), unique_name("group")
    apps.produce_raw(topic, [b"garbage"])
    produce(apps, topic, 2)
    args = consume_args(
        apps, topic, group, "--process-time", "0", "--max-events", "3", "--no-create-dlq-topic"
    )

    result = apps.run("consumer", args)

    assert result.returncode == 0, result.stderr
    assert log_lines(result.stderr, "dead_letter_topic_unavailable")[0]["hint"].startswith("create it")
    assert len(log_lines(result.stderr, "dead_letter_skipped")) == 1
    assert len(log_lines(result.stderr, "processed")) == 2
    assert apps.committed(group, topic) == {0: 3}
    assert f"{topic}.dlq" not in apps.kafka_topics()


def test_a_failed_dead_letter_is_retried_and_never_committed_while_other_partitions_go_on(
    apps: AppKit,
    admin: AdminClient,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: Callable[..., None],
    free_port: Callable[[], int],
) -> None:
    topic, group = make_topic("dlqretry", partitions=2), unique_name("group")
    # The broker refuses the 1 KB poison message for this dead-letter topic (MSG_SIZE_TOO_LARGE,
    # not retriable), until the test raises the limit.
    dlq = make_topic("dlqretry-dlq", config={"max.message.bytes": "200"})
    poison = b"not json " + b"x" * 1000
    valid = [encode_event(Event.new(sequence, "test")) for sequence in range(9)]
    apps.produce_raw(topic, [valid[0], valid[1], poison, valid[2], valid[3]], partition=0)
    apps.produce_raw(topic, valid[4:], partition=1)
    port = free_port()
    app = apps.start(
        "consumer",
        consume_args(
            apps, topic, group, "--process-time", "0", "--dlq-topic", dlq, "--metrics-port", str(port)
        ),
    )

    wait_until(lambda: len(app.events("dead_letter_failed")) >= 2, 60, "two failed dead-letter attempts")
    wait_until(lambda: apps.committed(group, topic) == {0: 2, 1: 5}, 30, "commits up to the poison message")
    held = {line["sequence"] for line in app.events("processed")}
    assert held == {str(sequence) for sequence in (0, 1, 4, 5, 6, 7, 8)}  # partition 1 went on
    failed = app.events("dead_letter_failed")
    assert [(line["offset"], line["retry_in"]) for line in failed[:2]] == [("2", "1s"), ("2", "2s")]
    assert "too large" in failed[0]["error"].lower()
    assert (
        metric(
            http_get(f"http://127.0.0.1:{port}/metrics")[1], "lagscale_consumer_dead_letter_failures_total"
        )
        >= 2
    )
    assert apps.end_offsets(dlq) == {0: 0}

    raised = ConfigResource(
        ResourceType.TOPIC,
        dlq,
        incremental_configs=[
            ConfigEntry("max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([raised]).values():
        future.result(timeout=30)

    wait_until(
        lambda: apps.committed(group, topic) == {0: 5, 1: 5}, 60, "the poison dead-lettered, then committed"
    )
    assert [m.value() for m in apps.read_all(dlq)] == [poison]
    app.process.send_signal(signal.SIGTERM)
    assert app.wait(15) == 0, app.log()
    processed = sorted(int(line["sequence"]) for line in app.events("processed"))
    assert processed == list(range(9))  # every valid event once: none lost, none repeated
    summary = app.events("summary")[-1]
    assert (summary["processed"], summary["failed"], summary["dead_lettered"]) == ("9", "1", "1")
