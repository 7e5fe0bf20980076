"""The control plane `scripts/k8s up` starts is what the other k8s tests rely on."""

from __future__ import annotations

import time
from typing import Any

import pytest
from k8s_helpers import Kube, make_deployment, run_k8s_script, wait_until
from kubernetes import client

pytestmark = pytest.mark.k8s


def test_api_server_reports_the_stamped_release(kube: Kube) -> None:
    version = client.VersionApi(kube.api_client).get_code()
    assert version.git_version.startswith("v1.35."), version.git_version
    assert (version.major, version.minor) == ("1", "35")


def test_kwok_node_is_ready(kube: Kube) -> None:
    node = kube.core.read_node("kwok-node-0")
    ready = [c for c in node.status.conditions or [] if c.type == "Ready"]
    assert ready
    assert ready[0].status == "True"


@pytest.mark.parametrize("crd", ["scaledobjects", "triggerauthentications", "clustertriggerauthentications"])
def test_keda_crds_are_established(kube: Kube, crd: str) -> None:
    extensions = client.ApiextensionsV1Api(kube.api_client)
    definition = extensions.read_custom_resource_definition(f"{crd}.keda.sh")
    conditions = {c.type: c.status for c in definition.status.conditions or []}
    assert conditions.get("Established") == "True"


def test_rbac_is_enforced_for_service_accounts(kube: Kube, namespace: str) -> None:
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:nobody",
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb="patch", group="apps", resource="deployments"
            ),
        )
    )
    result = client.AuthorizationV1Api(kube.api_client).create_subject_access_review(review)
    assert result.status.allowed is False


def _hpa_conditions(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    autoscaling = client.AutoscalingV2Api(kube.api_client)
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler(name, namespace)
    conditions = {c.type: c for c in hpa.status.conditions or []}
    return conditions or None


def test_hpa_controller_runs_and_reports_missing_external_metrics(kube: Kube, namespace: str) -> None:
    make_deployment(kube, namespace, "consumer", replicas=1)
    metric = client.V2MetricSpec(
        type="External",
        external=client.V2ExternalMetricSource(
            metric=client.V2MetricIdentifier(name="s0-kafka-topic"),
            target=client.V2MetricTarget(type="AverageValue", average_value="5"),
        ),
    )
    hpa = client.V2HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="consumer"),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name="consumer"
            ),
            min_replicas=1,
            max_replicas=5,
            metrics=[metric],
        ),
    )
    client.AutoscalingV2Api(kube.api_client).create_namespaced_horizontal_pod_autoscaler(namespace, hpa)
    conditions = wait_until(
        "the HPA controller to report ScalingActive",
        lambda: (c := _hpa_conditions(kube, namespace, "consumer")) and "ScalingActive" in c and c,
        timeout=90,
    )
    scaling_active = conditions["ScalingActive"]
    assert scaling_active.status == "False"
    assert scaling_active.reason == "FailedGetExternalMetric"


def test_second_up_reuses_the_running_plane_within_seconds(kube: Kube) -> None:
    if not kube.managed:
        pytest.fail("this test needs the plane from scripts/k8s; unset LAGSCALE_KUBECONFIG")
    started = time.monotonic()
    result = run_k8s_script("up")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"KUBECONFIG={kube.kubeconfig}"
    assert elapsed < 20, f"second up took {elapsed:.1f}s"
    env = run_k8s_script("env")
    assert f"KUBECONFIG={kube.kubeconfig}" in env.stdout.splitlines()
