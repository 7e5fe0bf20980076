"""The scaler's offsets path on a group of the consumer protocol (KIP-848): `lagscale lag` gives
the same lag, metric, activity, cap and invalid-offset results as for a classic group with the
same commits, while members are in the group and after they left (an empty group).

The scaler only reads offsets (OffsetFetch without a member, ListOffsets, Metadata); which
protocol the group's members speak does not enter those requests, and the test checks that the
broker answers them alike for both group types.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupType, TopicPartition
from confluent_kafka.admin import AdminClient
from offsets_helpers import produce

from lagscale.cli import main

pytestmark = pytest.mark.kafka

PARTITIONS = 4
# Partitions 2 and 3 have no commit: KEDA's invalid-offset rules decide their lag.
COMMITTED = {0: 10, 1: 12}
TRIGGER_VARIANTS = {
    "latest": [],
    "earliest": ["--offset-reset-policy", "earliest"],
    "scale-to-zero": ["--scale-to-zero-on-invalid-offset"],
    "earliest-scale-to-zero": ["--offset-reset-policy", "earliest", "--scale-to-zero-on-invalid-offset"],
    "capped-inactive": ["--lag-threshold", "2", "--activation-lag-threshold", "100"],
    "no-topic": [],  # the topic is left out: every topic the group committed
}
_CLEAN_ENV = {
    name: None for name in os.environ if name.startswith(("KAFKA_EVENTHUB_", "LAGSCALE_", "EVENTHUBS_"))
}


def lag_report(bootstrap: str, group: str, topic: str, variant: str) -> dict[str, Any]:
    topic_args = [] if variant == "no-topic" else ["--topic", topic]
    args = [
        "lag",
        "--bootstrap",
        bootstrap,
        "--group",
        group,
        *topic_args,
        "--json",
        *TRIGGER_VARIANTS[variant],
    ]
    result = CliRunner(env=_CLEAN_ENV).invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = dict(json.loads(result.stdout))
    assert report.pop("consumer_group") == group
    # Without a topic KEDA names the metric after the group (s0-kafka-<group>-topics).
    report["metric_name"] = report["metric_name"].replace(group, "<group>")
    return report


def join_and_commit(bootstrap: str, group: str, topic: str, protocol: str) -> Consumer:
    """A member of `protocol` that owns every partition and has committed COMMITTED."""
    owned: list[TopicPartition] = []
    member = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": protocol,
            "enable.auto.commit": False,
        }
    )
    member.subscribe([topic], on_assign=lambda _consumer, partitions: owned.extend(partitions))
    deadline = time.monotonic() + 60
    while len(owned) < PARTITIONS:
        assert time.monotonic() < deadline, f"no assignment for the {protocol} member"
        member.poll(0.2)
    member.commit(offsets=[TopicPartition(topic, p, o) for p, o in COMMITTED.items()], asynchronous=False)
    return member


def describe(admin: AdminClient, group: str) -> tuple[ConsumerGroupType, ConsumerGroupState, int]:
    description = admin.describe_consumer_groups([group])[group].result(timeout=30)
    return description.type, description.state, len(description.members)


def test_lag_and_keda_decisions_match_for_consumer_and_classic_groups(
    kafka, admin, make_topic, unique_name
) -> None:
    topic = make_topic("kip848", partitions=PARTITIONS)
    produce(kafka.bootstrap, topic, {0: 30, 1: 12, 2: 7})  # partition 3 stays empty
    reports: dict[str, dict[str, dict[str, Any]]] = {}
    for protocol, group_type in (
        ("classic", ConsumerGroupType.CLASSIC),
        ("consumer", ConsumerGroupType.CONSUMER),
    ):
        group = unique_name(f"{protocol}-group")
        member = join_and_commit(kafka.bootstrap, group, topic, protocol)
        assert describe(admin, group) == (group_type, ConsumerGroupState.STABLE, 1)
        reports[protocol] = {
            f"{v} stable": lag_report(kafka.bootstrap, group, topic, v) for v in TRIGGER_VARIANTS
        }
        member.close()
        assert describe(admin, group) == (group_type, ConsumerGroupState.EMPTY, 0)
        reports[protocol] |= {
            f"{v} empty": lag_report(kafka.bootstrap, group, topic, v) for v in TRIGGER_VARIANTS
        }

    assert reports["consumer"] == reports["classic"]
    # ...and they are KEDA's numbers, not merely equal to each other.
    latest, earliest = reports["consumer"]["latest empty"], reports["consumer"]["earliest empty"]
    assert [p["lag"] for p in latest["partitions"]] == [20, 0, 1, 1]  # no commit + latest: 1
    assert [p["lag"] for p in earliest["partitions"]] == [20, 0, 7, 0]  # no commit + earliest: log end
    assert [p["lag"] for p in reports["consumer"]["scale-to-zero empty"]["partitions"]] == [20, 0, 0, 0]
    capped = reports["consumer"]["capped-inactive stable"]
    assert (capped["metric"], capped["capped"], capped["active"]) == ("8", True, False)  # 4 partitions x 2
    assert reports["consumer"]["no-topic stable"]["total_lag"] == 22  # all partitions of its topic
