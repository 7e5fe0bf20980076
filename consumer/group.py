"""How a consumer takes part in its group: the rebalance protocol, the assignor and static
membership, turned into librdkafka settings.

* `consumer` is Kafka's next-generation group protocol (KIP-848, Kafka >= 4.0, librdkafka >= 2.12):
  the broker computes the assignment and hands partitions over incrementally; only members whose
  assignment changes are disturbed. Session timeout, heartbeat interval and assignor are broker
  settings; librdkafka refuses the classic client-side ones with this protocol.
* `classic` is the JoinGroup/SyncGroup protocol with a client-side assignor: `range` and
  `roundrobin` are eager (every member gives up every partition at each rebalance),
  `cooperative-sticky` is incremental (KIP-429: only the partitions that move are revoked, but
  every member takes part in two rounds).

The defaults come from bench/bench_rebalance.py (docs/benchmarks.md): `consumer` where the broker
has it; for Azure Event Hubs, whose Kafka endpoint documents no KIP-848 support, `classic` with
`range`, which cost the members less processing time than cooperative-sticky in that benchmark
(docs/apps.md, "Group protocol").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kafkakit.errors import ConfigError

CLASSIC, CONSUMER = "classic", "consumer"
GROUP_PROTOCOLS = (CLASSIC, CONSUMER)
ASSIGNMENT_STRATEGIES = ("range", "roundrobin", "cooperative-sticky")
DEFAULT_PROTOCOL = CONSUMER
EVENTHUBS_DEFAULT_PROTOCOL = CLASSIC
DEFAULT_ASSIGNMENT_STRATEGY = "range"

# librdkafka refuses these with group.protocol=consumer ("not supported ... defined broker side").
_CLASSIC_ONLY = ("partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms")
# Kafka's rule for group.instance.id (and topic names): at most 249 of these characters.
_INSTANCE_ID = re.compile(r"[a-zA-Z0-9._-]{1,249}")

PROTOCOL_FLAG = "--group-protocol / LAGSCALE_GROUP_PROTOCOL"
STRATEGY_FLAG = "--assignment-strategy / LAGSCALE_ASSIGNMENT_STRATEGY"
INSTANCE_ID_FLAG = "--group-instance-id / LAGSCALE_GROUP_INSTANCE_ID"


@dataclass(frozen=True)
class GroupMembership:
    protocol: str = DEFAULT_PROTOCOL
    assignment_strategy: str = ""  # classic only
    instance_id: str = ""  # static membership when set

    @property
    def incremental(self) -> bool:
        """Whether a rebalance revokes only the partitions that move (else: every partition)."""
        return self.protocol == CONSUMER or self.assignment_strategy == "cooperative-sticky"

    def apply(self, config: dict[str, Any]) -> dict[str, Any]:
        """`config` with this membership's settings; with the consumer protocol the classic-only
        ones (e.g. the Event Hubs session timeout) are dropped: the broker owns them."""
        merged = {**config, "group.protocol": self.protocol}
        if self.protocol == CONSUMER:
            for key in _CLASSIC_ONLY:
                merged.pop(key, None)
        else:
            merged["partition.assignment.strategy"] = self.assignment_strategy
        if self.instance_id:
            merged["group.instance.id"] = self.instance_id
        return merged

    def describe(self) -> dict[str, str]:
        """Fields for the start log line."""
        fields = {"group_protocol": self.protocol}
        if self.assignment_strategy:
            fields["assignment_strategy"] = self.assignment_strategy
        if self.instance_id:
            fields["group_instance_id"] = self.instance_id
        return fields


def resolve_membership(
    protocol: str | None, assignment_strategy: str | None, instance_id: str, *, eventhubs: bool
) -> GroupMembership:
    """The membership asked for, with the defaults filled in; ConfigError names the setting."""
    chosen = protocol or (EVENTHUBS_DEFAULT_PROTOCOL if eventhubs else DEFAULT_PROTOCOL)
    if chosen not in GROUP_PROTOCOLS:
        raise ConfigError(f"{PROTOCOL_FLAG}: {chosen!r} is not one of {', '.join(GROUP_PROTOCOLS)}")
    if chosen == CONSUMER and assignment_strategy:
        raise ConfigError(
            f"{STRATEGY_FLAG} applies to --group-protocol classic only: with the consumer protocol "
            "the broker assigns partitions (group.consumer.assignors); drop it or pass "
            "--group-protocol classic"
        )
    strategy = assignment_strategy or (DEFAULT_ASSIGNMENT_STRATEGY if chosen == CLASSIC else "")
    if strategy and strategy not in ASSIGNMENT_STRATEGIES:
        raise ConfigError(f"{STRATEGY_FLAG}: {strategy!r} is not one of {', '.join(ASSIGNMENT_STRATEGIES)}")
    instance = instance_id.strip()
    if instance and (not _INSTANCE_ID.fullmatch(instance) or instance in (".", "..")):
        raise ConfigError(
            f"{INSTANCE_ID_FLAG}: {instance!r} must be 1-249 letters, digits, '.', '_' or '-' "
            "(a pod name qualifies), unique per member of the group"
        )
    return GroupMembership(chosen, strategy, instance)


def failure_hint(membership: GroupMembership, error_text: str) -> str:
    """What to change after a fatal group error; "" when there is nothing specific to say."""
    if (
        membership.protocol == CONSUMER
        and "ConsumerGroupHeartbeat" in error_text
        and "not supported" in error_text
    ):
        # Kafka < 4.0, the protocol disabled on the broker, or a Kafka-compatible service without it.
        return (
            "the broker does not support the consumer group protocol (KIP-848: Kafka >= 4.0 with "
            "group.coordinator.rebalance.protocols including consumer); pass --group-protocol classic "
            "(LAGSCALE_GROUP_PROTOCOL=classic)"
        )
    if membership.instance_id and "instance ID is still used" in error_text:
        # The consumer protocol fences the new member; the classic one would fence the old one.
        return (
            f"another member still holds {INSTANCE_ID_FLAG} {membership.instance_id!r}: a static member "
            "that stopped without leaving keeps it for the session timeout (45 s by default); retry "
            "after that, or give every member its own id"
        )
    return ""
