"""The lab's kubelet for real pods: every pod on the KWOK node whose first container runs one of the
backed images (`lagscale-consumer`, `lagscale-producer`; any registry and tag) gets a real local
process, started with what the container would get (see pod_spec). KWOK's pod stages skip these pods
(scripts/k8s adds the same image rule to their selectors), so this process alone writes their status:

* start: phase Running, containerStatuses running; Ready/ContainersReady False until the readiness
  probe (the manifest's httpGet, period and thresholds) passes against the process's port.
* the process exits: phase Failed (Succeeded for exit 0 with restartPolicy Never/OnFailure); it is
  not restarted (a kubelet would restart it under restartPolicy Always; the ReplicaSet replaces the
  failed pod instead).
* the pod gets a deletionTimestamp: SIGTERM, then SIGKILL after the pod's grace period
  (deletionGracePeriodSeconds, else terminationGracePeriodSeconds), then the final delete with
  grace 0, as a kubelet does.

Run by `scripts/lab up`; by hand: `python tests/lab/pod_backer.py --help`. Each process's output goes
to STATE/pods/<namespace>/<pod>.log; STATE/pods.json lists the running ones.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config

# Runs as a script (python tests/lab/pod_backer.py): `lab` must be importable then too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab.pod_spec import LOOPBACK, ConfigError, backed_image, container_launch, image_defaults
from lab.pod_status import (
    BackedPod,
    now_rfc3339,
    readiness_status,
    running_status,
    terminated_status,
    waiting_status,
)

SYNC_INTERVAL_S = 0.25
STRATEGIC = "application/strategic-merge-patch+json"


def log(event: str, **fields: object) -> None:
    parts = " ".join(f"{key}={value}" for key, value in fields.items())
    print(f"ts={datetime.now(UTC).isoformat(timespec='milliseconds')} event={event} {parts}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


class PodBacker:
    def __init__(
        self, api: client.ApiClient, node: str, images: frozenset[str], state: Path, env: Mapping[str, str]
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.node = node
        self.images = images
        self.state = state
        self.extra_env = dict(env)
        self.pods: dict[str, BackedPod] = {}  # by pod uid
        self.config_errors: dict[str, str] = {}

    # ------------------------------------------------------------------ reconcile

    def sync(self) -> None:
        listed = self.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={self.node}", _preload_content=False
        )
        seen = set()
        for pod in json.loads(listed.data)["items"]:
            image = backed_image(pod, self.images)
            if image is None:
                continue
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            backed = self.pods.get(uid)
            if pod["metadata"].get("deletionTimestamp"):
                self._terminate(pod, backed)
            elif backed is None:
                if pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                    self._start(pod, image)
            else:
                self._observe(backed)
        for uid in set(self.pods) - seen:  # deleted without us seeing the deletionTimestamp
            self._kill(self.pods.pop(uid), "pod_gone")
        self._write_index()

    def _start(self, pod: Mapping[str, Any], image: str) -> None:
        meta = pod["metadata"]
        uid, namespace, name = meta["uid"], meta["namespace"], meta["name"]
        try:
            launch = container_launch(pod, self._lookup, free_port, image_defaults(image))
        except ConfigError as error:
            if self.config_errors.get(uid) != str(error):
                self.config_errors[uid] = str(error)
                log("config_error", pod=f"{namespace}/{name}", error=json.dumps(str(error)))
                self._patch(namespace, name, waiting_status(pod, "CreateContainerConfigError", str(error)))
            return
        log_path = self.state / "pods" / namespace / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOSTNAME": name,
            **launch.env,
            **self.extra_env,
        }
        with log_path.open("ab") as output:
            process = subprocess.Popen(
                launch.argv,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=log_path.parent,
                start_new_session=True,  # a Ctrl+C in the lab's terminal is not a pod's SIGTERM
            )
        container = pod["spec"]["containers"][0]
        backed = BackedPod(
            namespace=namespace,
            name=name,
            container=container["name"],
            image=container["image"],
            launch=launch,
            process=process,
            log_path=log_path,
            started_at=now_rfc3339(),
            restart_policy=pod["spec"].get("restartPolicy", "Always"),
        )
        # Without a readiness probe a started container is ready at once (kubelet semantics).
        backed.ready = launch.readiness is None
        if launch.readiness:
            backed.next_probe = time.monotonic() + launch.readiness.initial_delay
        self.pods[uid] = backed
        self.config_errors.pop(uid, None)
        log("started", pod=f"{namespace}/{name}", pid=process.pid, ports=launch.ports, log=log_path)
        self._patch(namespace, name, running_status(backed))

    def _observe(self, backed: BackedPod) -> None:
        if backed.exit_code is not None:
            return
        code = backed.process.poll()
        if code is not None:
            backed.exit_code = code
            log("exited", pod=f"{backed.namespace}/{backed.name}", pid=backed.process.pid, exit_code=code)
            self._patch(backed.namespace, backed.name, terminated_status(backed))
            return
        probe = backed.launch.readiness
        if probe is None or time.monotonic() < backed.next_probe:
            return
        backed.next_probe = time.monotonic() + probe.period
        if _http_ok(probe.url, probe.timeout):
            backed.successes, backed.failures = backed.successes + 1, 0
        else:
            backed.successes, backed.failures = 0, backed.failures + 1
        ready = backed.ready
        if not ready and backed.successes >= probe.success_threshold:
            ready = True
        elif ready and backed.failures >= probe.failure_threshold:
            ready = False
        if ready != backed.ready:
            backed.ready = ready
            log("readiness", pod=f"{backed.namespace}/{backed.name}", ready=ready)
            self._patch(backed.namespace, backed.name, readiness_status(backed))

    def _terminate(self, pod: Mapping[str, Any], backed: BackedPod | None) -> None:
        meta = pod["metadata"]
        if backed is not None and backed.process.poll() is None:
            if backed.stop_deadline is None:
                grace = meta.get("deletionGracePeriodSeconds")
                grace = backed.launch.grace_seconds if grace is None else int(grace)
                backed.stop_deadline = time.monotonic() + grace
                backed.process.send_signal(signal.SIGTERM)
                log("sigterm", pod=f"{backed.namespace}/{backed.name}", pid=backed.process.pid, grace_s=grace)
            elif time.monotonic() >= backed.stop_deadline:
                self._kill(backed, "grace_period_over")
            return
        if backed is not None:
            log("stopped", pod=f"{backed.namespace}/{backed.name}", exit_code=backed.process.returncode)
        self.pods.pop(meta["uid"], None)
        try:
            # Grace 0 goes in the body: with a body, the API server ignores the query parameters.
            final = client.V1DeleteOptions(
                grace_period_seconds=0, preconditions=client.V1Preconditions(uid=meta["uid"])
            )
            self.core.delete_namespaced_pod(meta["name"], meta["namespace"], body=final)
        except client.ApiException as error:
            if error.status not in (404, 409):
                raise

    def _kill(self, backed: BackedPod, reason: str) -> None:
        if backed.process.poll() is None:
            log("sigkill", pod=f"{backed.namespace}/{backed.name}", pid=backed.process.pid, reason=reason)
            _kill_group(backed.process)

    # ------------------------------------------------------------------ API helpers

    def _lookup(self, kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
        try:
            if kind == "Secret":
                secret = self.core.read_namespaced_secret(name, namespace)
                return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}
            config_map = self.core.read_namespaced_config_map(name, namespace)
            return dict(config_map.data or {})
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def _patch(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        try:
            body = {"status": status}
            self.core.patch_namespaced_pod_status(name, namespace, body, _content_type=STRATEGIC)
        except client.ApiException as error:
            if error.status != 404:
                log("patch_failed", pod=f"{namespace}/{name}", status=error.status, reason=error.reason)

    def _write_index(self) -> None:
        entries = [
            {
                "namespace": b.namespace,
                "name": b.name,
                "pid": b.process.pid,
                "ports": b.launch.ports,
                "ready": b.ready,
                "exit_code": b.exit_code,
                "terminating": b.stop_deadline is not None,
                "log": str(b.log_path),
            }
            for b in self.pods.values()
        ]
        temporary = self.state / "pods.json.tmp"
        temporary.write_text(json.dumps(entries, indent=1))
        temporary.replace(self.state / "pods.json")

    def shutdown(self) -> None:
        """The lab goes down: SIGTERM every process, SIGKILL what is left after its grace period."""
        running = [b for b in self.pods.values() if b.process.poll() is None]
        for backed in running:
            backed.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + max([b.launch.grace_seconds for b in running] + [0])
        for backed in running:
            try:
                backed.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self._kill(backed, "lab_shutdown")
        log("shutdown", stopped=len(running))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait()


def _http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 400
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", default="kwok-node-0")
    parser.add_argument("--images", default="lagscale-consumer lagscale-producer", help="space-separated")
    parser.add_argument("--state", required=True, type=Path, help="directory for logs and pods.json")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="for every process")
    options = parser.parse_args(argv)
    options.state.mkdir(parents=True, exist_ok=True)
    extra_env = dict(item.split("=", 1) for item in options.env)
    backer = PodBacker(
        config.new_client_from_config(options.kubeconfig),
        options.node,
        frozenset(options.images.split()),
        options.state,
        extra_env,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backer.sync()
    (options.state / "pod-backer.ready").write_text(str(os.getpid()))
    log("ready", node=options.node, images=",".join(sorted(backer.images)), env=",".join(extra_env))
    while not stopping:
        time.sleep(SYNC_INTERVAL_S)
        try:
            backer.sync()
        except (client.ApiException, OSError) as error:  # the API server restarting: try again next round
            log("sync_failed", error=json.dumps(str(error)[:300]))
    backer.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
