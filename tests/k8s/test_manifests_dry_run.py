"""Every rendered manifest is accepted by a real kube-apiserver (1.35, KEDA CRDs installed), checked
with server-side dry-run and strict field validation: schema, enums, CEL rules and unknown fields
are all judged by the API server itself, and nothing is persisted. The negative tests prove the
check can fail."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import Kube
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from lagscale.render.manifests import as_stream, render_manifests
from lagscale.render.values import PROFILES, merge_values

pytestmark = pytest.mark.k8s

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
CONNECTION_STRING = (
    "Endpoint=sb://dryrun-ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=dryRunKey="
)
KEDA_TUNED = [
    "keda.minReplicaCount=1",
    "keda.maxReplicaCount=30",
    "keda.idleReplicaCount=0",
    "keda.pollingInterval=5",
    "keda.cooldownPeriod=30",
    "keda.initialCooldownPeriod=60",
    "keda.lagThreshold=100",
    "keda.activationLagThreshold=3",
    "keda.offsetResetPolicy=latest",
    "keda.excludePersistentLag=true",
    "keda.scaleToZeroOnInvalidOffset=true",
    "keda.fallback.enabled=true",
    "keda.fallback.failureThreshold=2",
    "keda.fallback.replicas=4",
    "keda.advanced.horizontalPodAutoscalerConfig.behavior="
    "{scaleDown: {stabilizationWindowSeconds: 30, policies: [{type: Pods, value: 1, periodSeconds: 15}]},"
    " scaleUp: {selectPolicy: Max}}",
    "consumer.processTime=30",
    "consumer.resources.limits.memory=1Gi",
]
# PEM-shaped text: the API server checks that a kubernetes.io/tls Secret has tls.crt and tls.key.
FAKE_CERT = "-----BEGIN CERTIFICATE-----\nZHJ5LXJ1bg==\n-----END CERTIFICATE-----"
FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nZHJ5LXJ1bg==\n-----END PRIVATE KEY-----"
NON_DEFAULT_CASES = {
    "eventhubs-keda": ("eventhubs", [f"eventhubs.connectionString={CONNECTION_STRING}", *KEDA_TUNED]),
    "eventhubs-standalone": ("eventhubs", ["scaler.mode=standalone", "producer.enabled=false"]),
    "kafka-sasl-keda": ("kafka", ["kafka.sasl=plaintext", "kafka.password=s3cret", *KEDA_TUNED]),
    "kafka-external": ("kafka", ["scaler.mode=external", "scaler.grpcPort=7070", "kafka.topic.partitions=3"]),
    # External mode with credentials: the scaler Deployment mounts the credentials Secret.
    "eventhubs-external": (
        "eventhubs",
        ["scaler.mode=external", f"eventhubs.connectionString={CONNECTION_STRING}"],
    ),
    "kafka-sasl-external": (
        "kafka",
        ["scaler.mode=external", "kafka.sasl=plaintext", "kafka.password=s3cret"],
    ),
    "kafka-oauthbearer": (
        "kafka",
        [
            "kafka.sasl=oauthbearer",
            "kafka.broker.enabled=false",
            "kafka.topic.create=false",
            "kafka.bootstrapServers=broker-0.example:9093",
            "oauth.tokenEndpoint=https://idp.example/token",
            "oauth.clientId=lagscale",
            "oauth.clientSecret=s3cret",
            "oauth.scopes=kafka",
            "oauth.extensions=logicalCluster=lkc-1",
        ],
    ),
    "kafka-oauthbearer-external": (
        "kafka",
        [
            "scaler.mode=external",
            "kafka.sasl=oauthbearer",
            "kafka.broker.enabled=false",
            "kafka.topic.create=false",
            "kafka.bootstrapServers=broker-0.example:9093",
            "oauth.tokenEndpoint=https://idp.example/token",
            "oauth.clientId=lagscale",
        ],
    ),
    "eventhubs-entra": (
        "eventhubs",
        [
            "eventhubs.auth=entra",
            "eventhubs.host=lagscale.servicebus.windows.net",
            "oauth.tenantId=00000000-0000-0000-0000-000000000000",
            "oauth.clientId=app",
            "oauth.clientSecret=s3cret",
        ],
    ),
    # TLS between KEDA and the external scaler: both Secrets rendered from PEM text (mutual TLS) ...
    "kafka-external-grpc-mtls": (
        "kafka",
        [
            "scaler.mode=external",
            "scaler.grpcTls.enabled=true",
            f"scaler.grpcTls.ca={FAKE_CERT}",
            f"scaler.grpcTls.serverCert={FAKE_CERT}",
            f"scaler.grpcTls.serverKey={FAKE_KEY}",
            f"scaler.grpcTls.clientCert={FAKE_CERT}",
            f"scaler.grpcTls.clientKey={FAKE_KEY}",
        ],
    ),
    # ... or existing Secrets named, beside the Kafka credentials' mounted Secret.
    "eventhubs-external-grpc-tls-secrets": (
        "eventhubs",
        [
            "scaler.mode=external",
            f"eventhubs.connectionString={CONNECTION_STRING}",
            "scaler.grpcTls.enabled=true",
            "scaler.grpcTls.serverSecret=scaler-cert",
            "scaler.grpcTls.clientSecret=keda-client-cert",
        ],
    ),
    "kafka-existing-cluster": (
        "kafka",
        ["kafka.broker.enabled=false", "kafka.bootstrapServers=broker-0.example:9092,broker-1.example:9092"],
    ),
}


def dry_run_create(kube: Kube, document: dict[str, Any], namespace: str) -> None:
    """Create `document` with dryRun=All and fieldValidation=Strict; raises ApiException if refused."""
    resource = DynamicClient(kube.api_client).resources.get(
        api_version=document["apiVersion"], kind=document["kind"]
    )
    resource.create(
        body=document,
        namespace=namespace,
        dry_run="All",
        query_params=[("fieldValidation", "Strict")],
    )


def rendered(profile: str, overrides: list[str], namespace: str) -> list[dict[str, Any]]:
    values = merge_values(profile, overrides=[f"namespace={namespace}", *overrides], environ={})
    return [d for d in yaml.safe_load_all(as_stream(render_manifests(profile, values))) if d]


def assert_all_accepted(kube: Kube, documents: list[dict[str, Any]], namespace: str) -> None:
    refused = []
    for document in documents:
        try:
            dry_run_create(kube, document, namespace)
        except ApiException as error:
            refused.append(f"{document['kind']}/{document['metadata']['name']}: {error.status} {error.body}")
    assert not refused, "\n".join(refused)
    assert documents


@pytest.mark.parametrize("profile", PROFILES)
def test_committed_deploy_files_are_accepted(kube: Kube, profile: str) -> None:
    # deploy/ targets the `default` namespace; dry-run persists nothing there.
    documents = [
        document
        for path in sorted((DEPLOY_DIR / profile).glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if document
    ]
    assert_all_accepted(kube, documents, "default")


@pytest.mark.parametrize("case", sorted(NON_DEFAULT_CASES))
def test_non_default_values_are_accepted(kube: Kube, namespace: str, case: str) -> None:
    profile, overrides = NON_DEFAULT_CASES[case]
    assert_all_accepted(kube, rendered(profile, overrides, namespace), namespace)


def _scaled_object(namespace: str) -> dict[str, Any]:
    documents = rendered("kafka", ["keda.fallback.enabled=true"], namespace)
    return copy.deepcopy(next(d for d in documents if d["kind"] == "ScaledObject"))


def _break(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = document
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "status", "message"),
    [
        ("spec.minReplicaCount", "3", 422, "spec.minReplicaCount: Invalid value"),
        ("spec.fallback.behavior", "sideways", 422, "spec.fallback.behavior: Unsupported value"),
        ("spec.minReplicaCount", 50, 422, "minReplicaCount must be less than or equal to maxReplicaCount"),
        ("spec.minReplicas", 1, 400, 'unknown field "spec.minReplicas"'),
    ],
)
def test_a_bad_scaledobject_is_rejected(
    kube: Kube, namespace: str, path: str, value: Any, status: int, message: str
) -> None:
    good = _scaled_object(namespace)
    dry_run_create(kube, good, namespace)  # the unbroken object passes, so the break is the cause
    with pytest.raises(ApiException) as refused:
        dry_run_create(kube, _break(good, path, value), namespace)
    assert refused.value.status == status
    assert message in json.loads(refused.value.body)["message"]
