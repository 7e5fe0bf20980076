"""The producer's options that `lagscale demo` passes on to its producer, declared once."""

from __future__ import annotations

import click

from kafkakit.cli_options import Flag
from producer.keys import KEY_STRATEGIES

KEY = Flag(
    "--key",
    "key_strategy",
    type=click.Choice(KEY_STRATEGIES),
    default="random",
    show_default=True,
    help="random: 0-99 like the tutorial; sequence: the event number; none: no key.",
)
