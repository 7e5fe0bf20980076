"""How the consumers behave as a group: the protocol, and the timings that make scaling cost time.

The defaults are measurements, not guesses: bench/bench_rebalance.py measured them on the local
broker with real `lagscale consume` processes and wrote them into measured.json (package data, so
a wheel has them too); docs/simulate.md says how each one was measured. Heartbeat intervals and
the session timeout are the clients' and the broker's defaults.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from kafkakit.errors import ConfigError, Problem

PROTOCOLS = ("consumer", "classic")
STRATEGIES = ("range", "roundrobin", "cooperative-sticky")
Stop = Literal["graceful", "crash"]
STOPS: tuple[Stop, ...] = ("graceful", "crash")
TIMING_FIELDS = (
    "heartbeat_interval",
    "join_latency",
    "fetch_delay",
    "revoke_pause",
    "assign_pause",
)


@functools.cache
def measured() -> dict[str, Any]:
    """measured.json: what bench/bench_rebalance.py --update-model wrote."""
    text = resources.files("lagscale.simulate").joinpath("measured.json").read_text(encoding="utf-8")
    values: dict[str, Any] = json.loads(text)
    return values


def protocol_key(protocol: str, strategy: str) -> str:
    """`consumer`, or `classic/<assignor>`: how measured.json names a configuration."""
    return protocol if protocol == "consumer" else f"classic/{strategy or 'range'}"


@dataclass(frozen=True)
class GroupSettings:
    """A consumer group's protocol and timings (seconds)."""

    protocol: str = "consumer"
    assignment_strategy: str = ""
    """classic only: range (librdkafka's default), roundrobin or cooperative-sticky."""
    heartbeat_interval: float = 5.0
    """A member learns of a rebalance at its next heartbeat: consumer protocol 5 s (the broker's
    group.consumer.heartbeat.interval.ms), classic 3 s (librdkafka's heartbeat.interval.ms)."""
    join_latency: float = 0.0
    """From joining (or rejoining) to the coordinator's answer, when nobody else is waited for."""
    fetch_delay: float = 0.0
    """From a partition's assignment to its first fetched event."""
    revoke_pause: float = 0.0
    """After a revocation, how long the partitions a member keeps wait to be fetched again."""
    assign_pause: float = 0.0
    """The same after an assignment that adds partitions."""
    commit_interval: float = 1.0
    """`lagscale consume --commit-interval`."""
    session_timeout: float = 45.0
    """After a crash, how long the crashed member's partitions wait (both protocols' default)."""
    event_overhead: float = 0.0
    """Seconds per event on top of --process-time (the consumer's own work per event)."""
    stop: Stop = "graceful"
    """graceful: SIGTERM (finish, commit, leave); crash: SIGKILL (nothing committed, no leave)."""

    @property
    def strategy(self) -> str:
        """The assignor: `uniform` (the consumer protocol's, on the broker) or the classic one."""
        return "uniform" if self.protocol == "consumer" else self.assignment_strategy or "range"

    @property
    def key(self) -> str:
        return protocol_key(self.protocol, self.assignment_strategy)

    def validate(self) -> GroupSettings:
        problems = []
        if self.protocol not in PROTOCOLS:
            problems.append(Problem("--group-protocol", f"must be one of {', '.join(PROTOCOLS)}"))
        elif self.protocol == "consumer" and self.assignment_strategy:
            problems.append(
                Problem(
                    "--assignment-strategy", "applies to --group-protocol classic only (the broker assigns)"
                )
            )
        elif self.assignment_strategy and self.assignment_strategy not in STRATEGIES:
            problems.append(Problem("--assignment-strategy", f"must be one of {', '.join(STRATEGIES)}"))
        if self.stop not in STOPS:
            problems.append(Problem("--stop", f"must be one of {', '.join(STOPS)}"))
        for name in (*TIMING_FIELDS, "session_timeout", "event_overhead"):
            if getattr(self, name) < 0:
                problems.append(Problem(f"--{name.replace('_', '-')}", "must be >= 0 seconds"))
        if self.commit_interval <= 0:
            problems.append(Problem("--commit-interval", "must be > 0 seconds"))
        if self.heartbeat_interval <= 0:
            problems.append(Problem("--heartbeat-interval", "must be > 0 seconds"))
        if problems:
            raise ConfigError(problems, title="invalid consumer-group settings")
        return self


def measured_group(
    protocol: str = "consumer", assignment_strategy: str = "", **overrides: Any
) -> GroupSettings:
    """GroupSettings with the measured timings of this protocol and assignor; `overrides` (None
    values ignored) replace any of them."""
    values = measured()
    key = protocol_key(protocol, assignment_strategy)
    timings = values["protocols"].get(key)
    if timings is None:
        raise ConfigError(Problem("--group-protocol", f"no measured timings for {key}"))
    fields: dict[str, Any] = {name: timings[name] for name in TIMING_FIELDS}
    fields["event_overhead"] = values["event_overhead"]
    fields.update({name: value for name, value in overrides.items() if value is not None})
    return GroupSettings(protocol=protocol, assignment_strategy=assignment_strategy, **fields).validate()


def measured_process_start() -> float:
    """Seconds from starting `python -m consumer` until it joins its group (the local demo's
    pod start: a process, no container)."""
    start: float = measured()["process_start"]
    return start


def measured_producer_start() -> float:
    """Seconds from starting `python -m producer` until it sends (the local demo's load starts then)."""
    start: float = measured()["producer_start"]
    return start


def measured_start_spread() -> float:
    """Seconds between the consumers of pods asked for at once joining, one after another."""
    spread: float = measured()["start_spread"]
    return spread
