"""The rendered `kafka` profile under the REAL KEDA operator (built from its Go module by
scripts/keda), against the real local broker and control plane.

KWOK pods run no code, so the consumer's work is simulated by committing offsets. The HPA controller
runs but there is no KEDA metrics adapter, so replicas move only by KEDA's own 0 -> 1 -> 0 steps;
what the HPA would see is read from the operator's `keda_scaler_metrics_value` gauge.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from confluent_kafka import Consumer, Producer, TopicPartition
from k8s_helpers import Kube, wait_until
from kubernetes import client

from lagscale.render import render_manifests
from lagscale.values import merge_values
from scaler.cli import lag

REPO = Path(__file__).resolve().parents[2]
LAG_THRESHOLD = 5
ACTIVATION = 2
PARTITIONS = 3


@pytest.fixture(scope="session")
def keda_operator(kube: Kube) -> Iterator[str]:
    """Start the operator once (building it on the first ever run); yields its metrics URL."""
    env = {**os.environ, "KUBECONFIG": kube.kubeconfig}
    was_running = subprocess.run([REPO / "scripts/keda", "status"], env=env, check=False).returncode == 0
    started = subprocess.run(
        [REPO / "scripts/keda", "up"], env=env, capture_output=True, text=True, timeout=3600, check=False
    )
    if started.returncode != 0:
        pytest.fail(f"scripts/keda up failed:\n{started.stderr[-3000:]}")
    try:
        yield "http://127.0.0.1:18080/metrics"
    finally:
        if not was_running:
            subprocess.run([REPO / "scripts/keda", "down"], env=env, check=False)


def _values(namespace: str, topic: str, group: str, kafka) -> dict:
    overrides = {
        "namespace": namespace,
        "topic": topic,
        "consumerGroup": group,
        "producer": {"enabled": False},
        "kafka": {
            "bootstrapServers": kafka.bootstrap_sasl,
            "sasl": "plaintext",
            "username": kafka.sasl_username,
            "password": kafka.sasl_password,
            "topic": {"create": False},
            "broker": {"enabled": False},
        },
        "keda": {
            "pollingInterval": 2,
            "cooldownPeriod": 8,
            "lagThreshold": LAG_THRESHOLD,
            "activationLagThreshold": ACTIVATION,
            "offsetResetPolicy": "latest",
            "maxReplicaCount": 4,
        },
    }
    values_file = Path(tempfile.mkdtemp()) / "values.yaml"
    values_file.write_text(yaml.safe_dump(overrides))
    return merge_values("kafka", value_files=[values_file], environ={})


def _apply(kube: Kube, manifests_yaml: str) -> None:
    kubectl = Path.home() / ".cache/lagscale/k8s-1.35.4/bin/kubectl"
    subprocess.run(
        [kubectl, "--kubeconfig", kube.kubeconfig, "apply", "--server-side", "-f", "-"],
        input=manifests_yaml,
        text=True,
        check=True,
        capture_output=True,
    )


def _commit(kafka, group: str, offsets: dict[int, int], topic: str) -> None:
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        partitions = [TopicPartition(topic, partition, offset) for partition, offset in offsets.items()]
        consumer.commit(offsets=partitions, asynchronous=False)
    finally:
        consumer.close()


def _produce(kafka, topic: str, per_partition: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for partition, count in per_partition.items():
        for index in range(count):
            producer.produce(topic, value=json.dumps({"n": index}).encode(), partition=partition)
    assert producer.flush(15) == 0


def _keda_metric(metrics_url: str, namespace: str, scaled_object: str) -> float | None:
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    wanted = ("keda_scaler_metrics_value{", f'namespace="{namespace}"', f'scaledObject="{scaled_object}"')
    for line in text.splitlines():
        if line.startswith(wanted[0]) and all(part in line for part in wanted[1:]):
            return float(line.rsplit(" ", 1)[1])
    return None


def _replicas(kube: Kube, namespace: str, name: str) -> int:
    return kube.apps.read_namespaced_deployment_scale(name, namespace).spec.replicas or 0


def _lagscale_json(files: dict[str, Path]) -> dict:
    result = CliRunner().invoke(
        lag,
        [
            "--config",
            str(files["so"]),
            "--trigger-auth",
            str(files["ta"]),
            "--secret",
            str(files["secret"]),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _objects(manifests) -> dict[str, dict]:
    """Rendered objects by kind (one object of each kind in this rendering)."""
    return {doc["kind"]: doc for m in manifests for doc in yaml.safe_load_all(m.text) if doc}


def _write_definitions(manifests, tmp_path: Path) -> dict[str, Path]:
    by_kind = {kind: yaml.safe_dump(doc) for kind, doc in _objects(manifests).items()}
    files = {"so": "ScaledObject", "ta": "TriggerAuthentication", "secret": "Secret"}
    paths = {}
    for key, kind in files.items():
        paths[key] = tmp_path / f"{key}.yaml"
        paths[key].write_text(by_kind[kind])
    return paths


def test_keda_scales_the_rendered_kafka_profile_and_agrees_with_lagscale(
    kube: Kube,
    keda_operator: str,
    namespace: str,
    kafka,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = make_topic("keda-e2e", partitions=PARTITIONS)
    group = unique_name("keda-e2e-group")
    # Partitions 0 and 1 committed at 0; partition 2 never committed, which KEDA's `latest` policy
    # counts as lag 1. Total lag 1 <= activationLagThreshold 2: inactive.
    _commit(kafka, group, {0: 0, 1: 0}, topic)
    manifests = render_manifests("kafka", _values(namespace, topic, group, kafka))
    stream = "\n---\n".join(m.text for m in manifests)
    _apply(kube, stream)
    objects = _objects(manifests)
    assert {"Secret", "TriggerAuthentication", "Deployment", "ScaledObject"} <= set(objects)
    so_name = objects["ScaledObject"]["metadata"]["name"]
    deployment = objects["Deployment"]["metadata"]["name"]

    autoscaling = client.AutoscalingV2Api(kube.api_client)
    hpa = wait_until(
        "KEDA to create its HPA",
        lambda: _read_hpa(autoscaling, namespace, f"keda-hpa-{so_name}"),
        timeout=60,
    )
    metric = hpa.spec.metrics[0]
    assert metric.type == "External"
    assert metric.external.target.type == "AverageValue"
    assert metric.external.target.average_value == str(LAG_THRESHOLD)
    wait_until(
        "the idle consumer to sit at 0 replicas", lambda: _replicas(kube, namespace, deployment) == 0 or None
    )

    # 6 + 6 records on partitions 0 and 1: lag 12, plus 1 for uncommitted partition 2 = 13 > 2.
    _produce(kafka, topic, {0: 6, 1: 6})
    wait_until(
        "KEDA to activate 0 -> 1", lambda: _replicas(kube, namespace, deployment) == 1 or None, timeout=60
    )

    files = _write_definitions(manifests, tmp_path)
    ours = _lagscale_json(files)
    assert float(ours["metric"]) == 13
    assert ours["active"] is True
    keda_value = wait_until(
        "KEDA's metric to match lagscale's",
        lambda: _keda_metric(keda_operator, namespace, so_name) == float(ours["metric"]) or None,
        timeout=30,
    )
    assert keda_value

    # The consumers "drain" the lag: commit everything, including partition 2.
    _commit(kafka, group, {0: 6, 1: 6, 2: 0}, topic)
    assert _lagscale_json(files)["active"] is False
    wait_until(
        "KEDA to scale back to 0 after the cooldown",
        lambda: _replicas(kube, namespace, deployment) == 0 or None,
        timeout=90,
    )


def _read_hpa(api: client.AutoscalingV2Api, namespace: str, name: str):
    try:
        return api.read_namespaced_horizontal_pod_autoscaler(name, namespace)
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
