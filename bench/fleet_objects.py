"""The objects of the fleet benchmark: on the broker, N topics of 6 to 12 partitions with records,
and one consumer group per topic that committed behind the log end; on the control plane, KWOK
nodes, N Deployments and the N ScaledObjects, with a `kafka` or an `external` trigger.

Object i is `fleet-NNNN` everywhere (topic, group, Deployment, ScaledObject); its lag is fixed by
`lag_of(i, partition)`, so both runs, and any later run, see exactly the same offsets.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kubernetes import client

RECORDS_PER_PARTITION = 20
LAG_THRESHOLD = 5
NAMESPACE = "lagscale-fleet"
PODS_PER_NODE = 500
_TIMEOUT_S = 120.0


def name_of(index: int) -> str:
    return f"fleet-{index:04d}"


def partitions_of(index: int) -> int:
    return 6 + index % 7


def lag_of(index: int, partition: int) -> int:
    """0..10 records behind, varying with the object and the partition."""
    return (index * 7 + partition * 3) % 11


# -- the broker -----------------------------------------------------------------------------------


def ensure_topics(bootstrap: str, count: int) -> None:
    """Topics, records and committed offsets of objects 0..count-1 (missing topics are created)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=30).topics)
    missing = [index for index in range(count) if name_of(index) not in existing]
    for chunk in _chunks(missing, 100):
        futures = admin.create_topics(
            [NewTopic(name_of(index), partitions_of(index), 1) for index in chunk], operation_timeout=60
        )
        for future in futures.values():
            future.result(timeout=_TIMEOUT_S)
    if missing:
        _wait(lambda: _leaders_ready(admin, missing), "partition leaders of the new topics")
        _produce(bootstrap, missing)
    _commit(admin, range(count))


def _leaders_ready(admin: AdminClient, indexes: list[int]) -> bool:
    topics = admin.list_topics(timeout=30).topics
    for index in indexes:
        topic = topics.get(name_of(index))
        if topic is None or len(topic.partitions) != partitions_of(index):
            return False
        if any(partition.leader < 0 for partition in topic.partitions.values()):
            return False
    return True


def _produce(bootstrap: str, indexes: list[int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for index in indexes:
        for partition in range(partitions_of(index)):
            for record in range(RECORDS_PER_PARTITION):
                while True:
                    try:
                        producer.produce(name_of(index), value=b"%d" % record, partition=partition)
                        break
                    except BufferError:
                        producer.poll(0.1)
    if producer.flush(_TIMEOUT_S) != 0:
        raise SystemExit("the fleet's records were not all acknowledged")


def _commit(admin: AdminClient, indexes: Iterable[int]) -> None:
    """Each group commits RECORDS_PER_PARTITION - lag_of(i, p) on every partition of its topic."""
    futures = []
    for index in indexes:
        offsets = [
            TopicPartition(name_of(index), partition, RECORDS_PER_PARTITION - lag_of(index, partition))
            for partition in range(partitions_of(index))
        ]
        request = ConsumerGroupTopicPartitions(name_of(index), offsets)
        futures.append(admin.alter_consumer_group_offsets([request])[name_of(index)])
    for future in futures:
        future.result(timeout=_TIMEOUT_S)


def delete_topics(bootstrap: str, count: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for chunk in _chunks(list(range(count)), 200):
        for future in admin.delete_topics([name_of(index) for index in chunk]).values():
            with contextlib.suppress(KafkaException):  # already gone
                future.result(timeout=_TIMEOUT_S)


# -- the control plane ----------------------------------------------------------------------------


def ensure_cluster_objects(api: client.ApiClient, count: int) -> None:
    """The namespace, enough KWOK nodes for one pod per object, and the Deployments (0 replicas)."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    if NAMESPACE not in {ns.metadata.name for ns in core.list_namespace().items}:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    nodes = {node.metadata.name for node in core.list_node().items}
    for number in range(-(-count // PODS_PER_NODE)):
        if f"kwok-fleet-{number}" not in nodes:
            core.create_node(_kwok_node(f"kwok-fleet-{number}"))
    existing = {d.metadata.name for d in apps.list_namespaced_deployment(NAMESPACE).items}
    for index in range(count):
        if name_of(index) not in existing:
            apps.create_namespaced_deployment(NAMESPACE, _deployment(name_of(index)))
    scale_to_zero(api, count)


def scale_to_zero(api: client.ApiClient, count: int) -> None:
    """Every Deployment back at 0 replicas, so each run starts from the same state."""
    apps = client.AppsV1Api(api)
    running = {d.metadata.name for d in apps.list_namespaced_deployment(NAMESPACE).items if d.spec.replicas}
    for index in range(count):
        if name_of(index) in running:
            apps.patch_namespaced_deployment_scale(name_of(index), NAMESPACE, {"spec": {"replicas": 0}})


def _kwok_node(name: str) -> client.V1Node:
    capacity = {"cpu": "256", "memory": "1Ti", "pods": str(PODS_PER_NODE)}
    return client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name,
            annotations={"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            labels={"kubernetes.io/hostname": name, "type": "kwok"},
        ),
        status=client.V1NodeStatus(allocatable=capacity, capacity=capacity),
    )


def _deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(name="consumer", image="registry.invalid/lagscale/consumer:bench")
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=0,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels), spec=client.V1PodSpec(containers=[container])
            ),
        ),
    )


def trigger_metadata(index: int, bootstrap: str) -> dict[str, str]:
    """The `kafka` trigger's metadata of object i (the `external` trigger adds scalerAddress)."""
    return {
        "bootstrapServers": bootstrap,
        "consumerGroup": name_of(index),
        "topic": name_of(index),
        "lagThreshold": str(LAG_THRESHOLD),
        "offsetResetPolicy": "latest",
    }


def scaled_object(index: int, bootstrap: str, polling_interval: int, scaler_address: str) -> dict[str, Any]:
    """ScaledObject i: `type: kafka`, or `type: external` at `scaler_address` when one is given."""
    metadata = trigger_metadata(index, bootstrap)
    if scaler_address:
        metadata["scalerAddress"] = scaler_address
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name_of(index), "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"name": name_of(index)},
            "pollingInterval": polling_interval,
            "cooldownPeriod": 300,
            "minReplicaCount": 0,
            "maxReplicaCount": 20,
            "triggers": [{"type": "external" if scaler_address else "kafka", "metadata": metadata}],
        },
    }


def create_scaled_objects(api: client.ApiClient, objects: list[dict[str, Any]]) -> None:
    custom = client.CustomObjectsApi(api)
    for body in objects:
        custom.create_namespaced_custom_object("keda.sh", "v1alpha1", NAMESPACE, "scaledobjects", body)


def delete_scaled_objects(api: client.ApiClient) -> None:
    """Delete every ScaledObject (KEDA, still running, removes its finalizer and HPA) and wait."""
    custom = client.CustomObjectsApi(api)
    custom.delete_collection_namespaced_custom_object("keda.sh", "v1alpha1", NAMESPACE, "scaledobjects")
    autoscaling = client.AutoscalingV2Api(api)

    def gone() -> bool:
        left = custom.list_namespaced_custom_object("keda.sh", "v1alpha1", NAMESPACE, "scaledobjects")
        return (
            not left["items"] and not autoscaling.list_namespaced_horizontal_pod_autoscaler(NAMESPACE).items
        )

    _wait(gone, "the ScaledObjects and their HPAs to be deleted", timeout=600)


# -- helpers --------------------------------------------------------------------------------------


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _wait(condition: Callable[[], bool], what: str, timeout: float = _TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)
