"""Cross-field checks on merged, type-checked values. Each rule returns its problems (one line
each, saying what to change) so `check_rules` can report all of them at once. The rules mirror
what KEDA, the API server or the clients would reject later, where it is cheaper to fail now."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from consumer.group import ASSIGNMENT_STRATEGIES, GROUP_PROTOCOLS
from kafkakit.errors import ConfigError
from kafkakit.profiles import parse_connection_string

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_HOST_PORT = re.compile(r"[^\s:,]+:[0-9]{1,5}")
_KAFKA_CLUSTER_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_BEHAVIOR_FIELDS = frozenset({"stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"})
_RESOURCE_FIELDS = frozenset({"requests", "limits", "claims"})
_SCALER_MODES = ("keda", "external", "standalone")
_OFFSET_POLICIES = ("latest", "earliest")
_KAFKA_SASL = ("none", "plaintext")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
EVENTHUBS_AMQP_DEFAULT_GROUP = "$Default"

Values = dict[str, Any]


def _names(values: Values) -> list[str]:
    problems = []
    for key in ("namespace", "instance"):
        if not _DNS_LABEL.fullmatch(values[key]) or len(values[key]) > 40:
            problems.append(
                f"{key}: {values[key]!r} must be a DNS label (lower-case letters, digits, '-'; max 40)"
            )
    for key in ("topic", "consumerGroup"):
        if not values[key].strip():
            problems.append(f"{key}: must not be empty")
    return problems


def _replica_bounds(keda: Values) -> list[str]:
    problems = []
    low, high, idle = keda["minReplicaCount"], keda["maxReplicaCount"], keda["idleReplicaCount"]
    if low < 0:
        problems.append(f"keda.minReplicaCount: {low} must be >= 0")
    if high < 1:
        problems.append(f"keda.maxReplicaCount: {high} must be >= 1")
    if low > high:
        problems.append(
            f"keda.minReplicaCount ({low}) > keda.maxReplicaCount ({high}): lower min or raise max"
        )
    if idle is not None and idle >= low:
        problems.append(
            f"keda.idleReplicaCount ({idle}) must be less than keda.minReplicaCount ({low}): "
            "raise minReplicaCount or set idleReplicaCount to null"
        )
    if idle is not None and idle < 0:
        problems.append(f"keda.idleReplicaCount: {idle} must be >= 0")
    return problems


def _trigger(keda: Values) -> list[str]:
    problems = []
    if keda["lagThreshold"] <= 0:
        problems.append(f"keda.lagThreshold: {keda['lagThreshold']} must be > 0 (KEDA rejects it)")
    if keda["activationLagThreshold"] < 0:
        problems.append(f"keda.activationLagThreshold: {keda['activationLagThreshold']} must be >= 0")
    if keda["offsetResetPolicy"] not in _OFFSET_POLICIES:
        problems.append(
            f"keda.offsetResetPolicy: {keda['offsetResetPolicy']!r} must be one of "
            + ", ".join(_OFFSET_POLICIES)
        )
    if keda["allowIdleConsumers"] and keda["limitToPartitionsWithLag"]:
        problems.append(
            "keda.allowIdleConsumers and keda.limitToPartitionsWithLag cannot both be true (KEDA rejects it)"
        )
    for key, minimum in (("pollingInterval", 1), ("cooldownPeriod", 0), ("initialCooldownPeriod", 0)):
        if keda[key] < minimum:
            problems.append(f"keda.{key}: {keda[key]} must be >= {minimum}")
    for key in ("failureThreshold", "replicas"):
        if keda["fallback"][key] < 0:
            problems.append(f"keda.fallback.{key}: {keda['fallback'][key]} must be >= 0")
    return problems


def _behavior(keda: Values) -> list[str]:
    behavior = keda["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    key = "keda.advanced.horizontalPodAutoscalerConfig.behavior"
    problems = []
    for direction, rules in behavior.items():
        if direction not in ("scaleUp", "scaleDown"):
            problems.append(f"{key}.{direction}: unknown; use scaleUp or scaleDown")
        elif not isinstance(rules, dict):
            problems.append(f"{key}.{direction}: expected a mapping")
        else:
            problems.extend(
                f"{key}.{direction}.{field}: unknown; use one of {', '.join(sorted(_BEHAVIOR_FIELDS))}"
                for field in rules
                if field not in _BEHAVIOR_FIELDS
            )
    return problems


def _workloads(values: Values) -> list[str]:
    problems = []
    for part in ("consumer", "producer", "scaler"):
        problems.extend(_image(f"{part}.image", values[part]["image"]))
        problems.extend(_resources(f"{part}.resources", values[part]["resources"]))
    consumer, producer, scaler = values["consumer"], values["producer"], values["scaler"]
    if consumer["processTime"] < 0:
        problems.append(f"consumer.processTime: {consumer['processTime']} must be >= 0 seconds")
    for key, allowed in (("groupProtocol", GROUP_PROTOCOLS), ("assignmentStrategy", ASSIGNMENT_STRATEGIES)):
        if consumer[key] not in allowed:
            problems.append(f"consumer.{key}: {consumer[key]!r} must be one of {', '.join(allowed)}")
    ports = {
        "consumer.metricsPort": consumer["metricsPort"],
        "scaler.grpcPort": scaler["grpcPort"],
        "scaler.metricsPort": scaler["metricsPort"],
    }
    for key, port in ports.items():
        if not 1 <= port <= 65535:
            problems.append(f"{key}: {port} must be a TCP port (1-65535)")
    if producer["count"] < 1:
        problems.append(f"producer.count: {producer['count']} must be >= 1")
    if producer["rate"] < 0:
        problems.append(f"producer.rate: {producer['rate']} must be >= 0 (0 = as fast as possible)")
    if scaler["mode"] not in _SCALER_MODES:
        problems.append(f"scaler.mode: {scaler['mode']!r} must be one of {', '.join(_SCALER_MODES)}")
    return problems


def _image(key: str, image: Values) -> list[str]:
    problems = [
        f"{key}.{field}: must not be empty" for field in ("repository", "tag") if not image[field].strip()
    ]
    if image["pullPolicy"] not in _PULL_POLICIES:
        problems.append(
            f"{key}.pullPolicy: {image['pullPolicy']!r} must be one of {', '.join(_PULL_POLICIES)}"
        )
    return problems


def _resources(key: str, resources: Values) -> list[str]:
    return [
        f"{key}.{field}: unknown; use requests or limits"
        for field in resources
        if field not in _RESOURCE_FIELDS
    ]


def _eventhubs(values: Values) -> list[str]:
    eventhubs = values["eventhubs"]
    problems = []
    if eventhubs["connectionString"]:
        try:
            parse_connection_string(eventhubs["connectionString"])
        except ConfigError as error:
            problems.append(f"eventhubs.connectionString: {error}")
    host = eventhubs["host"]
    if host and ".servicebus." not in host:
        problems.append(
            f"eventhubs.host: {host!r} is not an Event Hubs host; use <namespace>.servicebus.windows.net "
            "(the tutorial's `<namespace>.windows.net` lacks `.servicebus`)"
        )
    if host and ":" in host:
        problems.append(f"eventhubs.host: {host!r} must be a host name only (the Kafka port 9093 is added)")
    if values["consumerGroup"] == EVENTHUBS_AMQP_DEFAULT_GROUP:
        problems.append(
            "consumerGroup: `$Default` is the Event Hubs AMQP group, not a Kafka group; "
            "choose a name of your own (Kafka groups span the whole namespace)"
        )
    return problems


def _kafka(values: Values) -> list[str]:
    kafka = values["kafka"]
    problems = []
    if kafka["sasl"] not in _KAFKA_SASL:
        problems.append(f"kafka.sasl: {kafka['sasl']!r} must be one of {', '.join(_KAFKA_SASL)}")
    if kafka["sasl"] == "plaintext" and not kafka["username"].strip():
        problems.append("kafka.username: must be set when kafka.sasl is plaintext")
    for key in ("username", "password"):
        # Both end up inside the broker's JAAS line and the topic Job's client.properties.
        if any(character in kafka[key] for character in '"\\ ;'):
            problems.append(f'kafka.{key}: must not contain quotes, backslashes, spaces or ";"')
    servers = kafka["bootstrapServers"]
    if not servers and not kafka["broker"]["enabled"]:
        problems.append(
            "kafka.bootstrapServers: set it, or set kafka.broker.enabled=true for the in-cluster broker"
        )
    for server in filter(None, (item.strip() for item in servers.split(","))):
        if not _HOST_PORT.fullmatch(server):
            problems.append(f"kafka.bootstrapServers: {server!r} must be host:port")
    if kafka["topic"]["partitions"] < 1:
        problems.append(f"kafka.topic.partitions: {kafka['topic']['partitions']} must be >= 1")
    broker = kafka["broker"]
    if not _KAFKA_CLUSTER_ID.fullmatch(broker["clusterId"]):
        problems.append(
            "kafka.broker.clusterId: must be 22 base64url characters (kafka-storage.sh random-uuid)"
        )
    problems.extend(_image("kafka.broker.image", broker["image"]))
    problems.extend(_resources("kafka.broker.resources", broker["resources"]))
    return problems


_COMMON_RULES: tuple[Callable[[Values], list[str]], ...] = (
    _names,
    lambda values: _replica_bounds(values["keda"]),
    lambda values: _trigger(values["keda"]),
    lambda values: _behavior(values["keda"]),
    _workloads,
)
_PROFILE_RULES = {"eventhubs": _eventhubs, "kafka": _kafka}


def check_rules(profile: str, values: Values) -> list[str]:
    """Every cross-field problem in `values` (already type-checked), in a stable order."""
    problems: list[str] = []
    for rule in (*_COMMON_RULES, _PROFILE_RULES[profile]):
        problems.extend(rule(values))
    return problems
