"""KubernetesTarget and LeaderElector against the real API server (+ controllers + KWOK)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from k8s_helpers import Kube, make_deployment, wait_until
from kubernetes import client

from kafkakit.errors import ConfigError
from scaler.errors import TargetError
from scaler.loop.replicas import ReplicaTarget
from scaler.targets.kubernetes import SCALER_ROLE_RULES, KubernetesTarget, api_client_from_kubeconfig
from scaler.targets.leader import LeaderElector

pytestmark = pytest.mark.k8s

T0 = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def _pods(kube: Kube, namespace: str, app: str) -> list[client.V1Pod]:
    return list(kube.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items)


def _running_pods(kube: Kube, namespace: str, app: str) -> int:
    return sum(1 for p in _pods(kube, namespace, app) if p.status and p.status.phase == "Running")


def test_scales_deployment_0_to_3_to_0_through_the_scale_subresource(kube: Kube, namespace: str) -> None:
    make_deployment(kube, namespace, "consumer", replicas=0)
    target: ReplicaTarget = KubernetesTarget("Deployment", "consumer", namespace, kube.api_client)
    assert target.name == f"deployment/{namespace}/consumer"
    assert target.current_replicas() == 0

    target.set_replicas(3)
    assert target.current_replicas() == 3
    replica_sets = wait_until(
        "the controller manager to create a ReplicaSet",
        lambda: kube.apps.list_namespaced_replica_set(namespace).items,
    )
    assert replica_sets[0].metadata.owner_references[0].name == "consumer"
    wait_until(
        "3 pods Running on the KWOK node",
        lambda: _running_pods(kube, namespace, "consumer") == 3,
        timeout=90,
    )
    assert {p.spec.node_name for p in _pods(kube, namespace, "consumer")} == {"kwok-node-0"}

    target.set_replicas(0)
    assert target.current_replicas() == 0
    wait_until("all pods gone", lambda: not _pods(kube, namespace, "consumer"), timeout=90)


def test_scales_a_statefulset(kube: Kube, namespace: str) -> None:
    labels = {"app": "worker"}
    kube.apps.create_namespaced_stateful_set(
        namespace,
        client.V1StatefulSet(
            metadata=client.V1ObjectMeta(name="worker"),
            spec=client.V1StatefulSetSpec(
                replicas=0,
                service_name="worker",
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="main", image="registry.invalid/w")]
                    ),
                ),
            ),
        ),
    )
    target = KubernetesTarget("StatefulSet", "worker", namespace, kube.api_client)
    target.set_replicas(2)
    assert target.current_replicas() == 2
    stateful_set = kube.apps.read_namespaced_stateful_set("worker", namespace)
    assert stateful_set.spec.replicas == 2
    wait_until("2 pods Running", lambda: _running_pods(kube, namespace, "worker") == 2, timeout=90)


def test_missing_target_is_a_clear_non_retriable_error(kube: Kube, namespace: str) -> None:
    target = KubernetesTarget("Deployment", "absent", namespace, kube.api_client)
    with pytest.raises(TargetError, match="deployment 'absent' not found") as caught:
        target.current_replicas()
    assert caught.value.retriable is False
    with pytest.raises(TargetError, match="replicas must be >= 0"):
        target.set_replicas(-1)


def test_from_kubeconfig_reads_the_file_and_names_a_bad_one(kube: Kube, tmp_path: Path) -> None:
    target = KubernetesTarget.from_kubeconfig("Deployment", "x", "default", kube.kubeconfig)
    with pytest.raises(TargetError, match="not found"):
        target.current_replicas()  # the request reached the API server: the config was used
    missing, not_yaml = tmp_path / "nope.yaml", tmp_path / "bad.yaml"
    not_yaml.write_text("not: [yaml")
    for bad in (missing, not_yaml):  # a typo in a setting, not a target failure
        with pytest.raises(ConfigError, match=f"--kubeconfig: cannot load the Kubernetes config {bad}"):
            api_client_from_kubeconfig(str(bad))


# ---------------------------------------------------------------------------- RBAC


def _service_account_client(kube: Kube, namespace: str, account: str) -> client.ApiClient:
    """A client that authenticates as `account` with a short-lived TokenRequest token."""
    kube.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=account))
    )
    token_request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    token = kube.core.create_namespaced_service_account_token(account, namespace, token_request)
    admin = kube.api_client.configuration
    configuration = client.Configuration(host=admin.host)
    configuration.ssl_ca_cert = admin.ssl_ca_cert
    configuration.api_key = {"BearerToken": f"Bearer {token.status.token}"}
    return client.ApiClient(configuration)


def _grant(kube: Kube, namespace: str, account: str, rules: list[dict[str, list[str]]]) -> None:
    rbac = client.RbacAuthorizationV1Api(kube.api_client)
    role_name = f"{account}-role"
    rbac.create_namespaced_role(
        namespace,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role_name},
            "rules": rules,
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{account}-binding"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    )


def _eventually(call: Callable[[], object]) -> None:
    """RBAC changes reach the authorizer's cache asynchronously: retry 403s briefly."""

    def attempt() -> bool:
        try:
            call()
        except TargetError:
            return False
        return True

    wait_until("the new RoleBinding to take effect", attempt, timeout=30)


def test_service_account_with_the_scaler_role_can_scale(kube: Kube, namespace: str) -> None:
    make_deployment(kube, namespace, "consumer", replicas=0)
    _grant(kube, namespace, "scaler", SCALER_ROLE_RULES)
    as_scaler = _service_account_client(kube, namespace, "scaler")
    target = KubernetesTarget("Deployment", "consumer", namespace, as_scaler)

    _eventually(lambda: target.set_replicas(2))
    assert target.current_replicas() == 2
    target.check_not_owned()  # list on HPAs and ScaledObjects is allowed too
    elector = LeaderElector("lagscale-scaler", namespace, "pod-a", as_scaler)
    assert elector.try_acquire_or_renew(T0)
    assert elector.try_acquire_or_renew(T0 + timedelta(seconds=5))


def test_service_account_without_the_role_gets_a_permission_error(kube: Kube, namespace: str) -> None:
    make_deployment(kube, namespace, "consumer", replicas=0)
    as_nobody = _service_account_client(kube, namespace, "nobody")
    target = KubernetesTarget("Deployment", "consumer", namespace, as_nobody)

    with pytest.raises(TargetError) as caught:
        target.current_replicas()
    message = str(caught.value)
    assert "cannot get deployments/scale" in message
    assert namespace in message
    assert "SCALER_ROLE_RULES" in message
    assert caught.value.retriable is False
    with pytest.raises(TargetError, match="cannot patch deployments/scale"):
        target.set_replicas(1)
    with pytest.raises(TargetError, match=r"cannot list scaledobjects\.keda\.sh"):
        target.check_not_owned()


def test_read_only_role_names_the_missing_patch_verb(kube: Kube, namespace: str) -> None:
    make_deployment(kube, namespace, "consumer", replicas=0)
    read_only = [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]}]
    _grant(kube, namespace, "reader", read_only)
    target = KubernetesTarget(
        "Deployment", "consumer", namespace, _service_account_client(kube, namespace, "reader")
    )
    _eventually(target.current_replicas)
    with pytest.raises(TargetError, match="cannot patch deployments/scale"):
        target.set_replicas(1)


# ---------------------------------------------------------------------------- ownership


def test_refuses_a_target_that_an_hpa_scales(kube: Kube, namespace: str) -> None:
    make_deployment(kube, namespace, "consumer")
    make_deployment(kube, namespace, "other")
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "consumer-hpa"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consumer"},
            "minReplicas": 1,
            "maxReplicas": 3,
        },
    }
    client.AutoscalingV2Api(kube.api_client).create_namespaced_horizontal_pod_autoscaler(namespace, hpa)
    owned = KubernetesTarget("Deployment", "consumer", namespace, kube.api_client)
    with pytest.raises(TargetError, match=f"HorizontalPodAutoscaler {namespace}/consumer-hpa"):
        owned.check_not_owned()
    KubernetesTarget("Deployment", "other", namespace, kube.api_client).check_not_owned()
    KubernetesTarget("StatefulSet", "consumer", namespace, kube.api_client).check_not_owned()


def test_refuses_a_target_that_a_keda_scaledobject_scales(kube: Kube, namespace: str) -> None:
    make_deployment(kube, namespace, "consumer")
    scaled_object = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "consumer-so"},
        "spec": {
            "scaleTargetRef": {"name": "consumer"},
            "triggers": [
                {
                    "type": "kafka",
                    "metadata": {
                        "bootstrapServers": "127.0.0.1:9092",
                        "consumerGroup": "g",
                        "topic": "t",
                        "lagThreshold": "5",
                    },
                }
            ],
        },
    }
    client.CustomObjectsApi(kube.api_client).create_namespaced_custom_object(
        "keda.sh", "v1alpha1", namespace, "scaledobjects", scaled_object
    )
    target = KubernetesTarget("Deployment", "consumer", namespace, kube.api_client)
    with pytest.raises(TargetError, match=f"ScaledObject {namespace}/consumer-so") as caught:
        target.check_not_owned()
    assert caught.value.retriable is False


# ---------------------------------------------------------------------------- leader election


def test_only_one_elector_leads_and_the_other_takes_over_after_release(kube: Kube, namespace: str) -> None:
    first = LeaderElector("lagscale", namespace, "pod-a", kube.api_client)
    second = LeaderElector("lagscale", namespace, "pod-b", kube.api_client)

    assert first.try_acquire_or_renew(T0)
    assert not second.try_acquire_or_renew(T0 + timedelta(seconds=1))
    assert first.try_acquire_or_renew(T0 + timedelta(seconds=5))
    assert not second.try_acquire_or_renew(T0 + timedelta(seconds=20))  # renewed: not expired
    lease = client.CoordinationV1Api(kube.api_client).read_namespaced_lease("lagscale", namespace)
    assert lease.spec.holder_identity == "pod-a"

    first.release()
    assert not first.is_leader(T0 + timedelta(seconds=6))
    assert second.try_acquire_or_renew(T0 + timedelta(seconds=21))
    assert not first.try_acquire_or_renew(T0 + timedelta(seconds=22))
    lease = client.CoordinationV1Api(kube.api_client).read_namespaced_lease("lagscale", namespace)
    assert lease.spec.holder_identity == "pod-b"
    assert lease.spec.lease_transitions == 1


def test_the_other_elector_takes_over_after_the_lease_expires(kube: Kube, namespace: str) -> None:
    first = LeaderElector("lagscale", namespace, "pod-a", kube.api_client, lease_seconds=15)
    second = LeaderElector("lagscale", namespace, "pod-b", kube.api_client, lease_seconds=15)

    assert first.try_acquire_or_renew(T0)
    assert not second.try_acquire_or_renew(T0 + timedelta(seconds=1))
    assert not second.try_acquire_or_renew(T0 + timedelta(seconds=15))  # seen only 14 s ago
    assert not first.is_leader(T0 + timedelta(seconds=10))  # stops before others may take over
    assert second.try_acquire_or_renew(T0 + timedelta(seconds=16))
    assert second.is_leader(T0 + timedelta(seconds=17))
    assert not first.try_acquire_or_renew(T0 + timedelta(seconds=17))


def test_elector_accepts_whole_second_clock_readings(kube: Kube, namespace: str) -> None:
    whole_second = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    elector = LeaderElector("lagscale", namespace, "pod-a", kube.api_client)
    assert elector.try_acquire_or_renew(whole_second)
    assert elector.try_acquire_or_renew(whole_second + timedelta(seconds=5))


def test_elector_rejects_a_renew_period_not_shorter_than_the_lease(kube: Kube) -> None:
    with pytest.raises(ValueError, match="renew_seconds"):
        LeaderElector("x", "default", "me", kube.api_client, lease_seconds=5, renew_seconds=5)
