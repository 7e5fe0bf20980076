"""The REAL KEDA operator drives a `type: external` ScaledObject through `lagscale serve-grpc`.

The consumer Deployment and the ScaledObject come from `lagscale render --profile kafka` with
`scaler.mode=external`; only the trigger's `scalerAddress` is changed, to the server this test starts
on 127.0.0.1, because the operator runs on the host (scripts/keda), not in the cluster.

`external` (pull): KEDA calls GetMetricSpec for its HPA, then GetMetrics + IsActive every poll.
`external-push`: KEDA also holds StreamIsActive open and scales 0 -> 1 as soon as a message says so.
The consumer pods stay KWOK stand-ins (the image is renamed so the lab's pod backer leaves them alone):
the test commits offsets itself. Replicas are asserted only as far as KEDA's own 0 -> (>= 1) -> 0 steps;
in the lab the HPA may go past 1 through KEDA's metrics adapter.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keda_helpers
import pytest
import yaml
from k8s_helpers import Kube, wait_until
from keda_helpers import (
    apply_manifests,
    keda_metric,
    lagscale_lag_json,
    read_hpa,
    replicas,
)
from kubernetes import client
from offsets_helpers import commit, produce

from lagscale.render.manifests import render_manifests
from lagscale.render.values import merge_values

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

LAG_THRESHOLD = 5
ACTIVATION = 2
PARTITIONS = 3
LISTEN_TIMEOUT_S = 60.0  # a cold Python start importing grpc and confluent-kafka, on a loaded box
keda_operator = keda_helpers.keda_operator  # the shared session fixture, requested by name


@dataclass(frozen=True)
class GrpcScaler:
    """A running `lagscale serve-grpc` and the file its log lines go to."""

    address: str
    log: Path

    def evaluations(self, namespace: str, scaled_object: str) -> list[dict[str, str]]:
        """The server's `event=evaluated` lines for one ScaledObject: proof that KEDA asked it."""
        lines = self.log.read_text().splitlines()
        parsed = [_fields(line) for line in lines if "event=evaluated" in line]
        return [fields for fields in parsed if fields.get("scaled_object") == f"{namespace}/{scaled_object}"]


def _fields(line: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(line) if "=" in token)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"lagscale serve-grpc exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(
        f"lagscale serve-grpc did not listen on 127.0.0.1:{port} within {LISTEN_TIMEOUT_S:.0f}s:\n"
        f"{log.read_text()[-3000:]}"
    )


@pytest.fixture
def grpc_scaler(tmp_path: Path) -> Iterator[GrpcScaler]:
    """`python -m lagscale serve-grpc` on a free loopback port; stopped by PID (SIGTERM) at the end."""
    port = _free_port()
    log = tmp_path / "serve-grpc.log"
    command = [sys.executable, "-m", "lagscale", "serve-grpc", "--listen", f"127.0.0.1:{port}"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=keda_helpers.REPO)
    try:
        _wait_listening(process, port, log)
        yield GrpcScaler(f"127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _render(
    namespace: str, topic: str, group: str, kafka: KafkaEndpoints, polling_interval: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(consumer Deployment, ScaledObject) from `lagscale render --profile kafka --set ...`."""
    settings = {
        "namespace": namespace,
        "topic": topic,
        "consumerGroup": group,
        "producer.enabled": "false",
        "consumer.image.repository": "registry.invalid/lagscale/consumer-standin",  # not backed
        "scaler.mode": "external",
        "kafka.bootstrapServers": kafka.bootstrap,  # the PLAINTEXT listener
        "kafka.sasl": "none",
        "kafka.topic.create": "false",
        "kafka.broker.enabled": "false",
        "keda.pollingInterval": str(polling_interval),
        "keda.cooldownPeriod": "8",
        "keda.minReplicaCount": "0",
        "keda.maxReplicaCount": "4",
        "keda.lagThreshold": str(LAG_THRESHOLD),
        "keda.activationLagThreshold": str(ACTIVATION),
        "keda.offsetResetPolicy": "latest",
    }
    values = merge_values("kafka", overrides=[f"{k}={v}" for k, v in settings.items()], environ={})
    objects = [doc for m in render_manifests("kafka", values) for doc in yaml.safe_load_all(m.text) if doc]
    (scaled_object,) = [doc for doc in objects if doc["kind"] == "ScaledObject"]
    target = scaled_object["spec"]["scaleTargetRef"]["name"]
    (deployment,) = [d for d in objects if d["kind"] == "Deployment" and d["metadata"]["name"] == target]
    return deployment, scaled_object


def _deploy(
    kube: Kube,
    objects: tuple[dict[str, Any], dict[str, Any]],
    trigger_type: str,
    scaler_address: str,
    extra_metadata: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """Point the rendered trigger at our server and apply; returns (name, trigger metadata)."""
    deployment, scaled_object = objects
    (trigger,) = scaled_object["spec"]["triggers"]
    assert trigger["type"] == "external"
    trigger["type"] = trigger_type
    trigger["metadata"] = {**trigger["metadata"], "scalerAddress": scaler_address, **(extra_metadata or {})}
    apply_manifests(kube, yaml.safe_dump_all([deployment, scaled_object]))
    return scaled_object["metadata"]["name"], trigger["metadata"]


def _assert_keda_hpa(kube: Kube, namespace: str, name: str, topic: str) -> None:
    """KEDA built its HPA from our GetMetricSpec: External, `s0-` + our name, target lagThreshold."""
    autoscaling = client.AutoscalingV2Api(kube.api_client)
    hpa = wait_until(
        "KEDA to create its HPA", lambda: read_hpa(autoscaling, namespace, f"keda-hpa-{name}"), timeout=60
    )
    assert len(hpa.spec.metrics) == 1, hpa.spec.metrics
    metric = hpa.spec.metrics[0]
    assert metric.type == "External"
    assert metric.external.metric.name == f"s0-kafka-{topic}"
    assert metric.external.target.type == "AverageValue"
    assert metric.external.target.average_value == str(LAG_THRESHOLD)


def _lag_flags(metadata: dict[str, str]) -> list[str]:
    """`lagscale lag` flags for the same trigger settings the server received."""
    valued = {
        "bootstrapServers": "--bootstrap",
        "consumerGroup": "--group",
        "topic": "--topic",
        "lagThreshold": "--lag-threshold",
        "activationLagThreshold": "--activation-lag-threshold",
        "offsetResetPolicy": "--offset-reset-policy",
    }
    switches = {
        "allowIdleConsumers": "--allow-idle-consumers",
        "limitToPartitionsWithLag": "--limit-to-partitions-with-lag",
        "scaleToZeroOnInvalidOffset": "--scale-to-zero-on-invalid-offset",
        "excludePersistentLag": "--exclude-persistent-lag",
    }
    flags = ["--profile", "plaintext"]
    flags += [item for key, flag in valued.items() for item in (flag, metadata[key])]
    flags += [flag for key, flag in switches.items() if metadata.get(key) == "true"]
    return flags


def _saw(scaler: GrpcScaler, namespace: str, name: str, *, active: str, metric: float) -> bool:
    return any(
        e["active"] == active and float(e["metric"]) == metric for e in scaler.evaluations(namespace, name)
    )


def test_keda_pulls_from_lagscale_external_scaler(
    grpc_scaler: GrpcScaler,
    kube: Kube,
    keda_operator: str,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    topic = make_topic("keda-ext", partitions=PARTITIONS)
    group = unique_name("keda-ext-group")
    # Partitions 0 and 1 committed at 0; partition 2 never committed, which the `latest` policy
    # counts as lag 1. Total lag 1 <= activationLagThreshold 2: inactive.
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0})
    objects = _render(namespace, topic, group, kafka, polling_interval=2)
    name, metadata = _deploy(kube, objects, "external", grpc_scaler.address)
    deployment = objects[0]["metadata"]["name"]

    _assert_keda_hpa(kube, namespace, name, topic)
    wait_until("the idle consumer to sit at 0 replicas", lambda: replicas(kube, namespace, deployment) == 0)
    wait_until(
        "KEDA to poll our server (inactive, metric 1)",
        lambda: _saw(grpc_scaler, namespace, name, active="False", metric=1),
        timeout=30,
    )

    # 6 + 6 records: lag 12, plus 1 for uncommitted partition 2 = 13 > 2.
    produce(kafka.bootstrap, topic, {0: 6, 1: 6})
    wait_until(
        "KEDA to activate 0 -> 1", lambda: replicas(kube, namespace, deployment) >= 1 or None, timeout=60
    )
    assert _saw(grpc_scaler, namespace, name, active="True", metric=13)

    ours = lagscale_lag_json(_lag_flags(metadata))
    assert float(ours["metric"]) == 13
    assert ours["active"] is True
    wait_until(
        "KEDA's metric to match lagscale's",
        lambda: keda_metric(keda_operator, namespace, name) == float(ours["metric"]),
        timeout=30,
    )

    # The consumers "drain" the lag: commit everything, including partition 2.
    commit(kafka.bootstrap, group, {(topic, 0): 6, (topic, 1): 6, (topic, 2): 0})
    assert lagscale_lag_json(_lag_flags(metadata))["active"] is False
    wait_until(
        "KEDA to scale back to 0 after the cooldown",
        lambda: replicas(kube, namespace, deployment) == 0 or None,
        timeout=90,
    )
    assert keda_metric(keda_operator, namespace, name) == 0
    assert _saw(grpc_scaler, namespace, name, active="False", metric=0)


def test_keda_push_activates_through_stream_is_active(
    grpc_scaler: GrpcScaler,
    kube: Kube,
    keda_operator: str,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    """pollingInterval 300 s: KEDA polls when the scale loop starts and then not again during this
    test, so the 0 -> 1 after the backlog comes from a StreamIsActive message, not from a poll."""
    topic = make_topic("keda-push", partitions=PARTITIONS)
    group = unique_name("keda-push-group")
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0})
    objects = _render(namespace, topic, group, kafka, polling_interval=300)
    name, _ = _deploy(kube, objects, "external-push", grpc_scaler.address, {"streamIntervalSeconds": "1"})
    deployment = objects[0]["metadata"]["name"]

    _assert_keda_hpa(kube, namespace, name, topic)
    wait_until("the idle consumer to sit at 0 replicas", lambda: replicas(kube, namespace, deployment) == 0)

    produce(kafka.bootstrap, topic, {0: 6, 1: 6})
    wait_until(
        "the stream to activate 0 -> 1", lambda: replicas(kube, namespace, deployment) >= 1, timeout=60
    )
    assert _saw(grpc_scaler, namespace, name, active="True", metric=13)
