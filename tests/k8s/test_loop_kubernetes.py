"""The whole loop on real parts: lag on the real broker, the scaling loop, a Deployment on the real
API server (controller manager + KWOK pods). KWOK pods run no code, so the test does the consumers'
work itself: once the Deployment is at its peak it commits every offset, and the loop must take it
back to 0 after the cooldown.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from k8s_helpers import Kube, make_deployment, wait_until
from offsets_helpers import commit, produce

from kafkakit.profiles import build_profile
from scaler.kafka.connection import KafkaConnection
from scaler.kafka.offsets import KafkaOffsetSource, OffsetQuery
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.hpa import HpaController
from scaler.keda.trigger import parse_trigger
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Decision, Mode
from scaler.loop.scaling_loop import ScalingLoop
from scaler.targets.kubernetes import KubernetesTarget

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

pytestmark = [pytest.mark.k8s, pytest.mark.kafka]

PARTITIONS = 4
PER_PARTITION = 50  # 200 in all: ceil(200 / 10) = 20 replicas wanted, far above both bounds
THRESHOLD = 10
COOLDOWN_S = 4


def _running_pods(kube: Kube, namespace: str) -> int:
    pods = kube.core.list_namespaced_pod(namespace, label_selector="app=consumer").items
    return sum(1 for pod in pods if pod.status and pod.status.phase == "Running")


@pytest.mark.parametrize(
    ("mode", "max_replicas", "peak", "first_step"),
    [
        ("direct", 10, PARTITIONS, PARTITIONS),  # bounded by the partition cap, reached at once
        ("keda", 3, 3, 1),  # 0 -> 1 by the executor, then the HPA up to maxReplicaCount
    ],
)
def test_loop_scales_a_deployment_to_its_bound_and_back_to_zero(
    mode: Mode,
    max_replicas: int,
    peak: int,
    first_step: int,
    kube: Kube,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    make_deployment(kube, namespace, "consumer", replicas=0)
    topic = make_topic("loop-k8s", partitions=PARTITIONS)
    group = unique_name("loop-k8s")
    produce(kafka.bootstrap, topic, dict.fromkeys(range(PARTITIONS), PER_PARTITION))
    trigger = parse_trigger(
        {
            "bootstrapServers": kafka.bootstrap,
            "consumerGroup": group,
            "topic": topic,
            "lagThreshold": str(THRESHOLD),
            "offsetResetPolicy": "earliest",  # the new group's whole backlog counts
        }
    )
    spec = ScaledObjectSpec(
        polling_interval=1, cooldown_period=COOLDOWN_S, max_replica_count=max_replicas
    ).validate()
    # A short HPA sync period and stabilisation window, so KEDA's rhythm fits in a test.
    controller = HpaController(sync_period_seconds=2, downscale_stabilization_seconds=4)
    target = KubernetesTarget("Deployment", "consumer", namespace, kube.api_client)
    target.check_not_owned()
    decisions: list[Decision] = []
    loop = ScalingLoop(
        ScalingConfig(trigger, spec, controller=controller, mode=mode),
        KafkaOffsetSource(
            KafkaConnection(build_profile("plaintext", bootstrap=kafka.bootstrap)),
            OffsetQuery.for_trigger(trigger),
        ),
        target,
        on_decision=decisions.append,
    )
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), name="scaling-loop", daemon=True)
    thread.start()
    try:
        wait_until(f"{peak} replicas", lambda: target.current_replicas() == peak, timeout=60)
        wait_until(f"{peak} pods Running on KWOK", lambda: _running_pods(kube, namespace) == peak, 90)
        commit(
            kafka.bootstrap, group, {(topic, p): PER_PARTITION for p in range(PARTITIONS)}
        )  # the consumers' work
        wait_until("scale-in to 0 after the cooldown", lambda: target.current_replicas() == 0, 60)
    finally:
        stop.set()
        thread.join(timeout=30)

    changes = [d for d in decisions if d.changed]
    story = "\n".join(
        f"{d.time - decisions[0].time:5.1f}s {d.current}->{d.desired} {d.reason}" for d in changes
    )
    desired = [d.desired for d in changes]
    assert desired[0] == first_step, story
    assert max(desired) == peak, story  # never past the bound
    assert desired[-1] == 0, story
    # KEDA counts the cooldown from the last active poll; HPA syncs (at their own times) do not count.
    last_active = max(d.time for d in decisions if d.active and d.path == "poll")
    to_zero = next(d for d in reversed(changes) if d.desired == 0)
    # The cooldown runs from the last active poll, whose time KEDA keeps in whole seconds.
    assert to_zero.time > math.floor(last_active) + COOLDOWN_S, story
    assert to_zero.reason.startswith("inactive after cooldown"), story
