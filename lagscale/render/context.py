"""What the templates see: validated values plus everything derived from them (object names,
labels, connection env, trigger metadata), computed once here so no template repeats logic."""

from __future__ import annotations

import math
from typing import Any

from kafkakit.profiles import EVENTHUBS_KAFKA_PORT, EVENTHUBS_USERNAME, parse_connection_string
from kafkakit.secrets import mask
from lagscale.render.grpc_tls import grpc_tls_context, grpc_tls_names, scaler_tls_args, uses_grpc_tls
from lagscale.render.token_auth import oauth_env, oauth_secret_data, uses_oauth

Values = dict[str, Any]

EVENTHUBS_HOST_PLACEHOLDER = "<EVENTHUBS_NAMESPACE>.servicebus.windows.net"
CONNECTION_STRING_PLACEHOLDER = (
    f"Endpoint=sb://{EVENTHUBS_HOST_PLACEHOLDER}/;SharedAccessKeyName=<KEY_NAME>;SharedAccessKey=<KEY>"
)
KAFKA_PASSWORD_PLACEHOLDER = "<KAFKA_PASSWORD>"  # noqa: S105 - a placeholder, not a password
# Seconds a stopping consumer gets beyond one event's processing: commit, leave the group, exit.
SHUTDOWN_MARGIN_SECONDS = 15
KAFKA_CLIENT_PORT = 9092
# uid/gid of our images (non-root); the apache/kafka image runs as its own `appuser`, uid 1000.
APP_USER_ID = 10001
KAFKA_IMAGE_USER_ID = 1000
# The app.kubernetes.io/managed-by label of every rendered object: how `render -o` knows its own files.
MANAGED_BY = "lagscale-render"
# Where the external-mode scaler finds the credentials Secret, one file per KEDA auth parameter
# (KEDA forwards no TriggerAuthentication to an external scaler; see docs/external-scaler.md).
SCALER_AUTH_DIR = "/etc/lagscale/kafka-auth"


def object_names(instance: str) -> dict[str, str]:
    return {
        "secret": f"{instance}-kafka-credentials",
        "triggerAuth": f"{instance}-kafka-auth",
        "consumer": f"{instance}-consumer",
        "producer": f"{instance}-producer",
        "scaler": f"{instance}-scaler",
        "kafka": f"{instance}-kafka",
        "kafkaHeadless": f"{instance}-kafka-headless",
        "topicJob": f"{instance}-create-topic",
        **grpc_tls_names(instance),
    }


def _labels(values: Values, component: str, name: str) -> dict[str, dict[str, str]]:
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": values["instance"]}
    labels = {
        **selector,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "lagscale",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    return {"labels": labels, "selector": selector}


def bootstrap_servers(profile: str, values: Values) -> str:
    if profile == "eventhubs":
        return f"{eventhubs_host(values)}:{EVENTHUBS_KAFKA_PORT}"
    if values["kafka"]["bootstrapServers"]:
        return ",".join(item.strip() for item in values["kafka"]["bootstrapServers"].split(","))
    service = object_names(values["instance"])["kafka"]
    return f"{service}.{values['namespace']}.svc.cluster.local:{KAFKA_CLIENT_PORT}"


def eventhubs_host(values: Values) -> str:
    eventhubs = values["eventhubs"]
    if eventhubs["host"]:
        return str(eventhubs["host"])
    if eventhubs["connectionString"]:
        return parse_connection_string(eventhubs["connectionString"]).namespace_host
    return EVENTHUBS_HOST_PLACEHOLDER


def _host(profile: str, values: Values) -> str:
    """The first bootstrap server's host (Event Hubs: the namespace host, for the scope)."""
    return bootstrap_servers(profile, values).split(",")[0].rpartition(":")[0]


def uses_sasl(profile: str, values: Values) -> bool:
    return profile == "eventhubs" or values["kafka"]["sasl"] in ("plaintext", "oauthbearer")


def secret_data(profile: str, values: Values, *, masked: bool) -> dict[str, str]:
    """The Secret's stringData (KEDA's parameter names as keys); real values masked on request."""
    if uses_oauth(profile, values):
        return oauth_secret_data(profile, values, _host(profile, values), masked=masked)
    if profile == "eventhubs":
        username, real = EVENTHUBS_USERNAME, values["eventhubs"]["connectionString"]
        placeholder, tls = CONNECTION_STRING_PLACEHOLDER, "enable"
    else:
        username, real = values["kafka"]["username"], values["kafka"]["password"]
        placeholder, tls = KAFKA_PASSWORD_PLACEHOLDER, "disable"
    password = (mask(real) if masked else real) if real else placeholder
    return {"sasl": "plaintext", "tls": tls, "username": username, "password": password}


def _from_secret(env_name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def connection_env(profile: str, values: Values, role: str) -> list[dict[str, Any]]:
    """Env of a lagscale container (`role`: consumer, producer or scaler), with the tutorial's names.
    The producer reads the password as KAFKA_EVENTHUB_CONNECTION_STRING, the others as ..._PASSWORD."""
    secret = object_names(values["instance"])["secret"]
    if uses_oauth(profile, values):
        kind = "eventhubs" if profile == "eventhubs" else "oauthbearer"
    elif profile == "eventhubs":
        kind = "eventhubs"
    else:
        kind = "sasl_plain" if uses_sasl(profile, values) else "plaintext"
    env: list[dict[str, Any]] = [
        {"name": "LAGSCALE_PROFILE", "value": kind},
        {"name": "KAFKA_EVENTHUB_ENDPOINT", "value": bootstrap_servers(profile, values)},
    ]
    if uses_oauth(profile, values):
        env += oauth_env(profile, values, _host(profile, values), secret)
    elif uses_sasl(profile, values):
        producer_on_eventhubs = role == "producer" and profile == "eventhubs"
        variable = "KAFKA_EVENTHUB_CONNECTION_STRING" if producer_on_eventhubs else "KAFKA_EVENTHUB_PASSWORD"
        env.append(_from_secret("KAFKA_EVENTHUB_USERNAME", secret, "username"))
        env.append(_from_secret(variable, secret, "password"))
    if role != "producer":
        env.append({"name": "KAFKA_EVENTHUB_CONSUMER_GROUP", "value": values["consumerGroup"]})
    env.append({"name": "KAFKA_EVENTHUB_TOPIC", "value": values["topic"]})
    return env


def consumer_group_env(values: Values) -> list[dict[str, Any]]:
    """The consumer's group protocol settings; with static membership each pod's name becomes its
    group.instance.id (downward API), stable across restarts of its container."""
    consumer = values["consumer"]
    env: list[dict[str, Any]] = [{"name": "LAGSCALE_GROUP_PROTOCOL", "value": consumer["groupProtocol"]}]
    if consumer["groupProtocol"] == "classic":
        env.append({"name": "LAGSCALE_ASSIGNMENT_STRATEGY", "value": consumer["assignmentStrategy"]})
    if consumer["staticMembership"]:
        pod_name = {"fieldRef": {"fieldPath": "metadata.name"}}
        env.append({"name": "LAGSCALE_GROUP_INSTANCE_ID", "valueFrom": pod_name})
    return env


def trigger_metadata(profile: str, values: Values) -> dict[str, str]:
    """The kafka trigger's metadata; all strings, as KEDA's metadata map requires."""
    keda = values["keda"]
    metadata = {
        "bootstrapServers": bootstrap_servers(profile, values),
        "consumerGroup": values["consumerGroup"],
        "topic": values["topic"],
    }
    for key in ("lagThreshold", "activationLagThreshold", "offsetResetPolicy"):
        metadata[key] = str(keda[key])
    for key in (
        "allowIdleConsumers",
        "limitToPartitionsWithLag",
        "scaleToZeroOnInvalidOffset",
        "excludePersistentLag",
    ):
        metadata[key] = "true" if keda[key] else "false"
    return metadata


def scaler_address(values: Values) -> str:
    name = object_names(values["instance"])["scaler"]
    return f"{name}.{values['namespace']}.svc.cluster.local:{values['scaler']['grpcPort']}"


def trigger(profile: str, values: Values) -> dict[str, Any]:
    metadata = trigger_metadata(profile, values)
    if values["scaler"]["mode"] == "external":
        # The external scaler receives this metadata with every request, so it keeps KEDA's names.
        tls = {"enableTLS": "true"} if uses_grpc_tls(values) else {}
        return {"type": "external", "metadata": {"scalerAddress": scaler_address(values), **tls, **metadata}}
    return {"type": "kafka", "metadata": metadata}


def trigger_auth_name(profile: str, values: Values) -> str | None:
    """The TriggerAuthentication the trigger refers to: the Kafka credentials' for KEDA's own
    trigger, the gRPC TLS one for the external trigger (KEDA forwards no credentials to it)."""
    names = object_names(values["instance"])
    if values["scaler"]["mode"] == "keda" and uses_sasl(profile, values):
        return names["triggerAuth"]
    if uses_grpc_tls(values):
        return names["scalerAuth"]
    return None


def scaler_auth_dir(profile: str, values: Values) -> str | None:
    """The directory the external scaler reads its credentials from (LAGSCALE_GRPC_AUTH_DIR), or
    None when it needs none: other modes get them through the connection env."""
    if values["scaler"]["mode"] == "external" and uses_sasl(profile, values):
        return SCALER_AUTH_DIR
    return None


def scaler_args(values: Values) -> list[str]:
    """Arguments of `lagscale` in the scaler container. Group, topic and connection come from the
    same environment variables as the consumer's."""
    scaler = values["scaler"]
    if scaler["mode"] == "external":
        return ["scale", "--serve-grpc", f":{scaler['grpcPort']}", *scaler_tls_args(values)]
    keda = values["keda"]
    flags = {
        "--target": "kubernetes",
        "--kind": "Deployment",
        "--name": object_names(values["instance"])["consumer"],
        "--namespace": values["namespace"],
        "--lag-threshold": keda["lagThreshold"],
        "--activation-lag-threshold": keda["activationLagThreshold"],
        "--offset-reset-policy": keda["offsetResetPolicy"],
        "--polling-interval": keda["pollingInterval"],
        "--cooldown-period": keda["cooldownPeriod"],
        "--min-replica-count": keda["minReplicaCount"],
        "--max-replica-count": keda["maxReplicaCount"],
        "--idle-replica-count": keda["idleReplicaCount"],
        "--metrics-port": scaler["metricsPort"],
        "--metrics-host": "0.0.0.0",  # noqa: S104 - in a pod, so the kubelet's probes reach it
    }
    return [
        "scale",
        *(item for flag, value in flags.items() if value is not None for item in (flag, str(value))),
    ]


def _security(user_id: int, *, read_only_root: bool) -> dict[str, Any]:
    pod = {
        "runAsNonRoot": True,
        "runAsUser": user_id,
        "runAsGroup": user_id,
        "fsGroup": user_id,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
    }
    return {"pod": pod, "container": container}


def build_context(profile: str, values: Values, *, masked: bool) -> dict[str, Any]:
    """Everything a template may use, under stable names."""
    names = object_names(values["instance"])
    components = {
        "credentials": names["secret"],
        "consumer": names["consumer"],
        "producer": names["producer"],
        "scaler": names["scaler"],
        "broker": names["kafka"],
        "topic-setup": names["topicJob"],
        "scaler-tls": names["scalerTls"],
    }
    images = {part: values[part]["image"] for part in ("consumer", "producer", "scaler")}
    if profile == "kafka":
        images["kafka"] = values["kafka"]["broker"]["image"]
    return {
        "profile": profile,
        "v": values,
        "names": names,
        "meta": {component: _labels(values, component, name) for component, name in components.items()},
        "images": {
            part: {**image, "ref": f"{image['repository']}:{image['tag']}"} for part, image in images.items()
        },
        "bootstrap": bootstrap_servers(profile, values),
        "sasl": uses_sasl(profile, values),
        "secret_data": secret_data(profile, values, masked=masked),
        "env": {
            "consumer": connection_env(profile, values, "consumer") + consumer_group_env(values),
            "producer": connection_env(profile, values, "producer"),
            "scaler": connection_env(profile, values, "scaler"),
        },
        "trigger": trigger(profile, values),
        "trigger_auth": trigger_auth_name(profile, values),
        "grpc_tls": grpc_tls_context(values, masked=masked),
        "scaler_args": scaler_args(values),
        "scaler_auth_dir": scaler_auth_dir(profile, values),
        "termination_grace_seconds": math.ceil(values["consumer"]["processTime"]) + SHUTDOWN_MARGIN_SECONDS,
        "app_security": _security(APP_USER_ID, read_only_root=True),
        "kafka_security": _security(KAFKA_IMAGE_USER_ID, read_only_root=False),
        "kafka_tool_security": _security(KAFKA_IMAGE_USER_ID, read_only_root=True),
        "kafka_client_port": KAFKA_CLIENT_PORT,
    }
