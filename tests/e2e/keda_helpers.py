"""Shared by the KEDA e2e tests: the real KEDA operator (scripts/keda) as a session fixture, and
small steps on the control plane (apply, read what KEDA did); commit and produce are in
`offsets_helpers`.

Test modules import `keda_operator` to use it as a fixture (an import, since the e2e tier has no
conftest of its own).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from k8s_helpers import Kube
from kubernetes import client
from lab.lab_env import LabEnv, LabError

from scaler.cli.lag import lag

REPO = Path(__file__).resolve().parents[2]
# The kubectl that scripts/k8s built; run-tests exports LAGSCALE_K8S_BIN from its env file.
_K8S_BIN = os.environ.get("LAGSCALE_K8S_BIN") or (
    Path(os.environ.get("LAGSCALE_CACHE", Path.home() / ".cache/lagscale"))
    / f"k8s-{os.environ.get('LAGSCALE_K8S_VERSION', '1.35.4')}/bin"
)
KUBECTL = Path(_K8S_BIN) / "kubectl"
KEDA_METRICS_URL = f"http://127.0.0.1:{os.environ.get('KEDA_METRICS_PORT', '18080')}/metrics"
KEDA_START_TIMEOUT_S = 3600  # the first ever run builds the operator (~9 min cold)


@pytest.fixture(scope="session")
def keda_operator(kube: Kube) -> Iterator[str]:
    """Start the operator once (building it on the first ever run); yields its metrics URL.
    Stops it at the end only if this session started it."""
    env = {**os.environ, "KUBECONFIG": kube.kubeconfig}
    was_running = subprocess.run([REPO / "scripts/keda", "status"], env=env, check=False).returncode == 0
    started = subprocess.run(
        [REPO / "scripts/keda", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=KEDA_START_TIMEOUT_S,
        check=False,
    )
    if started.returncode != 0:
        pytest.fail(f"scripts/keda up failed:\n{started.stderr[-3000:]}")
    try:
        yield KEDA_METRICS_URL
    finally:
        if not was_running:
            subprocess.run([REPO / "scripts/keda", "down"], env=env, check=False)


@pytest.fixture(scope="session")
def lab_env() -> LabEnv:
    """The running lab's settings (scripts/lab exports them); outside the lab: a failure saying how
    to run inside it, never a skip."""
    try:
        return LabEnv.from_environ()
    except LabError as error:
        pytest.fail(str(error))


def apply_manifests(kube: Kube, manifests_yaml: str) -> None:
    subprocess.run(
        [KUBECTL, "--kubeconfig", kube.kubeconfig, "apply", "--server-side", "-f", "-"],
        input=manifests_yaml,
        text=True,
        check=True,
        capture_output=True,
    )


def keda_metric(metrics_url: str, namespace: str, scaled_object: str) -> float | None:
    """The operator's `keda_scaler_metrics_value` for one ScaledObject: what the HPA would be fed."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    wanted = ("keda_scaler_metrics_value{", f'namespace="{namespace}"', f'scaledObject="{scaled_object}"')
    for line in text.splitlines():
        if line.startswith(wanted[0]) and all(part in line for part in wanted[1:]):
            return float(line.rsplit(" ", 1)[1])
    return None


def replicas(kube: Kube, namespace: str, name: str) -> int:
    return kube.apps.read_namespaced_deployment_scale(name, namespace).spec.replicas or 0


def read_hpa(api: client.AutoscalingV2Api, namespace: str, name: str) -> Any:
    """The HPA, or None while it does not exist yet."""
    try:
        return api.read_namespaced_horizontal_pod_autoscaler(name, namespace)
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def lagscale_lag_json(arguments: list[str]) -> dict[str, Any]:
    """`lagscale lag ARGUMENTS --json`: its last evaluation, as KEDA would compute it."""
    result = CliRunner().invoke(lag, [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    last: dict[str, Any] = json.loads(result.output.strip().splitlines()[-1])
    return last
