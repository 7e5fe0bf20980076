"""`python -m producer` against the real broker: delivery, pacing, bursts, profiles, shutdown."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from confluent_kafka.admin import AdminClient

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

    from tests.kafka.conftest import AppKit, RunningApp

pytestmark = pytest.mark.kafka

CLIENTS = ["confluent", "kafka-python"]


def events_in(apps: AppKit, topic: str) -> list[dict[str, object]]:
    return [json.loads(message.value()) for message in apps.read_all(topic)]


@pytest.mark.parametrize("client", CLIENTS)
def test_produces_count_events_with_ids_sequences_and_size(
    client: str, apps: AppKit, make_topic: Callable[..., str], log_lines: Callable[..., list[dict[str, str]]]
) -> None:
    topic = make_topic("produce", partitions=3)

    result = apps.run(
        "producer",
        apps.plain(
            "--topic", topic, "--count", "50", "--size", "200", "--client", client, "--key", "sequence"
        ),
    )

    assert result.returncode == 0, result.stderr
    events = events_in(apps, topic)
    assert sorted(e["sequence"] for e in events) == list(range(50))
    assert len({e["id"] for e in events}) == 50
    assert {len(json.dumps(e, separators=(",", ":"))) for e in events} == {200}
    summary = log_lines(result.stderr, "summary")[-1]
    assert (summary["sent"], summary["delivered"], summary["lost"]) == ("50", "50", "0")


def test_random_keys_spread_over_partitions_like_the_tutorial(
    apps: AppKit, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("keys", partitions=4)

    result = apps.run("producer", apps.plain("--topic", topic, "--count", "200"))

    assert result.returncode == 0, result.stderr
    messages = apps.read_all(topic)
    assert {int(m.key()) for m in messages} <= set(range(100))
    assert len({m.partition() for m in messages}) == 4


def test_rate_paces_events(apps: AppKit, make_topic: Callable[..., str]) -> None:
    topic = make_topic("rate")

    started = time.monotonic()
    result = apps.run("producer", apps.plain("--topic", topic, "--count", "30", "--rate", "20"))
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    # 30 events at 20/s need at least 29 intervals of 50 ms.
    assert elapsed >= 1.45
    assert len(apps.read_all(topic)) == 30


def test_burst_is_sent_at_once_then_rate_applies(apps: AppKit, make_topic: Callable[..., str]) -> None:
    topic = make_topic("burst")

    started = time.monotonic()
    result = apps.run(
        "producer", apps.plain("--topic", topic, "--burst", "100", "--count", "103", "--rate", "2")
    )
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert len(apps.read_all(topic)) == 103
    # 100 at once, then 3 more at 2/s (the first one immediately): about 1 s of pacing.
    assert 0.9 <= elapsed < 15


def test_verbose_logs_each_sent_event_with_partition_and_offset(
    apps: AppKit, make_topic: Callable[..., str], log_lines: Callable[..., list[dict[str, str]]]
) -> None:
    topic = make_topic("verbose", partitions=2)

    result = apps.run("producer", apps.plain("--topic", topic, "--count", "5", "--verbose"))

    assert result.returncode == 0, result.stderr
    sent = log_lines(result.stderr, "sent")
    assert len(sent) == 5
    assert all(line["partition"] in {"0", "1"} and line["offset"].isdigit() for line in sent)
    assert {json.loads(line["message"])["sequence"] for line in sent} == set(range(5))


def test_create_topic_creates_the_requested_partitions(
    apps: AppKit, unique_name: Callable[[str], str], admin: object
) -> None:
    topic = unique_name("created")

    result = apps.run(
        "producer", apps.plain("--topic", topic, "--count", "3", "--create-topic", "--partitions", "5")
    )

    assert result.returncode == 0, result.stderr
    assert len(apps.end_offsets(topic)) == 5
    assert sum(apps.end_offsets(topic).values()) == 3
    admin.delete_topics([topic])  # type: ignore[attr-defined]


def test_sigterm_flushes_and_exits_cleanly(
    apps: AppKit, make_topic: Callable[..., str], wait_until: Callable[..., None]
) -> None:
    topic = make_topic("sigterm")
    app = apps.start("producer", apps.plain("--topic", topic, "--rate", "200", "--progress-interval", "0.5"))
    wait_until(lambda: bool(app.events("progress")), 30, "the producer to report progress")

    app.process.send_signal(signal.SIGTERM)

    assert app.wait(30) == 0, app.log()
    summary = app.events("summary")[-1]
    assert summary["lost"] == "0"
    assert int(summary["delivered"]) == len(apps.read_all(topic)) > 0


@pytest.mark.parametrize("client", CLIENTS)
def test_eventhubs_profile_with_the_tutorial_env_vars(
    client: str, apps: AppKit, kafka: KafkaEndpoints, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("eventhubs")
    env = apps.env(
        KAFKA_EVENTHUB_ENDPOINT=kafka.bootstrap_ssl,
        KAFKA_EVENTHUB_CONNECTION_STRING=kafka.eventhubs_connection_string,
        KAFKA_EVENTHUB_TOPIC=topic,
        LAGSCALE_CA_FILE=kafka.ca_file,
    )

    result = apps.run("producer", ["--count", "10", "--client", client], env=env)

    assert result.returncode == 0, result.stderr
    assert "profile=eventhubs" in result.stderr
    assert "SharedAccessKey=" not in result.stderr.replace("SharedAccessKey=***", "")
    assert len(apps.read_all(topic)) == 10


def test_a_stop_request_ends_the_wait_for_a_full_queue_and_the_lost_events_fail_the_run(
    apps: AppKit, admin: AdminClient, make_topic: Callable[..., str], wait_until: Callable[..., None]
) -> None:
    topic = make_topic("stuck")
    args = apps.plain("--topic", topic, "--flush-timeout", "2", "--progress-interval", "0.2")
    app = apps.start("producer", args)
    wait_until(lambda: bool(app.events("progress")), 30, "the producer to report progress")
    # Like a broker that is down: librdkafka keeps retrying the deleted topic's events for about
    # 30 s (topic.metadata.propagation.max.ms), so the local queue fills up and stays full.
    admin.delete_topics([topic])[topic].result(timeout=30)
    wait_until(lambda: _blocked(app), 20, "the producer to block on a full queue")

    started = time.monotonic()
    app.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    app.process.send_signal(signal.SIGTERM)  # during the flush: must not cut the summary short

    assert app.wait(30) == 1, app.log()
    assert time.monotonic() - started < 10, app.log()  # --flush-timeout 2, not ~30 s of retries
    summary = app.events("summary")[-1]
    assert int(summary["lost"]) > 0
    lines = app.log().splitlines()
    assert lines[-1] == f"error: {summary['lost']} of {summary['sent']} events were not delivered"
    assert all(line.startswith("ts=") for line in lines[:-1]), app.log()  # no raw librdkafka lines
    failures = app.events("delivery_failed")
    assert sum(int(line["events"]) for line in failures) == int(summary["failed"])
    assert len(failures) <= 3  # aggregated, not one line per event
    assert topic not in apps.kafka_topics()  # and never auto-created again


def _blocked(app: RunningApp) -> bool:
    """No progress line for a second: the loop waits inside send()."""
    last = app.events("progress")[-1]["ts"]
    time.sleep(1)
    return app.events("progress")[-1]["ts"] == last
