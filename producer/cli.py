"""`lagscale produce` / `python -m producer`: JSON events to a topic at a chosen rate."""

from __future__ import annotations

import logging
from typing import Any

import click

from kafkakit.broker import connect_admin, ensure_topic
from kafkakit.cli_options import (
    BURST,
    CONNECT_TIMEOUT,
    PARTITIONS,
    PROGRESS_INTERVAL,
    RATE,
    TOPIC,
    VERBOSE,
    command,
    connection_options,
    option,
    profile_from_options,
    required_text,
    seconds,
)
from kafkakit.errors import BrokerError
from kafkakit.logs import configure_logging, log_event
from kafkakit.signals import stop_on_signals
from producer.flags import KEY
from producer.loop import ProduceSettings, ProduceSummary, run_producer
from producer.sender import CLIENTS, make_sender

logger = logging.getLogger("producer")


@command("produce")
@connection_options
@TOPIC(callback=required_text("topic name"), help="Topic (Event Hub) to write to.")
@RATE(default=0.0, help="Events per second; 0 = as fast as possible.")
@option(
    "--count",
    type=click.IntRange(min=0),
    default=0,
    help="Total events to send (burst included); default: until Ctrl+C / SIGTERM.",
)
@KEY()
@option(
    "--size",
    type=click.IntRange(min=0, max=1_000_000),
    default=0,
    help="Pad each event to this many bytes (Event Hubs caps a request at ~1 MB).",
)
@BURST(default=0, help="Send this many events at once first (builds a backlog), then continue at --rate.")
@option("--client", type=click.Choice(CLIENTS), default="confluent", show_default=True)
@option(
    "--create-topic/--no-create-topic",
    default=False,
    help="Create the topic when it is missing (otherwise a missing topic is an error).",
)
@PARTITIONS(help="Partitions for --create-topic.")
@CONNECT_TIMEOUT()
@option(
    "--flush-timeout",
    type=seconds(0),
    default=10.0,
    show_default=True,
    help="On exit, wait this long for undelivered events (keep it below the pod's grace period).",
)
@PROGRESS_INTERVAL()
@VERBOSE(help="Log every delivered event.")
def produce(**options: Any) -> None:
    """Send JSON events to a topic (Event Hubs or plain Kafka).

    Exits non-zero when any event was not delivered.
    """
    profile = profile_from_options(options)
    configure_logging(options["verbose"])
    settings = ProduceSettings(
        topic=options["topic"],
        rate=options["rate"],
        count=options["count"],
        key=options["key_strategy"],
        size=options["size"],
        burst=options["burst"],
        progress_interval=options["progress_interval"],
        flush_timeout=options["flush_timeout"],
    )
    admin = connect_admin(profile, options["connect_timeout"])
    partitions = ensure_topic(
        admin, settings.topic, create=options["create_topic"], partitions=options["partitions"]
    )
    log_event(
        logger,
        "start",
        topic=settings.topic,
        partitions=partitions,
        client=options["client"],
        rate=settings.rate,
        count=settings.count,
        burst=settings.burst,
        connection=profile.describe(),
    )
    with stop_on_signals() as stop:
        sender = make_sender(options["client"], profile, settings.topic, stop)
        try:
            summary = run_producer(settings, sender, stop)
        finally:
            sender.close()
        _report(summary)
    if summary.lost:
        raise BrokerError(f"{summary.lost} of {summary.sent} events were not delivered")


def _report(summary: ProduceSummary) -> None:
    level = logging.ERROR if summary.lost else logging.INFO
    log_event(
        logger,
        "summary",
        level,
        sent=summary.sent,
        delivered=summary.delivered,
        failed=summary.failed,
        lost=summary.lost,
        seconds=f"{summary.elapsed_seconds:.2f}",
        rate=f"{summary.rate:.1f}/s",
    )
