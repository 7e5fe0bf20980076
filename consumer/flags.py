"""The consumer's group options, declared once: `lagscale consume` has them, and so do `lagscale
demo` (which passes them to its consumers) and `lagscale simulate` (which models them)."""

from __future__ import annotations

import click

from consumer.group import ASSIGNMENT_STRATEGIES, GROUP_PROTOCOLS
from kafkakit.cli_options import Flag, seconds

COMMIT_INTERVAL = Flag(
    "--commit-interval",
    type=seconds(0.25),
    default=1.0,
    show_default=True,
    help="Seconds between offset commits (Event Hubs allows ~4 commits/s per partition).",
)
GROUP_PROTOCOL = Flag(
    "--group-protocol",
    type=click.Choice(GROUP_PROTOCOLS),
    default=None,
    help="Rebalance protocol: consumer (KIP-848, Kafka >= 4.0; no stop-the-world) or classic; "
    "default: consumer, classic for Event Hubs.",
)
ASSIGNMENT_STRATEGY = Flag(
    "--assignment-strategy",
    type=click.Choice(ASSIGNMENT_STRATEGIES),
    default=None,
    help="Assignor of the classic protocol: range (default) and roundrobin are eager, "
    "cooperative-sticky is incremental.",
)
