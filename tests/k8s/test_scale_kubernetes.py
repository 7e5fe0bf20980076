"""`lagscale scale --target kubernetes` on real lag (real broker) against the real API server."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from confluent_kafka import Producer
from k8s_helpers import Kube, make_deployment, wait_until
from kubernetes import client
from offsets_helpers import env_without_connection_settings

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

pytestmark = [pytest.mark.k8s, pytest.mark.kafka]


def _scale(kube: Kube, *args: str) -> subprocess.CompletedProcess[str]:
    env = env_without_connection_settings()
    return subprocess.run(
        [sys.executable, "-m", "scaler", "--target", "kubernetes", "--kubeconfig", kube.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _lagging_topic(kafka: KafkaEndpoints, make_topic: Callable[..., str], count: int) -> str:
    topic = make_topic("scale-k8s", partitions=4)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for sequence in range(count):
        producer.produce(topic, b"{}", partition=sequence % 4)
    assert producer.flush(30) == 0
    return topic


def _flags(kafka: KafkaEndpoints, topic: str, group: str) -> list[str]:
    return [
        "--bootstrap", kafka.bootstrap, "--group", group, "--topic", topic,
        "--offset-reset-policy", "earliest", "--lag-threshold", "10",
    ]  # fmt: skip


def test_scale_once_activates_a_deployment_from_zero(
    kube: Kube,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    make_deployment(kube, namespace, "consumer", replicas=0)
    topic = _lagging_topic(kafka, make_topic, 25)
    args = _flags(kafka, topic, unique_name("g"))
    result = _scale(kube, *args, "--name", "consumer", "--namespace", namespace, "--once")
    assert result.returncode == 0, result.stderr
    poll, hpa = (
        dict(item.partition("=")[::2] for item in shlex.split(line)) for line in result.stdout.splitlines()
    )
    assert (poll["path"], poll["current"], poll["desired"]) == ("poll", "0", "1")
    assert poll["reason"].startswith("activated")
    # Then the HPA's sync sees 1 replica: ceil(25 / 10) = 3, within its scale-up limit of 4.
    assert (hpa["path"], hpa["current"], hpa["desired"]) == ("hpa", "1", "3")
    assert kube.apps.read_namespaced_deployment_scale("consumer", namespace).spec.replicas == 3


def test_scale_with_leader_election_takes_the_lease_and_releases_it(
    kube: Kube,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    make_deployment(kube, namespace, "consumer", replicas=2)
    topic = _lagging_topic(kafka, make_topic, 200)
    args = _flags(kafka, topic, unique_name("g"))
    result = _scale(
        kube, *args, "--name", "consumer", "--namespace", namespace, "--mode", "direct",
        "--leader-elect", "--once",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "event=leader_acquired" in result.stderr
    # 200 lag / 10 is 20, capped at 4 partitions; direct mode applies it at once.
    assert kube.apps.read_namespaced_deployment_scale("consumer", namespace).spec.replicas == 4
    lease = client.CoordinationV1Api(kube.api_client).read_namespaced_lease("lagscale-consumer", namespace)
    assert not lease.spec.holder_identity  # released on exit: a standby need not wait for expiry


def test_scale_refuses_a_deployment_owned_by_an_hpa(
    kube: Kube, namespace: str, kafka: KafkaEndpoints, unique_name: Callable[[str], str]
) -> None:
    make_deployment(kube, namespace, "consumer", replicas=1)
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "consumer"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consumer"},
            "minReplicas": 1,
            "maxReplicas": 3,
        },
    }
    client.AutoscalingV2Api(kube.api_client).create_namespaced_horizontal_pod_autoscaler(namespace, hpa)
    args = _flags(kafka, "unused", unique_name("g"))
    result = _scale(kube, *args, "--name", "consumer", "--namespace", namespace, "--once")
    assert result.returncode == 1
    assert "HorizontalPodAutoscaler" in result.stderr


def test_scale_takes_the_target_from_the_scaled_object(
    kube: Kube,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    make_deployment(kube, namespace, "orders-consumer", replicas=0)
    topic = _lagging_topic(kafka, make_topic, 30)
    manifest = f"""\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: orders, namespace: {namespace}}}
spec:
  scaleTargetRef: {{name: orders-consumer}}
  maxReplicaCount: 2
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {kafka.bootstrap}
        consumerGroup: {unique_name("g")}
        topic: {topic}
        lagThreshold: "10"
        offsetResetPolicy: earliest
"""
    (tmp_path / "so.yaml").write_text(manifest)
    result = _scale(kube, "--config", str(tmp_path / "so.yaml"), "--mode", "direct", "--once")
    assert result.returncode == 0, result.stderr
    assert f"target=deployment/{namespace}/orders-consumer" in result.stderr
    # ceil(30 / 10) = 3 replicas wanted, maxReplicaCount 2.
    assert kube.apps.read_namespaced_deployment_scale("orders-consumer", namespace).spec.replicas == 2


def test_two_scalers_with_leader_election_never_both_act(
    kube: Kube,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Two scaler replicas that disagree (maxReplicaCount 2 vs 3): only the Lease holder's answer
    lands; when it stops, it hands the Lease back and the standby takes over."""
    make_deployment(kube, namespace, "consumer", replicas=0)
    topic = _lagging_topic(kafka, make_topic, 200)  # 20 replicas wanted, 4 partitions
    args = [
        sys.executable, "-m", "scaler", "--target", "kubernetes", "--kubeconfig", kube.kubeconfig,
        *_flags(kafka, topic, unique_name("g")), "--name", "consumer", "--namespace", namespace,
        "--mode", "direct", "--polling-interval", "1", "--leader-elect",
    ]  # fmt: skip
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    scalers: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, max_replicas: int) -> None:
        env = env_without_connection_settings()
        with logs[name].open("wb") as log:
            scalers[name] = subprocess.Popen(
                [*args, "--max-replicas", str(max_replicas)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env | {"POD_NAME": f"scaler-{name}"},
            )

    def replicas() -> int:
        return int(kube.apps.read_namespaced_deployment_scale("consumer", namespace).spec.replicas)

    try:
        start("a", max_replicas=2)
        wait_until("scaler a to lead", lambda: "event=leader_acquired" in logs["a"].read_text(), 60)
        start("b", max_replicas=3)
        wait_until("scaler b to stand by", lambda: "event=standby_skip" in logs["b"].read_text(), 60)
        assert replicas() == 2  # b wanted 3 at every poll, and wrote nothing
        scalers["a"].send_signal(signal.SIGTERM)
        assert scalers["a"].wait(timeout=30) == 0
        wait_until("scaler b to take over and scale to 3", lambda: replicas() == 3, 30)
        assert "event=leader_acquired" in logs["b"].read_text()
    finally:
        for process in scalers.values():
            process.terminate()
            process.wait(timeout=30)
