"""Helpers shared by the k8s tests (a module of its own: `conftest` names clash across tiers)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from kubernetes import client
from lab.lab_env import LabError, wait_for

REPO = Path(__file__).resolve().parents[1]
K8S_SCRIPT = REPO / "scripts" / "k8s"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Kube:
    kubeconfig: str
    api_client: client.ApiClient
    managed: bool  # True when this run owns the control plane started by scripts/k8s

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)


def wait_until(what: str, check: Callable[[], _T | None], timeout: float = 60.0) -> _T:
    """Poll `check` until it returns something truthy; fail the test naming `what` on timeout."""
    try:
        return wait_for(what, check, timeout)
    except LabError as error:
        pytest.fail(str(error))


def run_k8s_script(verb: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(K8S_SCRIPT), verb], capture_output=True, text=True, timeout=timeout, check=False
    )


def make_deployment(kube: Kube, namespace: str, name: str, replicas: int = 0) -> None:
    labels = {"app": name}
    container = client.V1Container(name="main", image="registry.invalid/lagscale/consumer:test")
    kube.apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1DeploymentSpec(
                replicas=replicas,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[container]),
                ),
            ),
        ),
    )
