"""KEDA's own end-to-end scenarios for its `kafka` scaler, as data: what happens to the offsets, and
the replica counts (and the metric) expected after each step.

The scenarios and their replica counts are those of kedacore/keda `tests/scalers/kafka/kafka_test.go`
(v2.20.2; the same in `tests/scalers/apache_kafka/apache_kafka_test.go`), rewritten here: each
`Scenario.keda_test` names the Go function it follows, and docs/keda-e2e.md lists them. Steps marked
`ours=True`, and the scenarios without `keda_test`, are not in KEDA's tests: their counts are derived
from KEDA's scaler code (pkg/scalers/kafka_scaler.go) and checked here against the real KEDA.

Where KEDA's tests run consumer pods and a producer pod, these steps act on the offsets directly:
`Produce` writes records to chosen partitions, `Commit` commits the group at the log end (what a
consumer does once it has read everything, and what KEDA's `commitPartition` helper does). Every
ScaledObject is KEDA's: lagThreshold 1 unless said, cooldownPeriod 0, HPA behavior with 0 s
stabilization and +-100 % per 15 s (`scenario_runner.scenario_objects`); only pollingInterval is
shorter (2 s, not 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Produce:
    """Write `records[p]` records to partition p of topic number `topic`."""

    records: Mapping[int, int]
    topic: int = 0


@dataclass(frozen=True)
class Commit:
    """The group commits the log end of topic number `topic` (all partitions, or those listed)."""

    topic: int = 0
    partitions: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Expect:
    """After the steps before it: the Deployment reaches `replicas` (ready, as KEDA's
    WaitForDeploymentReplicaReadyCount), or with `hold` stays there for the hold period (KEDA's
    AssertReplicaCountNotChangeDuringTimePeriod). `metric` is the value KEDA reports then, seen
    first, so the replica check starts only once the scaler has read the new offsets."""

    replicas: int
    metric: float
    why: str
    hold: bool = False
    ours: bool = False


Step = Produce | Commit | Expect


@dataclass(frozen=True)
class Scenario:
    """One ScaledObject on its own topics and group. `before` runs before it is applied."""

    name: str
    partitions: tuple[int, ...]  # one entry per topic
    metadata: Mapping[str, str]  # trigger metadata besides bootstrapServers, consumerGroup, topic
    steps: tuple[Step, ...]
    keda_test: str = ""  # the function of kafka_test.go it follows; "" = derived from KEDA's code
    before: tuple[Produce | Commit, ...] = ()
    topic_in_trigger: bool = True  # False: `topic` omitted, every topic the group committed on
    notes: str = ""
    expectations: tuple[Expect, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expectations", tuple(s for s in self.steps if isinstance(s, Expect)))


def _policy(policy: str, **extra: str) -> dict[str, str]:
    return {"lagThreshold": "1", "offsetResetPolicy": policy, **extra}


# Both policies, KEDA's steps after "no lag, 0": 0 on lag 1 (activation 1), 2 on lag 2, 3 on lag 7.
_ONE_TWO_SEVEN = (
    Produce({0: 1}),
    Expect(0, 1, "lag 1 is not above activationLagThreshold 1", hold=True),
    Produce({1: 1}),
    Expect(2, 2, "lag 2 over lagThreshold 1"),
    Produce({0: 2, 1: 2, 2: 1}),
    Expect(3, 3, "lag 7 capped at the 3 partitions"),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "earliest",
        keda_test="testEarliestPolicy",
        partitions=(3,),
        metadata=_policy("earliest", activationLagThreshold="1"),
        steps=(Expect(0, 0, "an empty topic, no commits", hold=True), *_ONE_TWO_SEVEN),
        notes="The group never commits: under earliest every record counts.",
    ),
    Scenario(
        "latest",
        keda_test="testLatestPolicy",
        partitions=(3,),
        metadata=_policy("latest", activationLagThreshold="1"),
        before=(Produce({0: 3, 1: 2, 2: 2}), Commit()),
        steps=(Expect(0, 0, "committed at the log end", hold=True), *_ONE_TWO_SEVEN),
        notes="KEDA's topic holds the 7 records of the earliest test; commitPartition reads them.",
    ),
    Scenario(
        "multi-topic",
        keda_test="testMultiTopic",
        partitions=(3, 3),
        topic_in_trigger=False,
        metadata=_policy("latest"),
        before=(Produce({0: 5, 1: 5, 2: 4}), Commit(0), Commit(1)),
        steps=(
            Expect(0, 0, "committed at the log end of both topics", hold=True),
            Produce({0: 1}, topic=0),
            Expect(1, 1, "lag 1 in the first topic"),
            Produce({0: 1}, topic=1),
            Expect(2, 2, "lag 1 + 1 over both topics the group committed on"),
        ),
    ),
    Scenario(
        "zero-on-invalid-offset-latest",
        keda_test="testZeroOnInvalidOffsetWithLatestOffsetResetPolicy",
        partitions=(1,),
        metadata=_policy("latest", scaleToZeroOnInvalidOffset="true"),
        steps=(Expect(0, 0, "no commit: the invalid offset counts 0, not 1", hold=True),),
    ),
    Scenario(
        "zero-on-invalid-offset-earliest",
        keda_test="testZeroOnInvalidOffsetWithEarliestOffsetResetPolicy",
        partitions=(1,),
        metadata=_policy("earliest", scaleToZeroOnInvalidOffset="true"),
        steps=(
            Expect(0, 0, "no commit, an empty topic", hold=True),
            Produce({0: 1}),
            Expect(0, 0, "no commit: the record does not count (1 without the flag)", hold=True, ours=True),
        ),
        notes="KEDA's topic is empty, where earliest counts 0 even without the flag; our extra step "
        "adds a record, which only the flag keeps from counting.",
    ),
    Scenario(
        "one-on-invalid-offset-latest",
        keda_test="testOneOnInvalidOffsetWithLatestOffsetResetPolicy",
        partitions=(1,),
        metadata=_policy("latest", scaleToZeroOnInvalidOffset="false"),
        steps=(
            Expect(1, 1, "no commit: latest counts the invalid offset as lag 1"),
            Commit(),
            Produce({0: 1}),
            Commit(),  # the consumer KEDA started reads the record and commits
            Expect(0, 0, "committed at the log end"),
        ),
    ),
    Scenario(
        "one-on-invalid-offset-earliest",
        keda_test="testOneOnInvalidOffsetWithEarliestOffsetResetPolicy",
        partitions=(1,),
        metadata=_policy("earliest", scaleToZeroOnInvalidOffset="false"),
        before=(Produce({0: 1}),),
        steps=(
            Expect(1, 1, "no commit: earliest counts the whole partition"),
            Commit(),
            Produce({0: 1}),
            Commit(),
            Expect(0, 0, "committed at the log end"),
        ),
    ),
    Scenario(
        "persistent-lag",
        keda_test="testPersistentLag",
        partitions=(3,),
        metadata=_policy("latest", excludePersistentLag="true"),
        before=(Commit(),),
        steps=(
            Expect(0, 0, "committed at the log end", hold=True, ours=True),
            Produce({0: 1}),
            Expect(1, 0, "the committed offset did not move since the last poll: persistent lag"),
            Commit(),  # the consumer reads the record; then KEDA's test switches its group
            Expect(0, 0, "committed at the log end: KEDA scales to 0", ours=True),
            Produce({0: 2, 1: 2, 2: 1}),
            Expect(1, 0, "lag 5 that no commit moves: active, metric 0"),
            Expect(1, 0, "persistent lag never scales above 1 (3 without the flag)", hold=True),
        ),
        notes="KEDA's test lets a consumer commit the first record, then scales the Deployment to 0 "
        "and gives it another group; here the commits stop and KEDA itself scales to 0.",
    ),
    Scenario(
        "limit-to-partitions-with-lag",
        keda_test="testScalingOnlyPartitionsWithLag",
        partitions=(3,),
        metadata=_policy("earliest", activationLagThreshold="1", limitToPartitionsWithLag="true"),
        before=(Commit(),),
        steps=(
            Expect(0, 0, "committed at the log end", hold=True),
            Produce({0: 1}),
            Expect(0, 1, "lag 1 is not above activationLagThreshold 1", hold=True),
            Produce({0: 5}),
            Expect(1, 1, "lag 6 on one partition: capped at 1 partition with lag"),
            Expect(1, 1, "only one partition has lag", hold=True),
            Produce({1: 5}),
            Expect(2, 2, "lag 11 on two partitions: capped at 2"),
            Expect(2, 2, "only two partitions have lag", hold=True),
        ),
    ),
    Scenario(
        "ensure-even-distribution",
        keda_test="testScalingEnsureEvenDistributionOfPartitions",
        partitions=(10,),
        metadata=_policy("earliest", activationLagThreshold="1", ensureEvenDistributionOfPartitions="true"),
        before=(Commit(),),
        steps=(
            Expect(0, 1, "no lag; even distribution still reports 1 x lagThreshold", hold=True),
            Produce({0: 1}),
            Expect(0, 1, "lag 1 is not above activationLagThreshold 1", hold=True),
            Produce({1: 1, 2: 1, 3: 1, 4: 1}),
            Expect(5, 5, "lag 5: 5 divides the 10 partitions"),
            Produce({5: 1, 6: 1, 7: 1}),
            Expect(10, 10, "lag 8: the next divisor of 10 is 10"),
        ),
    ),
    # -- not in KEDA's e2e tests: counts derived from pkg/scalers/kafka_scaler.go ------------------
    Scenario(
        "cap-off-by-one",
        partitions=(2,),
        metadata={"lagThreshold": "10", "offsetResetPolicy": "earliest"},
        steps=(
            Produce({0: 15, 1: 14}),
            Expect(3, 29, "lag 29: 29 // 10 = 2 is not above 2 partitions, so no cap: ceil(2.9) = 3"),
        ),
    ),
    Scenario(
        "partition-limitation",
        partitions=(4,),
        metadata=_policy("earliest", partitionLimitation="0-1"),
        steps=(
            Produce({3: 5}),
            Expect(0, 0, "records on partition 3, outside partitionLimitation 0-1", hold=True),
            Produce({0: 1}),
            Expect(1, 1, "lag 1 on partition 0"),
            Produce({1: 5}),
            Expect(2, 2, "lag 6 capped at the 2 partitions listed"),
        ),
    ),
    Scenario(
        "allow-idle-consumers",
        partitions=(2,),
        metadata=_policy("earliest", allowIdleConsumers="true"),
        steps=(
            Produce({0: 3, 1: 2}),
            Expect(5, 5, "lag 5 and no partition cap: 5 replicas for 2 partitions"),
        ),
    ),
    Scenario(
        "zero-on-invalid-offset-limit-to-partitions-with-lag",
        partitions=(3,),
        metadata=_policy("latest", scaleToZeroOnInvalidOffset="true", limitToPartitionsWithLag="true"),
        before=(Commit(partitions=(0,)),),
        steps=(
            Produce({0: 5, 1: 1, 2: 1}),
            Expect(1, 1, "partitions 1 and 2 never committed count 0, so 1 partition has lag"),
            Expect(1, 1, "3 without scaleToZeroOnInvalidOffset", hold=True),
        ),
    ),
)
