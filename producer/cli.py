"""`lagscale produce` / `python -m producer`: JSON events to a topic at a chosen rate."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

import click

from kafkakit import envvars
from kafkakit.broker import BrokerError, connect_admin, ensure_topic
from kafkakit.cli_options import connection_options, profile_from_options
from kafkakit.clients import confluent_config
from kafkakit.logs import configure_logging, log_event
from producer.keys import KEY_STRATEGIES
from producer.loop import ProduceSettings, ProduceSummary, run_producer
from producer.sender import CLIENTS, FAST_START, make_sender

logger = logging.getLogger("producer")


@click.command("produce", context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
@click.option("--topic", envvar=envvars.TOPIC, required=True, help="Topic (Event Hub) to write to.")
@click.option(
    "--rate",
    envvar="LAGSCALE_RATE",
    type=click.FloatRange(min=0),
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
@click.option(
    "--connect-timeout",
    envvar="LAGSCALE_CONNECT_TIMEOUT",
    type=click.FloatRange(min=1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the broker before giving up.",
)
@click.option(
    "--progress-interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between progress lines.",
)
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
    )
    try:
        admin_config = confluent_config(profile, "admin") | FAST_START
        admin = connect_admin(profile, options["connect_timeout"], config=admin_config)
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
    sender = make_sender(options["client"], profile, settings.topic)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = run_producer(settings, sender, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sender.close()
    _report(summary)
    if summary.lost:
        sys.exit(1)


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
