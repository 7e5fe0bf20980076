"""Cross-field checks on merged, type-checked values. Each rule returns its problems (one line
each, saying what to change) so `check_rules` can report all of them at once. The rules mirror
what KEDA, the API server or the clients would reject later, where it is cheaper to fail now.

The `keda` section is judged by KEDA's own rules (scaler.keda: the trigger parser, the
ScaledObject's checks, the HPA behavior parser) on what the templates will render, each problem
named by its values key; none of those rules is written a second time here."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from consumer.group import ASSIGNMENT_STRATEGIES, GROUP_PROTOCOLS
from kafkakit.errors import ConfigError
from kafkakit.profiles import parse_connection_string
from lagscale.render.context import trigger_metadata
from lagscale.render.grpc_tls import grpc_tls_problems
from lagscale.render.token_auth import oauth_problems
from scaler.keda.behavior import parse_behavior
from scaler.keda.executor import Fallback, ScaledObjectSpec
from scaler.keda.trigger import parse_trigger

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_HOST_PORT = re.compile(r"[^\s:,]+:[0-9]{1,5}")
_KAFKA_CLUSTER_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_RESOURCE_FIELDS = frozenset({"requests", "limits", "claims"})
# A Kubernetes resource.Quantity: a decimal number with an optional SI or binary suffix.
_QUANTITY = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?")
_SCALER_MODES = ("keda", "external", "standalone")
_KAFKA_SASL = ("none", "plaintext", "oauthbearer")
_EVENTHUBS_AUTH = ("connectionString", "entra")
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
    if not values["topic"].strip():  # KEDA would allow it (every topic), the producer and consumer not
        problems.append("topic: must not be empty")
    return problems


def _keda(profile: str, values: Values) -> list[str]:
    """The ScaledObject and kafka trigger the templates render, checked by KEDA's rules."""
    keda = values["keda"]
    fallback = keda["fallback"]
    spec = ScaledObjectSpec(
        polling_interval=keda["pollingInterval"],
        cooldown_period=keda["cooldownPeriod"],
        initial_cooldown_period=keda["initialCooldownPeriod"],
        min_replica_count=keda["minReplicaCount"],
        max_replica_count=keda["maxReplicaCount"],
        idle_replica_count=keda["idleReplicaCount"],
        # Checked even while disabled: the values are there to be turned on.
        fallback=Fallback(fallback["failureThreshold"], fallback["replicas"]),
        min_replica_count_set=True,  # the template always writes minReplicaCount
    )
    behavior = keda["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    checks: list[tuple[Callable[[], object], Callable[[str], str]]] = [
        (spec.validate, _keda_key),
        (
            lambda: parse_behavior(behavior),
            lambda field: f"keda.advanced.horizontalPodAutoscalerConfig.{field}",
        ),
    ]
    try:
        metadata = trigger_metadata(profile, values)
    except ConfigError:
        pass  # a malformed connection string: the eventhubs rules report it
    else:
        checks.append((lambda: parse_trigger(metadata), _keda_key))
    problems: list[str] = []
    for check, key in checks:
        try:
            check()
        except ConfigError as error:
            problems.extend(str(problem) for problem in error.renamed(key).problems)
    return problems


def _keda_key(field: str) -> str:
    """Where a KEDA setting is in the values: under keda (same name), or one of the shared keys."""
    return {
        "consumerGroup": "consumerGroup",
        "topic": "topic",
        "bootstrapServers": "kafka.bootstrapServers",
    }.get(field, f"keda.{field}")


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
    problems = []
    for field, entries in resources.items():
        if field not in _RESOURCE_FIELDS:
            problems.append(f"{key}.{field}: unknown; use requests or limits")
        elif field != "claims":
            problems.extend(_quantities(f"{key}.{field}", entries))
    return problems


def _quantities(key: str, entries: object) -> list[str]:
    """`{cpu: 500m, memory: 256Mi}`: resource names with Kubernetes quantities."""
    example = "e.g. {cpu: 500m, memory: 256Mi}"
    if not isinstance(entries, dict):
        return [f"{key}: expected a mapping of resource name to quantity ({example}), got {entries!r}"]
    return [
        f"{key}.{name}: {quantity!r} is not a Kubernetes quantity ({example})"
        for name, quantity in entries.items()
        if isinstance(quantity, bool)
        or not isinstance(quantity, int | float | str)
        or not _QUANTITY.fullmatch(str(quantity))
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
    if eventhubs["auth"] not in _EVENTHUBS_AUTH:
        problems.append(f"eventhubs.auth: {eventhubs['auth']!r} must be one of {', '.join(_EVENTHUBS_AUTH)}")
    problems.extend(oauth_problems("eventhubs", values))
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
    problems.extend(oauth_problems("kafka", values))
    problems.extend(_image("kafka.broker.image", broker["image"]))
    problems.extend(_resources("kafka.broker.resources", broker["resources"]))
    return problems


_COMMON_RULES: tuple[Callable[[Values], list[str]], ...] = (_names, _workloads, grpc_tls_problems)
_PROFILE_RULES = {"eventhubs": _eventhubs, "kafka": _kafka}


def check_rules(profile: str, values: Values) -> list[str]:
    """Every cross-field problem in `values` (already type-checked), in a stable order."""
    problems: list[str] = []
    for rule in (*_COMMON_RULES, _PROFILE_RULES[profile]):
        problems.extend(rule(values))
    problems.extend(_keda(profile, values))
    return problems
