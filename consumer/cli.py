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
from consumer.group import (
    ASSIGNMENT_STRATEGIES,
    GROUP_PROTOCOLS,
    GroupMembership,
    failure_hint,
    resolve_membership,
)
from consumer.health import ConsumerMetrics, HealthState
from consumer.settings import ConsumeSettings, ConsumeSummary, consumer_config
from consumer.worker import Worker
from kafkakit import envvars
from kafkakit.broker import BrokerError, connect_admin, create_client, ensure_topic, topic_partitions
from kafkakit.cli_options import (
    CONNECT_TIMEOUT,
    PROGRESS_INTERVAL,
    connection_options,
    profile_from_options,
    required_text,
    seconds_option,
)
from kafkakit.errors import ConfigError
from kafkakit.logs import configure_logging, log_event
from kafkakit.probe_server import start_probe_server
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact
from kafkakit.signals import stop_on_signals

logger = logging.getLogger("consumer")

# /healthz turns 503 when the poll loop has been silent this long beyond one event's work.
_STALE_MARGIN_SECONDS = 30.0


@click.command("consume", context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
@click.option(
    "--topic", envvar=envvars.TOPIC, callback=required_text("topic name"), help="Topic (Event Hub) to read."
)
@click.option(
    "--group",
    envvar=envvars.CONSUMER_GROUP,
    callback=required_text("consumer group id"),
    help="Consumer group id (required).",
)
@seconds_option(
    "--process-time",
    "LAGSCALE_PROCESS_TIME",
    default=2.0,
    minimum=0,
    help="Seconds of simulated work per event (the tutorial's 2 s); 0 = as fast as possible.",
)
@seconds_option(
    "--commit-interval",
    "LAGSCALE_COMMIT_INTERVAL",
    default=1.0,
    minimum=0.25,
    help="Seconds between offset commits (Event Hubs allows ~4 commits/s per partition).",
)
@click.option(
    "--group-protocol",
    envvar="LAGSCALE_GROUP_PROTOCOL",
    type=click.Choice(GROUP_PROTOCOLS),
    default=None,
    help="Rebalance protocol: consumer (KIP-848, Kafka >= 4.0; no stop-the-world) or classic; "
    "default: consumer, classic for Event Hubs.",
)
@click.option(
    "--assignment-strategy",
    envvar="LAGSCALE_ASSIGNMENT_STRATEGY",
    type=click.Choice(ASSIGNMENT_STRATEGIES),
    default=None,
    help="Assignor of the classic protocol: range (default) and roundrobin are eager, "
    "cooperative-sticky is incremental.",
)
@click.option(
    "--group-instance-id",
    envvar="LAGSCALE_GROUP_INSTANCE_ID",
    default="",
    help="Static membership: a restart within the session timeout keeps the partitions; unique per "
    "member (e.g. the pod name). A stopped static member's partitions wait for the session timeout.",
)
@click.option(
    "--dlq-topic",
    envvar="LAGSCALE_DLQ_TOPIC",
    default="",
    help="Dead-letter topic for invalid events; default: <topic>.dlq.",
)
@click.option(
    "--create-dlq-topic/--no-create-dlq-topic",
    envvar="LAGSCALE_CREATE_DLQ_TOPIC",
    default=True,
    show_default=True,
    help="Create the dead-letter topic (1 partition) when it is missing.",
)
@click.option(
    "--max-events",
    envvar="LAGSCALE_MAX_EVENTS",
    type=click.IntRange(min=0),
    default=0,
    help="Stop after this many events (0 = until Ctrl+C / SIGTERM).",
)
@click.option(
    "--metrics-port",
    envvar="LAGSCALE_METRICS_PORT",
    type=click.IntRange(min=0, max=65535),
    default=0,
    help="Serve /healthz and /metrics on this port (0 = off).",
)
@click.option(
    "--metrics-host",
    envvar="LAGSCALE_METRICS_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address for /healthz and /metrics; 0.0.0.0 in a pod so probes and Prometheus reach it.",
)
@CONNECT_TIMEOUT
@PROGRESS_INTERVAL
@click.option("-v", "--verbose", envvar="LAGSCALE_VERBOSE", is_flag=True, help="Log every processed event.")
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
        try:
            dead_letters: DeadLetterSink = (
                KafkaDeadLetterSink(profile, dlq_topic) if dlq_available else DiscardingDeadLetterSink()
            )
            consumer = create_client(Consumer, consumer_config(profile, settings.group, membership))
        except BrokerError as error:
            raise click.ClickException(str(error)) from None
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
            raise click.ClickException(_failure(membership, str(error))) from None
        finally:
            dead_letters.close()
            if server:
                server.stop()
        _report(summary)


def _membership(options: dict[str, Any], *, eventhubs: bool) -> GroupMembership:
    try:
        return resolve_membership(
            options.pop("group_protocol"),
            options.pop("assignment_strategy"),
            options.pop("group_instance_id"),
            eventhubs=eventhubs,
        )
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _failure(membership: GroupMembership, error: str) -> str:
    hint = failure_hint(membership, error)
    return f"consumer failed: {redact(error)}" + (f": {hint}" if hint else "")


def _check_topics(profile: ConnectionProfile, topic: str, dlq_topic: str, options: dict[str, Any]) -> bool:
    """Fail when `topic` is missing; returns whether the dead-letter topic can be used."""
    try:
        admin = connect_admin(profile, options["connect_timeout"])
        if not topic_partitions(admin, topic, options["connect_timeout"]):
            raise BrokerError(
                f"topic {topic!r} does not exist: check --topic / KAFKA_EVENTHUB_TOPIC, or create it "
                "first (e.g. `lagscale produce --create-topic`)"
            )
    except BrokerError as error:
        raise click.ClickException(str(error)) from None
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
