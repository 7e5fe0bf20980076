"""Fixtures for tests against the real local control plane started by `scripts/k8s`.

`LAGSCALE_KUBECONFIG=<path>` (or `=1` to take `$KUBECONFIG`) points the tests at a cluster that is
already up; otherwise the session runs `scripts/k8s up` (seconds when it is running already, and
then it is left running) and `scripts/k8s down` at the end if it was the one that started it.
A control plane that fails to start is a test ERROR, never a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_helpers import Kube, run_k8s_script
from kubernetes import client

from scaler.targets.kubernetes import api_client_from_kubeconfig

BUILD_TIMEOUT_SECONDS = 3600
_build_failure: list[str] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the binaries (minutes when cold) here: pytest-timeout covers fixtures, not this hook."""
    wanted = any("kube" in getattr(item, "fixturenames", ()) for item in session.items)
    if not wanted or _external_kubeconfig():
        return
    built = run_k8s_script("build", timeout=BUILD_TIMEOUT_SECONDS)
    if built.returncode != 0:
        _build_failure.append(f"scripts/k8s build failed (rc={built.returncode}):\n{built.stderr[-3000:]}")


def _external_kubeconfig() -> str | None:
    value = os.environ.get("LAGSCALE_KUBECONFIG", "")
    if not value:
        return None
    if value == "1":
        return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return value


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    external = _external_kubeconfig()
    if external:
        yield Kube(external, api_client_from_kubeconfig(external), managed=False)
        return
    if _build_failure:
        pytest.fail(_build_failure[0])
    was_running = run_k8s_script("status").returncode == 0
    started = run_k8s_script("up", timeout=900)  # may wait for another session's up/down
    if started.returncode != 0:
        pytest.fail(f"scripts/k8s up failed (rc={started.returncode}):\n{started.stderr[-3000:]}")
    kubeconfig = started.stdout.strip().splitlines()[-1].removeprefix("KUBECONFIG=")
    try:
        yield Kube(kubeconfig, api_client_from_kubeconfig(kubeconfig), managed=True)
    finally:
        if not was_running:
            run_k8s_script("down")


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (deletion is not awaited)."""
    name = f"lagscale-test-{secrets.token_hex(3)}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        kube.core.delete_namespace(name)
