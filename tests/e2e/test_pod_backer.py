"""The lab's pod backer (tests/lab/pod_backer.py) acts as the kubelet for the consumer's pods: a real
`lagscale consume` per pod, started from the rendered Deployment (command, args, env from the Secret,
the pod name), readiness from its /healthz, SIGTERM on deletion and SIGKILL after the grace period,
and a failed pod when the process exits.

Runs inside the lab (scripts/lab run ..., or make test); outside it these tests fail and say so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keda_helpers
import pytest
import yaml
from k8s_helpers import Kube, wait_until
from lab.lab_env import LabEnv, kubectl, produce_events, render_kafka_profile
from lab.loop_settings import LoopSettings

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

lab = keda_helpers.lab_env  # the shared fixture, requested by name


def deploy_consumer(lab: LabEnv, namespace: str, topic: str, group: str, process_time: float = 0.1) -> str:
    """The rendered kafka profile's Secret and consumer Deployment (no ScaledObject: the test sizes
    the Deployment itself); returns the Deployment's name."""
    values = LoopSettings(process_time=process_time).render_values(namespace, topic, group, lab)
    objects = [doc for doc in render_kafka_profile(values) if doc["kind"] in ("Secret", "Deployment")]
    kubectl(lab, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(objects))
    (deployment,) = [doc["metadata"]["name"] for doc in objects if doc["kind"] == "Deployment"]
    return deployment


def scale(lab: LabEnv, namespace: str, deployment: str, replicas: int) -> None:
    kubectl(lab, "scale", "-n", namespace, f"deployment/{deployment}", f"--replicas={replicas}")


def backed(lab: LabEnv, namespace: str) -> list[dict[str, Any]]:
    """The backer's index of its live processes in `namespace` (STATE/pods.json)."""
    index = lab.state / "pods.json"
    entries = json.loads(index.read_text()) if index.exists() else []
    return [entry for entry in entries if entry["namespace"] == namespace]


def pods(kube: Kube, namespace: str) -> list[Any]:
    return list(kube.core.list_namespaced_pod(namespace).items)


def conditions(pod: Any) -> dict[str, str]:
    return {c.type: c.status for c in pod.status.conditions or []}


def process_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def backer_log(lab: LabEnv) -> str:
    return (lab.state / "pod-backer.log").read_text()


def test_a_consumer_pod_is_a_real_process_that_consumes_and_turns_ready(
    lab: LabEnv,
    kube: Kube,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    topic, group = make_topic("backer", partitions=2), unique_name("backer-group")
    produce_events(kafka.bootstrap, topic, 10)
    deployment = deploy_consumer(lab, namespace, topic, group)
    scale(lab, namespace, deployment, 1)

    (entry,) = wait_until("the backer to start a process for the pod", lambda: backed(lab, namespace), 60)
    (pod,) = pods(kube, namespace)
    assert entry["name"] == pod.metadata.name
    # /proc/PID/cmdline: python, .venv/bin/lagscale (the console script), then the container's args.
    command = [part.decode() for part in Path(f"/proc/{entry['pid']}/cmdline").read_bytes().split(b"\0")]
    (port,) = entry["ports"].values()
    assert command[1].endswith("/lagscale")
    assert command[2:9] == [
        "consume", "--metrics-port", str(port), "--metrics-host", "127.0.0.1", "--process-time", "0.1",
    ]  # fmt: skip
    env = process_env(entry["pid"])
    assert env["HOSTNAME"] == pod.metadata.name
    assert env["KAFKA_EVENTHUB_PASSWORD"] == kafka.sasl_password  # from the rendered Secret
    assert env["KAFKA_EVENTHUB_CONSUMER_GROUP"] == group

    # The manifest's readinessProbe (httpGet /healthz on port `metrics`, every 10 s) decides Ready.
    def ready_pod() -> Any:
        found = kube.core.read_namespaced_pod(pod.metadata.name, namespace)
        return found if conditions(found).get("Ready") == "True" else None

    ready = wait_until("the pod to turn Ready from /healthz", ready_pod, timeout=40)
    assert ready.status.phase == "Running"
    assert ready.status.container_statuses[0].state.running is not None
    log = Path(entry["log"])
    wait_until("the 10 events to be processed", lambda: log.read_text().count("event=processed") >= 10, 60)


def test_deleting_a_pod_sends_sigterm_and_the_consumer_stops_cleanly(
    lab: LabEnv,
    kube: Kube,
    namespace: str,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    deployment = deploy_consumer(lab, namespace, make_topic("backer-stop"), unique_name("backer-group"))
    scale(lab, namespace, deployment, 1)
    (entry,) = wait_until("the backer to start a process", lambda: backed(lab, namespace), 60)
    log = Path(entry["log"])
    wait_until("the consumer to join its group", lambda: "event=assigned" in log.read_text(), 60)

    scale(lab, namespace, deployment, 0)
    wait_until("the pod to be gone", lambda: not pods(kube, namespace), 60)
    assert "event=summary" in log.read_text(), "the consumer did not finish cleanly after SIGTERM"
    assert f"event=sigterm pod={namespace}/{entry['name']}" in backer_log(lab)
    assert f"pod={namespace}/{entry['name']} pid={entry['pid']} reason=" not in backer_log(lab)
    assert not Path(f"/proc/{entry['pid']}").exists()


def test_the_grace_period_ends_in_sigkill(
    lab: LabEnv,
    kube: Kube,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    """A consumer busy with a 60 s event, deleted with --grace-period=1, is killed after 1 s."""
    topic = make_topic("backer-kill")
    produce_events(kafka.bootstrap, topic, 1)
    deployment = deploy_consumer(lab, namespace, topic, unique_name("backer-group"), process_time=60)
    scale(lab, namespace, deployment, 1)
    (entry,) = wait_until("the backer to start a process", lambda: backed(lab, namespace), 60)
    log = Path(entry["log"])
    wait_until("the consumer to start its 60 s event", lambda: "event=processing" in log.read_text(), 60)

    start = time.monotonic()
    kubectl(lab, "delete", "pod", "-n", namespace, entry["name"], "--grace-period=1", "--wait=false")
    # (The ReplicaSet makes a new pod at once; the deleted one is what must go.)
    wait_until(
        "the pod to be gone",
        lambda: entry["name"] not in {p.metadata.name for p in pods(kube, namespace)},
        30,
    )
    assert time.monotonic() - start < 15
    assert f"event=sigkill pod={namespace}/{entry['name']} pid={entry['pid']} reason=grace_period_over" in (
        backer_log(lab)
    )
    assert "event=summary" not in log.read_text()


def test_a_process_that_exits_fails_its_pod(
    lab: LabEnv, kube: Kube, namespace: str, unique_name: Callable[[str], str]
) -> None:
    """The consumer exits 1 when its topic does not exist: the pod becomes Failed with that code."""
    deployment = deploy_consumer(lab, namespace, unique_name("no-such-topic"), unique_name("backer-group"))
    scale(lab, namespace, deployment, 1)

    def failed_pod() -> Any:
        return next((p for p in pods(kube, namespace) if p.status.phase == "Failed"), None)

    pod = wait_until("the pod to turn Failed", failed_pod, 60)
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 1
    assert terminated.reason == "Error"
    assert conditions(pod)["Ready"] == "False"
    scale(lab, namespace, deployment, 0)


@pytest.fixture(autouse=True)
def _no_process_outlives_the_test(lab: LabEnv, namespace: str) -> Iterator[None]:
    yield
    kubectl(lab, "delete", "deployments", "--all", "-n", namespace, "--wait=false")
    wait_until("the backer to stop every process of the test's pods", lambda: not backed(lab, namespace), 90)
