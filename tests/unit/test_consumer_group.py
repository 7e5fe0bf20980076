"""Group membership settings (protocol, assignor, static membership) and the assignment tracking
of the consumer, without a broker. The behaviour against the broker is in
tests/kafka/test_consumer_rebalance.py."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from consumer.assignment import Assignment
from consumer.group import GroupMembership, failure_hint, resolve_membership
from consumer.settings import consumer_config
from kafkakit.errors import ConfigError
from kafkakit.profiles import build_profile

CONNECTION_STRING = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s"


def test_defaults_are_the_consumer_protocol_and_classic_range_for_event_hubs() -> None:
    assert resolve_membership(None, None, "", eventhubs=False) == GroupMembership("consumer", "", "")
    assert resolve_membership(None, None, "", eventhubs=True) == GroupMembership("classic", "range", "")
    assert resolve_membership("classic", None, "", eventhubs=False).assignment_strategy == "range"
    assert resolve_membership("consumer", None, " pod-7 ", eventhubs=True) == GroupMembership(
        "consumer", "", "pod-7"
    )


@pytest.mark.parametrize(
    ("protocol", "strategy", "instance", "expected"),
    [
        ("consumer", "range", "", "--assignment-strategy / LAGSCALE_ASSIGNMENT_STRATEGY applies to"),
        ("classic", "sticky", "", "'sticky' is not one of range, roundrobin, cooperative-sticky"),
        ("eager", None, "", "--group-protocol / LAGSCALE_GROUP_PROTOCOL: 'eager' is not one of"),
        ("classic", None, "pod/7", "--group-instance-id / LAGSCALE_GROUP_INSTANCE_ID: 'pod/7' must be"),
        ("classic", None, "x" * 250, "must be 1-249 letters"),
        ("classic", None, "..", "must be 1-249 letters"),
    ],
)
def test_bad_settings_name_the_option_and_its_variable(
    protocol: str, strategy: str | None, instance: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_membership(protocol, strategy, instance, eventhubs=False)
    assert expected in str(raised.value)


def test_consumer_protocol_drops_the_settings_librdkafka_refuses_with_it() -> None:
    """The Event Hubs profile sets a session timeout and heartbeat interval (Microsoft's advice for
    the classic protocol); librdkafka refuses to create a consumer-protocol member with them."""
    profile = build_profile("eventhubs", connection_string=CONNECTION_STRING)
    classic = consumer_config(profile, "g", resolve_membership("classic", "range", "pod-1", eventhubs=True))
    assert classic["session.timeout.ms"] == 30_000
    assert (classic["group.protocol"], classic["partition.assignment.strategy"]) == ("classic", "range")
    assert classic["group.instance.id"] == "pod-1"

    kip848 = consumer_config(profile, "g", resolve_membership("consumer", None, "", eventhubs=True))
    assert kip848["group.protocol"] == "consumer"
    for refused in ("session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"):
        assert refused not in kip848
    assert "group.instance.id" not in kip848
    assert kip848["enable.auto.commit"] is False  # the at-least-once settings stay


def test_incremental_means_only_moving_partitions_are_revoked() -> None:
    assert GroupMembership("consumer").incremental
    assert GroupMembership("classic", "cooperative-sticky").incremental
    assert not GroupMembership("classic", "range").incremental
    assert not GroupMembership("classic", "roundrobin").incremental


def test_fatal_group_errors_get_a_hint_that_says_what_to_change() -> None:
    """The texts librdkafka 2.16 gave against a Kafka 4.1 broker with the consumer protocol
    disabled, and for a second static member with the id of one that was killed."""
    unsupported = str(
        KafkaError(KafkaError._FATAL, "ConsumerGroupHeartbeat fatal error: Broker: API version not supported")
    )
    assert "pass --group-protocol classic (LAGSCALE_GROUP_PROTOCOL=classic)" in failure_hint(
        GroupMembership("consumer"), unsupported
    )
    assert failure_hint(GroupMembership("classic", "range"), unsupported) == ""
    in_use = (
        "Fatal error: Broker: The instance ID is still used by another member in the consumer group: "
        "ConsumerGroupHeartbeat fatal error: Broker: The instance ID is still used by another member"
    )
    hint = failure_hint(GroupMembership("consumer", "", "pod-a"), in_use)
    assert "still holds --group-instance-id / LAGSCALE_GROUP_INSTANCE_ID 'pod-a'" in hint
    assert "classic" not in hint
    assert failure_hint(GroupMembership("consumer"), "Broker: Group authorization failed") == ""


class FakeMessage:
    def __init__(self, partition: int, failed: bool = False) -> None:
        self._partition, self._failed = partition, failed

    def error(self) -> object | None:
        return object() if self._failed else None

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return self._partition


def test_incremental_changes_add_up_to_what_is_owned() -> None:
    assignment = Assignment()
    assignment.assigned([("t", 0), ("t", 1), ("t", 2), ("t", 3)])
    assignment.revoked([("t", 2), ("t", 3)])  # cooperative: only the partitions that move
    assignment.assigned([])  # KIP-848 and cooperative-sticky also report empty additions
    assert len(assignment) == 2
    assert ("t", 1) in assignment
    assert ("t", 2) not in assignment


def test_a_batch_keeps_events_of_revoked_partitions_only_when_no_revoke_happened() -> None:
    assignment = Assignment()
    assignment.assigned([("t", 0), ("t", 1)])
    batch = [FakeMessage(0), FakeMessage(1), FakeMessage(1, failed=True)]
    assert assignment.owned_only(batch) is batch  # no revoke: no per-event check

    assignment.revoked([("t", 1)])
    kept = assignment.owned_only(batch)
    assert [(m.partition(), m.error() is not None) for m in kept] == [(0, False), (1, True)]
    assert assignment.owned_only(batch) is batch  # checked once per revoke
