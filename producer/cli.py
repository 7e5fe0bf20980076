"""`lagscale produce` / `python -m producer`: JSON events to a topic at a chosen rate."""

from __future__ import annotations

import logging
from typing import Any

import click

from kafkakit import envvars
from kafkakit.broker import BrokerError, connect_admin, ensure_topic
from kafkakit.cli_options import (
    CONNECT_TIMEOUT,
    PROGRESS_INTERVAL,
    Number,
    connection_options,
    profile_from_options,
    required_text,
    seconds_option,
)
from kafkakit.logs import configure_logging, log_event
from kafkakit.signals import stop_on_signals
from producer.keys import KEY_STRATEGIES
from producer.loop import ProduceSettings, ProduceSummary, run_producer
from producer.sender import CLIENTS, make_sender

logger = logging.getLogger("producer")


@click.command("produce", context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
@click.option(
    "--topic",
    envvar=envvars.TOPIC,
    callback=required_text("topic name"),
    help="Topic (Event Hub) to write to.",
)
@click.option(
    "--rate",
    envvar="LAGSCALE_RATE",
    type=Number(0, "events per second"),
    default=0.0,
    show_default=True,
    help="Events per second; 0 = as fast as possible.",
)
@click.option(
    "--count",
    envvar="LAGSCALE_COUNT",
    type=click.IntRange(min=0),
    default=0,
    help="Total events to send (burst included); default: until Ctrl+C / SIGTERM.",
)
@click.option(
    "--key",
    "key_strategy",
    envvar="LAGSCALE_KEY",
    type=click.Choice(KEY_STRATEGIES),
    default="random",
    show_default=True,
    help="random: 0-99 like the tutorial; sequence: the event number; none: no key.",
)
@click.option(
    "--size",
    envvar="LAGSCALE_SIZE",
    type=click.IntRange(min=0, max=1_000_000),
    default=0,
    help="Pad each event to this many bytes (Event Hubs caps a request at ~1 MB).",
)
@click.option(
    "--burst",
    envvar="LAGSCALE_BURST",
    type=click.IntRange(min=0),
    default=0,
    help="Send this many events at once first (builds a backlog), then continue at --rate.",
)
@click.option(
    "--client", envvar="LAGSCALE_CLIENT", type=click.Choice(CLIENTS), default="confluent", show_default=True
)
@click.option(
    "--create-topic/--no-create-topic",
    envvar="LAGSCALE_CREATE_TOPIC",
    default=False,
    help="Create the topic when it is missing (otherwise a missing topic is an error).",
)
@click.option(
    "--partitions",
    envvar="LAGSCALE_PARTITIONS",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Partitions for --create-topic.",
)
@CONNECT_TIMEOUT
@seconds_option(
    "--flush-timeout",
    "LAGSCALE_FLUSH_TIMEOUT",
    default=10.0,
    minimum=0,
    help="On exit, wait this long for undelivered events (keep it below the pod's grace period).",
)
@PROGRESS_INTERVAL
@click.option("-v", "--verbose", envvar="LAGSCALE_VERBOSE", is_flag=True, help="Log every delivered event.")
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
    try:
        admin = connect_admin(profile, options["connect_timeout"])
        partitions = ensure_topic(
            admin, settings.topic, create=options["create_topic"], partitions=options["partitions"]
        )
    except BrokerError as error:
        raise click.ClickException(str(error)) from None
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
        try:
            sender = make_sender(options["client"], profile, settings.topic, stop)
        except BrokerError as error:
            raise click.ClickException(str(error)) from None
        try:
            summary = run_producer(settings, sender, stop)
        finally:
            sender.close()
        _report(summary)
    if summary.lost:
        raise click.ClickException(f"{summary.lost} of {summary.sent} events were not delivered")


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
