"""The options of `lagscale simulate` that describe the world around the scaler: how events spread
over partitions, how the consumers behave as a group, how pods start. The group's timings default
to what bench/bench_rebalance.py measured (lagscale/simulate/measured.json); a flag overrides one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from consumer.flags import ASSIGNMENT_STRATEGY, COMMIT_INTERVAL, GROUP_PROTOCOL
from kafkakit.cli_options import Decorator, Flag, option, options, seconds
from lagscale.simulate.group_settings import STOPS, GroupSettings, measured_group
from lagscale.simulate.keys import KEY_FORMS, KeySpread, parse_keys

KEYS = Flag(
    "--keys",
    "keys_text",
    default="random",
    show_default=True,
    help=f"How events spread over partitions: {' | '.join(KEY_FORMS)}; random = `lagscale produce`'s "
    "keys 0-99 (unequal partitions), sequence = key per event number, even/none = alike.",
)

# name, help; each a number of seconds whose default is the measurement for the protocol.
_TIMINGS = (
    ("heartbeat_interval", "a member learns of a rebalance at its next heartbeat (5 consumer / 3 classic)"),
    ("join_latency", "from (re)joining to the coordinator's answer"),
    ("fetch_delay", "from a partition's assignment to its first event"),
    ("revoke_pause", "after a revocation, how long the partitions a member keeps wait to be fetched again"),
    ("assign_pause", "the same after an assignment"),
    ("session_timeout", "how long a crashed member's partitions wait (default 45)"),
    ("event_overhead", "seconds per event on top of --process-time (the consumer's own work)"),
)


def group_options() -> Decorator[Any]:
    """The group protocol, the consumer's commit interval, and the model's timings."""
    timing_flags = [
        option(
            f"--{name.replace('_', '-')}",
            type=seconds(0),
            default=None,
            help=f"Seconds: {text}; default: measured.",
        )
        for name, text in _TIMINGS
    ]
    return options(
        GROUP_PROTOCOL(
            default="consumer",
            show_default=True,
            help="The consumers' rebalance protocol: consumer (KIP-848) or classic.",
        ),
        ASSIGNMENT_STRATEGY(help="classic only: range (default), roundrobin or cooperative-sticky."),
        COMMIT_INTERVAL(
            help="The consumers' --commit-interval: what they processed shows as lag until then."
        ),
        *timing_flags,
        option(
            "--stop",
            type=click.Choice(STOPS),
            default="graceful",
            show_default=True,
            help="How scale-in stops a pod: graceful (SIGTERM: finish, commit, leave) or crash (SIGKILL).",
        ),
    )


def group_from_options(values: Mapping[str, Any]) -> GroupSettings:
    """The group the flags describe: the protocol's measured timings, flags on top."""
    timings = {name: values.get(name) for name, _ in _TIMINGS}
    return measured_group(
        values["group_protocol"] or "consumer",
        values.get("assignment_strategy") or "",
        commit_interval=values.get("commit_interval"),
        stop=values.get("stop"),
        **timings,
    )


def keys_from_options(values: Mapping[str, Any]) -> KeySpread:
    return parse_keys(values.get("keys_text") or "random")
