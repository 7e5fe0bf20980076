"""`lagscale consume` / `python -m consumer`: a consumer-group member that processes JSON events."""

from __future__ import annotations

import logging
from typing import Any

import click
from confluent_kafka import Consumer, KafkaException

from consumer.deadletter import (
    DeadLetterSink,
    DiscardingDeadLetterSink,
    KafkaDeadLetterSink,
    default_dlq_topic,
)
from consumer.flags import ASSIGNMENT_STRATEGY, COMMIT_INTERVAL, GROUP_PROTOCOL
from consumer.group import GroupMembership, failure_hint, resolve_membership
from consumer.health import ConsumerMetrics, HealthState
from consumer.settings import ConsumeSettings, ConsumeSummary, consumer_config
from consumer.worker import Worker
from kafkakit.broker import connect_admin, create_client, ensure_topic, topic_partitions
from kafkakit.cli_options import (
    CONNECT_TIMEOUT,
    GROUP,
    METRICS_HOST,
    METRICS_PORT,
    PROCESS_TIME,
    PROGRESS_INTERVAL,
    TOPIC,
    VERBOSE,
    command,
    connection_options,
    option,
    profile_from_options,
    required_text,
)
from kafkakit.errors import BrokerError
from kafkakit.logs import configure_logging, log_event
from kafkakit.probe_server import start_probe_server
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact
from kafkakit.signals import stop_on_signals

logger = logging.getLogger("consumer")

# /healthz turns 503 when the poll loop has been silent this long beyond one event's work.
_STALE_MARGIN_SECONDS = 30.0


@command("consume")
@connection_options
@TOPIC(callback=required_text("topic name"), help="Topic (Event Hub) to read.")
@GROUP(callback=required_text("consumer group id"), help="Consumer group id (required).")
@PROCESS_TIME(
    default=2.0,
    show_default=True,
    help="Seconds of simulated work per event (the tutorial's 2 s); 0 = as fast as possible.",
)
@COMMIT_INTERVAL()
@GROUP_PROTOCOL()
@ASSIGNMENT_STRATEGY()
@option(
    "--group-instance-id",
    default="",
    help="Static membership: a restart within the session timeout keeps the partitions; unique per "
    "member (e.g. the pod name). A stopped static member's partitions wait for the session timeout.",
)
@option("--dlq-topic", default="", help="Dead-letter topic for invalid events; default: <topic>.dlq.")
@option(
    "--create-dlq-topic/--no-create-dlq-topic",
    default=True,
    show_default=True,
    help="Create the dead-letter topic (1 partition) when it is missing.",
)
@option(
    "--max-events",
    type=click.IntRange(min=0),
    default=0,
    help="Stop after this many events (0 = until Ctrl+C / SIGTERM).",
)
@METRICS_PORT()
@METRICS_HOST()
@CONNECT_TIMEOUT()
@PROGRESS_INTERVAL()
@VERBOSE(help="Log every processed event.")
def consume(**options: Any) -> None:
    """Process JSON events as a member of a consumer group (at-least-once).

    SIGTERM / Ctrl+C finishes the event in progress, commits and leaves the group.
    """
    profile = profile_from_options(options)
    membership = _membership(options, eventhubs=profile.is_eventhubs)
    configure_logging(options["verbose"])
    settings = ConsumeSettings(
        topic=options["topic"],
        group=options["group"],
        process_time=options["process_time"],
        commit_interval=options["commit_interval"],
        max_events=options["max_events"],
        progress_interval=options["progress_interval"],
    )
    dlq_topic = options["dlq_topic"] or default_dlq_topic(settings.topic)
    dlq_available = _check_topics(profile, settings.topic, dlq_topic, options)
    log_event(
        logger,
        "start",
        logging.INFO,
        topic=settings.topic,
        group=settings.group,
        dlq_topic=dlq_topic,
        process_time=settings.process_time,
        **membership.describe(),
        connection=profile.describe(),
    )
    metrics = ConsumerMetrics()
    health = HealthState(stale_after=settings.process_time + _STALE_MARGIN_SECONDS)
    with stop_on_signals() as stop:
        dead_letters: DeadLetterSink = (
            KafkaDeadLetterSink(profile, dlq_topic) if dlq_available else DiscardingDeadLetterSink()
        )
        consumer = create_client(Consumer, consumer_config(profile, settings.group, membership))
        host, port = options["metrics_host"], options["metrics_port"]
        server = start_probe_server(host, port, health.check, metrics.render)
        if server:
            log_event(logger, "metrics_listening", address=f"http://{host}:{server.port}/metrics")
        worker = Worker(
            consumer, settings, dead_letters=dead_letters, metrics=metrics, health=health, stop=stop
        )
        try:
            summary = worker.run()
        except KafkaException as error:
            raise BrokerError(_failure(membership, str(error))) from None
        finally:
            dead_letters.close()
            if server:
                server.stop()
        _report(summary)


def _membership(options: dict[str, Any], *, eventhubs: bool) -> GroupMembership:
    return resolve_membership(
        options.pop("group_protocol"),
        options.pop("assignment_strategy"),
        options.pop("group_instance_id"),
        eventhubs=eventhubs,
    )


def _failure(membership: GroupMembership, error: str) -> str:
    hint = failure_hint(membership, error)
    return f"consumer failed: {redact(error)}" + (f": {hint}" if hint else "")


def _check_topics(profile: ConnectionProfile, topic: str, dlq_topic: str, options: dict[str, Any]) -> bool:
    """Fail when `topic` is missing; returns whether the dead-letter topic can be used."""
    admin = connect_admin(profile, options["connect_timeout"])
    if not topic_partitions(admin, topic, options["connect_timeout"]):
        raise BrokerError(
            f"topic {topic!r} does not exist: check --topic / KAFKA_EVENTHUB_TOPIC, or create it "
            "first (e.g. `lagscale produce --create-topic`)"
        )
    try:
        ensure_topic(admin, dlq_topic, create=options["create_dlq_topic"], partitions=1)
        return True
    except BrokerError as error:
        # Not fatal: exiting here would crash-loop a pod (e.g. Event Hubs, where the Kafka admin
        # API cannot create hubs). Invalid events are then logged and skipped.
        log_event(
            logger,
            "dead_letter_topic_unavailable",
            logging.WARNING,
            reason=str(error),
            hint="create it or pass --dlq-topic; invalid events are logged and skipped meanwhile",
        )
        return False


def _report(summary: ConsumeSummary) -> None:
    log_event(
        logger,
        "summary",
        processed=summary.processed,
        failed=summary.failed,
        dead_lettered=summary.dead_lettered,
        committed=",".join(f"{p}:{o}" for (_, p), o in sorted(summary.committed.items())) or "none",
        seconds=f"{summary.busy_seconds:.2f}",
        rate=f"{summary.rate:.1f}/s",
    )
