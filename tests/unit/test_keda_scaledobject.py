"""scaler.keda.scaledobject: ScaledObject defaults, HPA construction (section 3.3), auth params."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from kafkakit.errors import ConfigError
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.hpa import HpaBehavior, HpaPolicy, HpaSpec
from scaler.keda.pause import Pause
from scaler.keda.scaledobject import hpa_spec_for, parse_scaled_object
from scaler.keda.trigger import TriggerError, parse_trigger
from scaler.keda.trigger_auth import has_aws_pod_identity, resolve_auth_params

TRIGGER = {"bootstrapServers": "kafka:9092", "consumerGroup": "$Default", "topic": "orders"}
SCALED_OBJECT: dict[str, Any] = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "kafka-scaledobject", "namespace": "demo"},
    "spec": {
        "scaleTargetRef": {"name": "kafka-consumer"},
        "pollingInterval": 15,
        "cooldownPeriod": 100,
        "maxReplicaCount": 10,
        "triggers": [
            {
                "type": "kafka",
                "metadata": {
                    "bootstrapServers": "kafka:9092",
                    "consumerGroup": "$Default",
                    "topic": "orders",
                    "lagThreshold": "10",
                },
                "authenticationRef": {"name": "kafka-auth"},
            }
        ],
    },
}


def hpa_of(raw: dict[str, Any]) -> HpaSpec:
    """The HPA KEDA builds: from the parsed ScaledObject and its parsed kafka trigger."""
    definition = parse_scaled_object(raw)
    (index, kafka), *_ = definition.kafka_triggers()
    trigger = parse_trigger(kafka.metadata, trigger_index=index, metric_type=kafka.metric_type)
    return hpa_spec_for(definition.spec, trigger, definition.behavior, pause=definition.pause)


def document(**spec_changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(SCALED_OBJECT)
    result["spec"].update(spec_changes)
    return result


def test_tutorial_scaled_object_with_keda_defaults() -> None:
    definition = parse_scaled_object(SCALED_OBJECT)
    assert (definition.name, definition.namespace) == ("kafka-scaledobject", "demo")
    assert (definition.target_kind, definition.target_name) == ("Deployment", "kafka-consumer")
    assert definition.spec.polling_interval == 15
    assert definition.spec.cooldown_period == 100
    assert definition.spec.min_replica_count == 0
    assert definition.spec.initial_cooldown_period == 0
    assert definition.hpa_name == "keda-hpa-kafka-scaledobject"
    (index, kafka), *_ = definition.kafka_triggers()
    assert (index, kafka.auth_ref_name, kafka.auth_ref_kind) == (0, "kafka-auth", "TriggerAuthentication")
    assert parse_trigger(kafka.metadata).consumer_group == "$Default"


@pytest.mark.parametrize(("min_count", "hpa_min"), [(None, 1), (0, 1), (1, 1), (4, 4)])
def test_hpa_min_replicas_is_min_replica_count_if_positive_else_1(
    min_count: int | None, hpa_min: int
) -> None:
    changes = {} if min_count is None else {"minReplicaCount": min_count}
    assert hpa_of(document(**changes)).min_replicas == hpa_min


def test_hpa_max_default_100_and_target_is_lag_threshold_average_value() -> None:
    raw = document()
    del raw["spec"]["maxReplicaCount"]
    raw["spec"]["triggers"][0]["metadata"]["lagThreshold"] = "50"
    hpa = hpa_of(raw)
    assert (hpa.max_replicas, hpa.target_type, hpa.target_value) == (100, "AverageValue", 50)
    assert hpa.behavior is None


def test_metric_type_value_becomes_value_target() -> None:
    raw = document()
    raw["spec"]["triggers"][0]["metricType"] = "Value"
    assert hpa_of(raw).target_type == "Value"


def test_behavior_from_advanced_hpa_config() -> None:
    behavior = {"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    raw = document(advanced={"horizontalPodAutoscalerConfig": {"name": "custom", "behavior": behavior}})
    assert parse_scaled_object(raw).hpa_name == "custom"
    behavior = hpa_of(raw).behavior
    assert behavior is not None
    assert behavior.scale_down.policies == (HpaPolicy("Pods", 1, 60),)
    assert behavior.scale_up == HpaBehavior().scale_up


def test_paused_scale_in_annotation_disables_scale_down() -> None:
    raw = document()
    raw["metadata"]["annotations"] = {"autoscaling.keda.sh/paused-scale-in": "true"}
    behavior = hpa_of(raw).behavior
    assert behavior is not None
    assert (behavior.scale_down.select_policy, behavior.scale_up.select_policy) == ("Disabled", "Max")


@pytest.mark.parametrize(
    ("annotations", "pause"),
    [
        ({}, Pause()),
        ({"autoscaling.keda.sh/paused": "true"}, Pause(paused=True)),
        ({"autoscaling.keda.sh/paused": "false"}, Pause()),
        ({"autoscaling.keda.sh/paused": "yes please"}, Pause(paused=True)),  # KEDA: not a bool -> paused
        ({"autoscaling.keda.sh/paused-replicas": "3"}, Pause(replicas=3)),
        ({"autoscaling.keda.sh/paused-scale-out": "true"}, Pause(scale_out=True)),
    ],
)
def test_pause_annotations_reach_the_definition(annotations: dict[str, str], pause: Pause) -> None:
    raw = document()
    raw["metadata"]["annotations"] = annotations
    assert parse_scaled_object(raw).pause == pause


def test_paused_replicas_must_be_a_count() -> None:
    raw = document()
    raw["metadata"]["annotations"] = {"autoscaling.keda.sh/paused-replicas": "two"}
    with pytest.raises(ConfigError, match="paused-replicas: must be a replica count"):
        parse_scaled_object(raw)


@pytest.mark.parametrize(
    "stamp", ["2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)]
)
def test_creation_timestamp_is_read_as_utc(stamp: object) -> None:
    raw = document()
    raw["metadata"]["creationTimestamp"] = stamp
    assert parse_scaled_object(raw).created_at == datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("stamp", ["yesterday", "2024-05-01T12:00:00"])
def test_creation_timestamp_must_be_rfc3339(stamp: str) -> None:
    raw = document()
    raw["metadata"]["creationTimestamp"] = stamp
    with pytest.raises(ConfigError, match="must be an RFC3339 time"):
        parse_scaled_object(raw)


@pytest.mark.parametrize(
    ("spec", "hpa_min"),
    [(ScaledObjectSpec(), 1), (ScaledObjectSpec(min_replica_count=0, min_replica_count_set=True), 1),
     (ScaledObjectSpec(min_replica_count=4), 4)],
)  # fmt: skip
def test_hpa_spec_for_is_keda_rule(spec: ScaledObjectSpec, hpa_min: int) -> None:
    hpa = hpa_spec_for(spec, parse_trigger({**TRIGGER, "lagThreshold": "25"}, metric_type="Value"))
    assert (hpa.min_replicas, hpa.max_replicas, hpa.target_type, hpa.target_value) == (
        hpa_min,
        100,
        "Value",
        25,
    )


def test_idle_with_min_replica_count_zero_is_accepted_like_keda() -> None:
    spec = parse_scaled_object(document(minReplicaCount=0, idleReplicaCount=0)).spec
    assert (spec.min_replica_count, spec.idle_replica_count) == (0, 0)


def test_fallback_and_idle() -> None:
    raw = document(
        minReplicaCount=1,
        idleReplicaCount=0,
        fallback={"failureThreshold": 3, "replicas": 6, "behavior": "currentReplicas"},
    )
    spec = parse_scaled_object(raw).spec
    assert spec.idle_replica_count == 0
    assert spec.fallback is not None
    assert (spec.fallback.failure_threshold, spec.fallback.replicas) == (3, 6)
    assert spec.fallback.behavior == "currentReplicas"


def test_idle_without_min_replica_count_is_rejected_like_keda() -> None:
    with pytest.raises(
        ConfigError, match=r"spec.idleReplicaCount: \(0\) must be less than spec.minReplicaCount \(0\)"
    ):
        parse_scaled_object(document(idleReplicaCount=0))


def test_trigger_index_counts_every_trigger() -> None:
    raw = document()
    raw["spec"]["triggers"].insert(0, {"type": "cpu", "metadata": {"value": "50"}})
    (index, _), *_ = parse_scaled_object(raw).kafka_triggers()
    assert index == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(kind="Deployment"), "kind: must be ScaledObject"),
        (lambda d: d.update(apiVersion="keda.k8s.io/v1alpha1"), "use keda.sh/v1alpha1"),
        (lambda d: d["spec"].update(triggers=[{"type": "cpu", "metadata": {}}]), "no trigger of type kafka"),
        (lambda d: d["spec"].update(triggers=[]), "non-empty list"),
        (lambda d: d["spec"].update(scaleTargetRef={"deploymentName": "x"}), "KEDA 1.x"),
        (lambda d: d["spec"].update(minReplicaCount=20), r"minReplicaCount: \(20\) must not exceed spec.max"),
        (lambda d: d["spec"].update(pollingInterval="15"), "spec.pollingInterval: must be an integer"),
        (lambda d: d["spec"]["triggers"][0]["metadata"].update(lagThreshold=10), "quote it"),
        (lambda d: d["metadata"].pop("name"), "metadata.name"),
        (
            lambda d: d["spec"]["triggers"][0]["authenticationRef"].update(kind="Secret"),
            "kind: must be one of",
        ),
    ],
)
def test_clear_errors(mutate: Any, message: str) -> None:
    raw = copy.deepcopy(SCALED_OBJECT)
    mutate(raw)
    with pytest.raises(ConfigError, match=message):
        parse_scaled_object(raw)


def test_trigger_metadata_is_left_to_the_trigger_parser_which_judges_it_once() -> None:
    raw = document()
    raw["spec"]["triggers"][0]["metadata"]["lagThreshold"] = "0"
    (_, kafka), *_ = parse_scaled_object(raw).kafka_triggers()  # no lagThreshold check here
    with pytest.raises(TriggerError, match="must be positive number"):
        parse_trigger(kafka.metadata)


# TriggerAuthentication resolution.

TRIGGER_AUTH = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "TriggerAuthentication",
    "metadata": {"name": "kafka-auth"},
    "spec": {
        "secretTargetRef": [
            {"parameter": "sasl", "name": "kafka-secrets", "key": "sasl"},
            {"parameter": "password", "name": "kafka-secrets", "key": "password"},
        ],
        "env": [{"parameter": "username", "name": "KAFKA_USER"}],
        "configMapTargetRef": [{"parameter": "tls", "name": "kafka-config", "key": "tls"}],
    },
}
SECRETS = {"kafka-secrets": {"sasl": "plaintext\n", "password": "s3cret"}}


def test_resolve_auth_params_from_secret_env_and_config_map() -> None:
    params = resolve_auth_params(
        TRIGGER_AUTH,
        SECRETS,
        {"KAFKA_USER": "$ConnectionString"},
        config_maps={"kafka-config": {"tls": "enable"}},
    )
    assert params == {
        "sasl": "plaintext\n",
        "password": "s3cret",
        "username": "$ConnectionString",
        "tls": "enable",
    }
    trigger = parse_trigger(SCALED_OBJECT["spec"]["triggers"][0]["metadata"], params)
    assert (trigger.sasl, trigger.tls, trigger.username) == ("plaintext", "enable", "$ConnectionString")


def test_resolve_auth_params_accepts_bare_spec_and_secret_wins() -> None:
    spec = {
        "env": [{"parameter": "password", "name": "PW"}],
        "secretTargetRef": [{"parameter": "password", "name": "kafka-secrets", "key": "password"}],
    }
    assert resolve_auth_params(spec, SECRETS, {"PW": "from-env"}) == {"password": "s3cret"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"secretTargetRef": [{"parameter": "password", "name": "nope", "key": "k"}]}, "Secret nope"),
        ({"env": [{"parameter": "username", "name": "MISSING"}]}, "env var MISSING"),
        ({"hashiCorpVault": {"address": "x"}}, "hashiCorpVault: needs a live cluster"),
        ({"secretTargetRef": [{"name": "kafka-secrets", "key": "password"}]}, "parameter"),
    ],
)
def test_resolve_auth_params_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_auth_params(spec, SECRETS, {})


def test_has_aws_pod_identity() -> None:
    assert has_aws_pod_identity({"podIdentity": {"provider": "aws"}}) is True
    assert has_aws_pod_identity(TRIGGER_AUTH) is False
