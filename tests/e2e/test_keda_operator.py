"""The rendered `kafka` profile under the REAL KEDA operator (built from its Go module by
scripts/keda), against the real local broker and control plane.

The consumer's work is simulated by committing offsets, so its pods stay KWOK stand-ins: the image is
renamed (`STANDIN_IMAGE`) so the lab's pod backer, which runs a real consumer for `lagscale-consumer`
pods, leaves them alone. What the HPA would see is read from the operator's `keda_scaler_metrics_value`
gauge; in the lab, KEDA's metrics adapter also lets the HPA go past 1 replica (test_keda_loop.py
covers that loop with real consumers).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import keda_helpers
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

LAG_THRESHOLD = 5
ACTIVATION = 2
PARTITIONS = 3
# Not a backed image: these pods must not consume (the test commits offsets itself).
STANDIN_IMAGE = "registry.invalid/lagscale/consumer-standin"
keda_operator = keda_helpers.keda_operator  # the shared session fixture, requested by name


def _values(namespace: str, topic: str, group: str, kafka) -> dict:
    overrides = {
        "namespace": namespace,
        "topic": topic,
        "consumerGroup": group,
        "producer": {"enabled": False},
        "consumer": {"image": {"repository": STANDIN_IMAGE}},
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


def _lagscale_json(files: dict[str, Path]) -> dict:
    return lagscale_lag_json(
        ["--config", str(files["so"]), "--trigger-auth", str(files["ta"]), "--secret", str(files["secret"])]
    )


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
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0})
    manifests = render_manifests("kafka", _values(namespace, topic, group, kafka))
    stream = "\n---\n".join(m.text for m in manifests)
    apply_manifests(kube, stream)
    objects = _objects(manifests)
    assert {"Secret", "TriggerAuthentication", "Deployment", "ScaledObject"} <= set(objects)
    so_name = objects["ScaledObject"]["metadata"]["name"]
    deployment = objects["Deployment"]["metadata"]["name"]

    autoscaling = client.AutoscalingV2Api(kube.api_client)
    hpa = wait_until(
        "KEDA to create its HPA",
        lambda: read_hpa(autoscaling, namespace, f"keda-hpa-{so_name}"),
        timeout=60,
    )
    metric = hpa.spec.metrics[0]
    assert metric.type == "External"
    assert metric.external.target.type == "AverageValue"
    assert metric.external.target.average_value == str(LAG_THRESHOLD)
    wait_until(
        "the idle consumer to sit at 0 replicas", lambda: replicas(kube, namespace, deployment) == 0 or None
    )

    # 6 + 6 records on partitions 0 and 1: lag 12, plus 1 for uncommitted partition 2 = 13 > 2.
    produce(kafka.bootstrap, topic, {0: 6, 1: 6})
    # KEDA activates 0 -> 1; with the lab's metrics adapter the HPA then takes it on (ceil(13/5) = 3).
    wait_until(
        "KEDA to activate 0 -> 1", lambda: replicas(kube, namespace, deployment) >= 1 or None, timeout=60
    )

    files = _write_definitions(manifests, tmp_path)
    ours = _lagscale_json(files)
    assert float(ours["metric"]) == 13
    assert ours["active"] is True
    keda_value = wait_until(
        "KEDA's metric to match lagscale's",
        lambda: keda_metric(keda_operator, namespace, so_name) == float(ours["metric"]) or None,
        timeout=30,
    )
    assert keda_value

    # The consumers "drain" the lag: commit everything, including partition 2.
    commit(kafka.bootstrap, group, {(topic, 0): 6, (topic, 1): 6, (topic, 2): 0})
    assert _lagscale_json(files)["active"] is False
    wait_until(
        "KEDA to scale back to 0 after the cooldown",
        lambda: replicas(kube, namespace, deployment) == 0 or None,
        timeout=90,
    )
