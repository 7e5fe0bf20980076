"""A Deployment or StatefulSet as a `ReplicaTarget`, sized through its `scale` subresource."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

import urllib3.exceptions
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kafkakit.errors import ConfigError, Problem
from scaler.errors import TargetError

WorkloadKind = Literal["Deployment", "StatefulSet"]

# The namespaced Role the scaler needs; the manifests render it verbatim (rules of a rbac/v1 Role).
SCALER_ROLE_RULES: Final[list[dict[str, list[str]]]] = [
    {
        "apiGroups": ["apps"],
        "resources": ["deployments/scale", "statefulsets/scale"],
        "verbs": ["get", "patch"],
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get"]},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["list"]},
    {"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "verbs": ["list"]},
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update"],
    },
]

_RETRIABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})
_Result = TypeVar("_Result")


def permission_denied(verb: str, resource: str, namespace: str) -> TargetError:
    """The API server answered 403: the scaler's identity lacks a verb on a resource."""
    return TargetError(
        f"forbidden: cannot {verb} {resource} in namespace {namespace!r}; bind a Role with "
        "scaler.targets.kubernetes.SCALER_ROLE_RULES (get/patch deployments/scale, statefulsets/scale, "
        "list horizontalpodautoscalers and keda.sh scaledobjects, get/create/update leases) "
        "to the scaler's ServiceAccount",
        retriable=False,
    )


def owned_by(target: str, owner: str) -> TargetError:
    """Another autoscaler (an HPA or a KEDA ScaledObject) already sizes the target."""
    return TargetError(
        f"{target} is already scaled by {owner}; delete that object or point lagscale at a "
        "workload nothing else autoscales (two autoscalers would fight over replicas)",
        retriable=False,
    )


def call_api(
    verb: str,
    resource: str,
    namespace: str,
    request: Callable[[], _Result],
    *,
    object_name: str = "",
) -> _Result:
    """Run one API request, turning client failures into `TargetError`s that say what to change."""
    try:
        return request()
    except ApiException as error:
        if error.status == 403:
            raise permission_denied(verb, resource, namespace) from error
        if error.status == 401:
            message = "unauthorized: the API server rejected the credentials; renew the token"
            raise TargetError(message, retriable=False) from error
        if error.status == 404:
            kind = resource.split("/", maxsplit=1)[0].removesuffix("s")
            message = f"{kind} {object_name!r} not found in namespace {namespace!r}; check the name"
            raise TargetError(message, retriable=False) from error
        message = f"{verb} {resource} failed: HTTP {error.status} {error.reason}"
        raise TargetError(message, retriable=error.status in _RETRIABLE_STATUS) from error
    except urllib3.exceptions.HTTPError as error:
        message = f"cannot reach the Kubernetes API server ({type(error).__name__}); is it up?"
        raise TargetError(message, retriable=True) from error


def api_client_from_kubeconfig(path: str | None = None) -> client.ApiClient:
    """A client from `path`; without a path: in-cluster config in a pod, else $KUBECONFIG/~/.kube."""
    configuration = client.Configuration()
    try:
        if path is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, client_configuration=configuration
            )
    except Exception as error:  # any way a kubeconfig can be unusable: missing, not YAML, wrong shape
        where = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
        detail = " ".join(str(error).split()) or type(error).__name__
        message = f"cannot load the Kubernetes config {where} ({detail}): fix it, or set KUBECONFIG"
        raise ConfigError(Problem("--kubeconfig", message)) from None
    return client.ApiClient(configuration)


class KubernetesTarget:
    """Reads `spec.replicas` and writes replicas via the scale subresource (what HPA/KEDA do too)."""

    def __init__(self, kind: WorkloadKind, name: str, namespace: str, api_client: client.ApiClient) -> None:
        if kind not in ("Deployment", "StatefulSet"):
            message = f"unsupported target kind {kind!r}; use Deployment or StatefulSet"
            raise TargetError(message, retriable=False)
        self.kind: WorkloadKind = kind
        self.workload_name = name
        self.namespace = namespace
        self._apps = client.AppsV1Api(api_client)
        self._autoscaling = client.AutoscalingV2Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)

    @classmethod
    def from_kubeconfig(
        cls, kind: WorkloadKind, name: str, namespace: str, kubeconfig: str | None = None
    ) -> KubernetesTarget:
        return cls(kind, name, namespace, api_client_from_kubeconfig(kubeconfig))

    @property
    def name(self) -> str:
        return f"{self.kind.lower()}/{self.namespace}/{self.workload_name}"

    @property
    def _scale_resource(self) -> str:
        return "deployments/scale" if self.kind == "Deployment" else "statefulsets/scale"

    def current_replicas(self) -> int:
        if self.kind == "Deployment":
            read = self._apps.read_namespaced_deployment_scale
        else:
            read = self._apps.read_namespaced_stateful_set_scale
        scale = call_api(
            "get",
            self._scale_resource,
            self.namespace,
            lambda: read(self.workload_name, self.namespace),
            object_name=self.workload_name,
        )
        return int(scale.spec.replicas or 0) if scale.spec else 0

    def set_replicas(self, replicas: int) -> None:
        if replicas < 0:
            raise TargetError(f"replicas must be >= 0, got {replicas}", retriable=False)
        if self.kind == "Deployment":
            patch = self._apps.patch_namespaced_deployment_scale
        else:
            patch = self._apps.patch_namespaced_stateful_set_scale
        body = {"spec": {"replicas": replicas}}
        call_api(
            "patch",
            self._scale_resource,
            self.namespace,
            lambda: patch(self.workload_name, self.namespace, body),
            object_name=self.workload_name,
        )

    def check_not_owned(self) -> None:
        """Refuse a target that a KEDA ScaledObject or an HPA already scales."""
        for scaled_object in self._scaled_objects():
            ref = scaled_object.get("spec", {}).get("scaleTargetRef", {})
            if ref.get("name") == self.workload_name and ref.get("kind", "Deployment") == self.kind:
                owner = f"ScaledObject {self.namespace}/{scaled_object['metadata']['name']}"
                raise owned_by(self.name, owner)
        hpas = call_api(
            "list",
            "horizontalpodautoscalers.autoscaling",
            self.namespace,
            lambda: self._autoscaling.list_namespaced_horizontal_pod_autoscaler(self.namespace),
        )
        for hpa in hpas.items:
            ref = hpa.spec.scale_target_ref
            if ref.name == self.workload_name and ref.kind == self.kind:
                hpa_name = hpa.metadata.name if hpa.metadata else "?"
                owner = f"HorizontalPodAutoscaler {self.namespace}/{hpa_name}"
                raise owned_by(self.name, owner)

    def _scaled_objects(self) -> list[dict[str, Any]]:
        def list_them() -> dict[str, Any]:
            try:
                result: Any = self._custom.list_namespaced_custom_object(
                    "keda.sh", "v1alpha1", self.namespace, "scaledobjects"
                )
            except ApiException as error:
                if error.status == 404:  # KEDA's CRDs are not installed: nothing can own the target
                    return {"items": []}
                raise
            return dict(result)

        listed = call_api("list", "scaledobjects.keda.sh", self.namespace, list_them)
        items: list[dict[str, Any]] = listed.get("items", [])
        return items
