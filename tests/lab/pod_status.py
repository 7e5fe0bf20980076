"""What the pod backer writes into a backed pod's status: the kubelet's part of the API, for one
container. Each function returns the `status` of a strategic merge patch."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.pod_spec import LOOPBACK, Launch


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class BackedPod:
    namespace: str
    name: str
    container: str
    image: str
    launch: Launch
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: str
    restart_policy: str
    ready: bool = False
    successes: int = 0
    failures: int = 0
    next_probe: float = 0.0
    stop_deadline: float | None = None
    exit_code: int | None = None


def condition(kind: str, status: bool, reason: str = "") -> dict[str, Any]:
    entry = {"type": kind, "status": "True" if status else "False", "lastTransitionTime": now_rfc3339()}
    if reason:
        entry["reason"] = reason
    return entry


def container_status(backed: BackedPod, finished_at: str = "") -> dict[str, Any]:
    """The whole entry: the API treats containerStatuses as one atomic list, so every patch carries
    it complete (a partial entry would replace the list)."""
    state: dict[str, Any] = {"running": {"startedAt": backed.started_at}}
    if backed.exit_code is not None:
        reason = "Completed" if backed.exit_code == 0 else "Error"
        state = {
            "terminated": {
                "exitCode": backed.exit_code,
                "reason": reason,
                "startedAt": backed.started_at,
                "finishedAt": finished_at or now_rfc3339(),
            }
        }
    return {
        "name": backed.container,
        "image": backed.image,
        "imageID": "",
        "containerID": f"lab://{backed.process.pid}",
        "ready": backed.ready and backed.exit_code is None,
        "started": backed.exit_code is None,
        "restartCount": 0,
        "state": state,
    }


def running_status(backed: BackedPod) -> dict[str, Any]:
    address = [{"ip": LOOPBACK}]
    return {
        "phase": "Running",
        "hostIP": LOOPBACK,
        "hostIPs": address,
        "podIP": LOOPBACK,
        "podIPs": address,
        "startTime": backed.started_at,
        "conditions": [
            condition("PodReadyToStartContainers", True),
            condition("Initialized", True),
            condition("ContainersReady", backed.ready),
            condition("Ready", backed.ready),
        ],
        "containerStatuses": [container_status(backed)],
    }


def readiness_status(backed: BackedPod) -> dict[str, Any]:
    return {
        "conditions": [condition("ContainersReady", backed.ready), condition("Ready", backed.ready)],
        "containerStatuses": [container_status(backed)],
    }


def terminated_status(backed: BackedPod) -> dict[str, Any]:
    """Exit 0 of a pod that is not restarted (Never/OnFailure) succeeded; anything else failed."""
    succeeded = backed.exit_code == 0 and backed.restart_policy != "Always"
    reason = "PodCompleted" if succeeded else "PodFailed"
    return {
        "phase": "Succeeded" if succeeded else "Failed",
        "conditions": [condition("ContainersReady", False, reason), condition("Ready", False, reason)],
        "containerStatuses": [container_status(backed)],
    }


def waiting_status(pod: Mapping[str, Any], reason: str, message: str) -> dict[str, Any]:
    container = pod["spec"]["containers"][0]
    return {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": message}},
            }
        ],
    }
