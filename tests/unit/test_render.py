"""Rendering: every template for both profiles, with default and non-default values."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from kafkakit.errors import ConfigError
from lagscale.render.manifests import as_stream, render_manifests
from lagscale.render.values import merge_values
from scaler.targets.kubernetes import SCALER_ROLE_RULES

CONNECTION_STRING = (
    "Endpoint=sb://demo-ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=s3cr3tKey="
)

NON_DEFAULT = {
    "eventhubs": [f"eventhubs.connectionString={CONNECTION_STRING}"],
    "kafka": ["kafka.sasl=plaintext", "kafka.password=hunter22", "kafka.topic.partitions=12"],
}
COMMON_NON_DEFAULT = [
    "namespace=demo",
    "instance=orders",
    "topic=orders",
    "consumerGroup=orders-workers",
    "consumer.processTime=7.5",
    "keda.minReplicaCount=2",
    "keda.maxReplicaCount=20",
    "keda.idleReplicaCount=0",
    "keda.lagThreshold=50",
    "keda.activationLagThreshold=5",
    "keda.offsetResetPolicy=latest",
    "keda.limitToPartitionsWithLag=true",
    "keda.excludePersistentLag=true",
    "keda.scaleToZeroOnInvalidOffset=true",
    "keda.fallback.enabled=true",
    "keda.fallback.replicas=3",
    "keda.advanced.horizontalPodAutoscalerConfig.behavior={scaleDown: {stabilizationWindowSeconds: 30}}",
    "consumer.image.tag=1.2.3",
    "consumer.resources.limits.memory=512Mi",
]


def objects(
    profile: str, overrides: list[str] | None = None, *, masked: bool = False
) -> list[dict[str, Any]]:
    values = merge_values(profile, overrides=overrides or [], environ={})
    return list(yaml.safe_load_all(as_stream(render_manifests(profile, values, masked=masked))))


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] == kind]


def one(documents: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in by_kind(documents, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {len(found)}"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_eventhubs_defaults_render_the_tutorials_four_objects_plus_the_producer() -> None:
    documents = objects("eventhubs")
    assert [d["kind"] for d in documents] == [
        "Secret",
        "TriggerAuthentication",
        "Deployment",
        "ScaledObject",
        "Job",
    ]
    secret = one(documents, "Secret")["stringData"]
    assert secret["sasl"] == "plaintext"
    assert secret["tls"] == "enable"
    assert secret["username"] == "$ConnectionString"
    assert "<EVENTHUBS_NAMESPACE>.servicebus.windows.net" in secret["password"]
    auth = one(documents, "TriggerAuthentication")
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    assert sorted(ref["parameter"] for ref in auth["spec"]["secretTargetRef"]) == [
        "password",
        "sasl",
        "tls",
        "username",
    ]
    scaled = one(documents, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["bootstrapServers"] == "<EVENTHUBS_NAMESPACE>.servicebus.windows.net:9093"
    assert trigger["metadata"]["consumerGroup"] != "$Default"
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert "authMode" not in yaml.safe_dump(documents)


def test_eventhubs_clients_get_the_tutorials_environment_variables() -> None:
    documents = objects("eventhubs", NON_DEFAULT["eventhubs"])
    consumer_env = env_of(one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    assert consumer_env["KAFKA_EVENTHUB_ENDPOINT"] == "demo-ns.servicebus.windows.net:9093"
    assert consumer_env["KAFKA_EVENTHUB_PASSWORD"]["secretKeyRef"]["key"] == "password"
    assert consumer_env["KAFKA_EVENTHUB_CONSUMER_GROUP"] == "lagscale-consumers"
    assert consumer_env["KAFKA_EVENTHUB_TOPIC"] == "lagscale-events"
    producer = one(documents, "Job")["spec"]["template"]["spec"]["containers"][0]
    producer_env = env_of(producer)
    assert producer_env["KAFKA_EVENTHUB_CONNECTION_STRING"]["secretKeyRef"]["key"] == "password"
    assert producer["image"] == "lagscale-producer:0.1.0"
    assert producer["args"] == ["--count", "1000", "--rate", "20"]
    assert one(documents, "Secret")["stringData"]["password"] == CONNECTION_STRING


def test_kafka_defaults_render_a_kraft_broker_and_no_credentials() -> None:
    documents = objects("kafka")
    assert not by_kind(documents, "Secret")
    assert not by_kind(documents, "TriggerAuthentication")
    broker = one(documents, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert broker["image"].startswith("apache/kafka:")
    broker_env = env_of(broker)
    assert broker_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert (
        broker_env["KAFKA_ADVERTISED_LISTENERS"] == "CLIENT://lagscale-kafka.default.svc.cluster.local:9092"
    )
    services = by_kind(documents, "Service")
    assert sorted(s["spec"].get("clusterIP", "") for s in services) == ["", "None"]
    topic_job = one(documents, "Job", "create-topic")["spec"]["template"]["spec"]["containers"][0]
    assert "/opt/kafka/bin/kafka-topics.sh" in topic_job["args"][0]
    trigger = one(documents, "ScaledObject")["spec"]["triggers"][0]
    assert "authenticationRef" not in trigger
    assert trigger["metadata"]["bootstrapServers"] == "lagscale-kafka.default.svc.cluster.local:9092"


def test_kafka_sasl_adds_secret_auth_and_broker_jaas_without_the_password_inline() -> None:
    documents = objects("kafka", NON_DEFAULT["kafka"])
    assert one(documents, "Secret")["stringData"] == {
        "sasl": "plaintext",
        "tls": "disable",
        "username": "lagscale",
        "password": "hunter22",
    }
    assert by_kind(documents, "TriggerAuthentication")
    broker_env = env_of(one(documents, "StatefulSet")["spec"]["template"]["spec"]["containers"][0])
    assert "SASL_PLAINTEXT" in broker_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert "$(SASL_PASSWORD)" in broker_env["KAFKA_LISTENER_NAME_CLIENT_PLAIN_SASL_JAAS_CONFIG"]
    without_secret = [d for d in documents if d["kind"] != "Secret"]
    assert "hunter22" not in yaml.safe_dump(without_secret)
    consumer_env = env_of(one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    assert consumer_env["LAGSCALE_PROFILE"] == "sasl_plain"


@pytest.mark.parametrize("profile", ["eventhubs", "kafka"])
def test_non_default_values_reach_every_object(profile: str) -> None:
    documents = objects(profile, [*COMMON_NON_DEFAULT, *NON_DEFAULT[profile]])
    assert {d["metadata"]["namespace"] for d in documents} == {"demo"}
    assert all(d["metadata"]["name"].startswith("orders-") for d in documents)
    spec = one(documents, "ScaledObject")["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["idleReplicaCount"]) == (2, 20, 0)
    assert spec["fallback"] == {"failureThreshold": 3, "replicas": 3}
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == {
        "scaleDown": {"stabilizationWindowSeconds": 30}
    }
    metadata = spec["triggers"][0]["metadata"]
    assert metadata["lagThreshold"] == "50"
    assert metadata["activationLagThreshold"] == "5"
    assert metadata["offsetResetPolicy"] == "latest"
    assert metadata["limitToPartitionsWithLag"] == "true"
    assert metadata["topic"] == "orders"
    assert all(isinstance(value, str) for value in metadata.values())
    pod = one(documents, "Deployment", "consumer")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > 7.5
    assert pod["containers"][0]["image"] == "lagscale-consumer:1.2.3"
    assert pod["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    assert pod["containers"][0]["args"][-1] == "7.5"


def test_defaults_leave_optional_scaledobject_fields_out() -> None:
    spec = one(objects("kafka"), "ScaledObject")["spec"]
    assert "idleReplicaCount" not in spec
    assert "fallback" not in spec
    assert "advanced" not in spec


@pytest.mark.parametrize("profile", ["eventhubs", "kafka"])
def test_deployments_have_the_production_shape(profile: str) -> None:
    for deployment in by_kind(objects(profile, ["scaler.mode=external"]), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        assert container["readinessProbe"]
        assert container["livenessProbe"]
        labels = deployment["metadata"]["labels"]
        for key in ("name", "instance", "component", "part-of", "managed-by"):
            assert f"app.kubernetes.io/{key}" in labels


def test_consumer_probes_hit_healthz_on_the_metrics_port() -> None:
    container = one(objects("kafka"), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["ports"] == [{"name": "metrics", "containerPort": 8080}]
    assert container["args"][:4] == ["--metrics-port", "8080", "--metrics-host", "0.0.0.0"]


def consumer_env(profile: str, overrides: list[str] | None = None) -> dict[str, Any]:
    deployment = one(objects(profile, overrides), "Deployment", "-consumer")
    return env_of(deployment["spec"]["template"]["spec"]["containers"][0])


def test_group_protocol_is_kip848_on_kafka_and_classic_on_event_hubs() -> None:
    kafka = consumer_env("kafka")
    assert kafka["LAGSCALE_GROUP_PROTOCOL"] == "consumer"
    assert "LAGSCALE_ASSIGNMENT_STRATEGY" not in kafka  # the consumer refuses it with that protocol
    eventhubs = consumer_env("eventhubs")
    assert (eventhubs["LAGSCALE_GROUP_PROTOCOL"], eventhubs["LAGSCALE_ASSIGNMENT_STRATEGY"]) == (
        "classic",
        "range",
    )
    assert "LAGSCALE_GROUP_INSTANCE_ID" not in kafka | eventhubs


def test_static_membership_uses_each_pods_name_as_its_instance_id() -> None:
    overrides = ["consumer.staticMembership=true", "consumer.groupProtocol=classic"]
    overrides.append("consumer.assignmentStrategy=cooperative-sticky")
    env = consumer_env("kafka", overrides)
    assert env["LAGSCALE_GROUP_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["LAGSCALE_ASSIGNMENT_STRATEGY"] == "cooperative-sticky"


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("consumer.groupProtocol=eager", "consumer.groupProtocol: 'eager' must be one of classic, consumer"),
        ("consumer.assignmentStrategy=sticky", "consumer.assignmentStrategy: 'sticky' must be one of range,"),
    ],
)
def test_unknown_group_settings_are_rejected(override: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        merge_values("kafka", overrides=[override], environ={})


def test_external_mode_points_keda_at_the_lagscale_scaler_service() -> None:
    documents = objects("kafka", ["scaler.mode=external", "scaler.grpcPort=7000"])
    trigger = one(documents, "ScaledObject")["spec"]["triggers"][0]
    assert trigger["type"] == "external"
    assert trigger["metadata"]["scalerAddress"] == "lagscale-scaler.default.svc.cluster.local:7000"
    service = one(documents, "Service", "scaler")
    assert service["spec"]["ports"][0]["port"] == 7000
    scaler = one(documents, "Deployment", "scaler")["spec"]["template"]["spec"]["containers"][0]
    assert [scaler["command"][0], *scaler["args"]] == ["lagscale", "scale", "--serve-grpc", ":7000"]
    assert not by_kind(documents, "Role")


def test_standalone_mode_renders_rbac_and_no_keda_objects() -> None:
    documents = objects("eventhubs", ["scaler.mode=standalone"])
    assert not by_kind(documents, "ScaledObject")
    assert not by_kind(documents, "TriggerAuthentication")
    binding = one(documents, "RoleBinding")
    account = one(documents, "ServiceAccount")
    assert binding["subjects"][0]["name"] == account["metadata"]["name"]
    assert binding["roleRef"]["name"] == one(documents, "Role")["metadata"]["name"]


def test_standalone_scaler_gets_the_keda_settings_as_flags() -> None:
    documents = objects("kafka", ["scaler.mode=standalone", "keda.lagThreshold=42", "keda.maxReplicaCount=7"])
    container = one(documents, "Deployment", "scaler")["spec"]["template"]["spec"]["containers"][0]
    flags = dict(zip(container["args"][1::2], container["args"][2::2], strict=True))
    assert container["args"][0] == "scale"
    assert flags["--target"] == "kubernetes"
    assert flags["--name"] == "lagscale-consumer"
    assert (flags["--lag-threshold"], flags["--max-replica-count"]) == ("42", "7")
    assert "--idle-replica-count" not in flags
    assert env_of(container)["KAFKA_EVENTHUB_CONSUMER_GROUP"] == "lagscale-consumers"


def test_rendered_role_equals_the_scalers_own_rules() -> None:
    role = one(objects("kafka", ["scaler.mode=standalone"]), "Role")
    assert role["rules"] == SCALER_ROLE_RULES


def test_producer_can_be_left_out() -> None:
    assert not by_kind(objects("eventhubs", ["producer.enabled=false"]), "Job")


def test_output_is_deterministic() -> None:
    values = merge_values("kafka", overrides=COMMON_NON_DEFAULT, environ={})
    first = as_stream(render_manifests("kafka", values))
    assert first == as_stream(render_manifests("kafka", values))
