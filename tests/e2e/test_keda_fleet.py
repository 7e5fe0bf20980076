"""The REAL KEDA operator and ONE lagscale external scaler for many ScaledObjects, under churn.

* ScaledObjects created and deleted while the scaler runs: new ones get their metric, deleted ones
  are forgotten, the others go on; the shared Kafka client closes with its last ScaledObject.
* Isolation: a broker restart (a broker of this test's own) fails only the ScaledObjects on it,
  and a connection with bad credentials only its own; every other ScaledObject keeps its exact
  metric throughout, and the restarted ones recover.

The server runs as `lagscale serve-grpc` with short forget times and named credential sets
(`--auth-sets`); the operator runs beside it (scripts/keda, in the lab's network namespace under
`make test`), so `scalerAddress` is 127.0.0.1. What is checked is what KEDA itself exports
(`keda_scaler_metrics_value`, `keda_scaled_object_errors_total`) and what the server logs.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keda_helpers
import psutil
import pytest
import yaml
from confluent_kafka.admin import AdminClient, NewTopic
from k8s_helpers import Kube, make_deployment, wait_until
from keda_helpers import KEDA_METRICS_URL, apply_manifests, lagscale_lag_json
from kubernetes import client
from offsets_helpers import commit, env_without_connection_settings, produce
from own_broker import OwnBroker, free_ports

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

keda_operator = keda_helpers.keda_operator  # the shared session fixture, requested by name

PARTITIONS = 3
RECORDS = 10
POLLING_INTERVAL_S = 2
FORGET_MIN_S = 4
LISTEN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class FleetScaler:
    """The running server: its address, its log, its process and where its credential sets live."""

    address: str
    log: Path
    pid: int
    auth_sets: Path

    def events(self, event: str, scaled_object: str = "") -> list[dict[str, str]]:
        parsed = [_fields(line) for line in self.log.read_text().splitlines() if f"event={event}" in line]
        return [f for f in parsed if not scaled_object or f.get("scaled_object") == scaled_object]

    def connections(self, event: str, bootstrap: str) -> list[dict[str, str]]:
        """The server's `connection_<event>` lines for clients of `bootstrap`."""
        return [e for e in self.events(f"connection_{event}") if e["connection"].startswith(bootstrap + "#")]

    def evaluations(self, namespace: str, names: list[str]) -> dict[str, int]:
        return {name: len(self.events("evaluated", f"{namespace}/{name}")) for name in names}

    def failed_last(self, namespace: str, name: str) -> bool:
        """Whether the server's last word on this ScaledObject was a failure (or it has none yet)."""
        mine = f"scaled_object={namespace}/{name}"
        verdicts = [
            line
            for line in self.log.read_text().splitlines()
            if mine in line and ("event=evaluated" in line or "event=evaluation_failed" in line)
        ]
        return not verdicts or "event=evaluation_failed" in verdicts[-1]

    def sockets_to(self, port: int) -> int:
        connections = psutil.Process(self.pid).net_connections("tcp")
        return sum(1 for c in connections if c.raddr and c.raddr.port == port and c.status == "ESTABLISHED")


def _fields(line: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(line) if "=" in token)


@pytest.fixture(scope="module")
def fleet_scaler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetScaler]:
    work = tmp_path_factory.mktemp("fleet-scaler")
    (port,) = free_ports(1)
    log, auth_sets = work / "serve-grpc.log", work / "auth-sets"
    auth_sets.mkdir()
    command = [
        sys.executable, "-m", "lagscale", "serve-grpc", "--listen", f"127.0.0.1:{port}",
        "--auth-sets", str(auth_sets), "--forget-after-polls", "2", "--forget-min-seconds", str(FORGET_MIN_S),
        "--timeout", "3",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env_without_connection_settings()
        )
    try:
        listening = lambda: process.poll() is None and "grpc_listening" in log.read_text()  # noqa: E731
        wait_until("serve-grpc to listen", listening, timeout=LISTEN_TIMEOUT_S)
        yield FleetScaler(f"127.0.0.1:{port}", log, process.pid, auth_sets)
    finally:
        process.terminate()
        process.wait(30)


# -- KEDA's side ----------------------------------------------------------------------------------


def keda_values(namespace: str, metric: str) -> dict[str, float]:
    """A KEDA metric by ScaledObject, for one namespace."""
    with urllib.request.urlopen(KEDA_METRICS_URL, timeout=10) as response:
        lines = response.read().decode().splitlines()
    values: dict[str, float] = {}
    for line in lines:
        if line.startswith(metric + "{") and f'namespace="{namespace}"' in line:
            name = line.split('scaledObject="', 1)[1].split('"', 1)[0]
            values[name] = float(line.rsplit(" ", 1)[1])
    return values


def pick(values: dict[str, float], names: list[str]) -> dict[str, float]:
    return {name: values[name] for name in names}


def metrics_are(namespace: str, expected: dict[str, float]) -> bool:
    exported = keda_values(namespace, "keda_scaler_metrics_value")
    return all(exported.get(name) == value for name, value in expected.items())


def errors(namespace: str) -> dict[str, float]:
    return keda_values(namespace, "keda_scaled_object_errors_total")


def scaled_object(namespace: str, name: str, address: str, metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"name": name},
            "pollingInterval": POLLING_INTERVAL_S,
            "cooldownPeriod": 300,
            "minReplicaCount": 0,
            "maxReplicaCount": 3,
            "triggers": [{"type": "external", "metadata": {"scalerAddress": address, **metadata}}],
        },
    }


def deploy(kube: Kube, namespace: str, address: str, triggers: dict[str, dict[str, str]]) -> None:
    """A Deployment and a ScaledObject per name, the trigger metadata as given."""
    for name in triggers:
        make_deployment(kube, namespace, name)
    objects = [scaled_object(namespace, name, address, metadata) for name, metadata in triggers.items()]
    apply_manifests(kube, yaml.safe_dump_all(objects))


def delete(kube: Kube, namespace: str, *names: str) -> None:
    custom = client.CustomObjectsApi(kube.api_client)
    for name in names:
        custom.delete_namespaced_custom_object("keda.sh", "v1alpha1", namespace, "scaledobjects", name)


# -- Kafka's side ---------------------------------------------------------------------------------


def lagging_group(bootstrap: str, topic: str, group: str, lag: int) -> None:
    """`group` committed everything but `lag` records of partition 0: KEDA's metric is `lag`."""
    commit(bootstrap, group, {(topic, p): RECORDS - (lag if p == 0 else 0) for p in range(PARTITIONS)})


def trigger(bootstrap: str, topic: str, group: str, **extra: str) -> dict[str, str]:
    return {
        "bootstrapServers": bootstrap,
        "consumerGroup": group,
        "topic": topic,
        "lagThreshold": "5",
        **extra,
    }


# -- the tests ------------------------------------------------------------------------------------


def test_scaled_objects_come_and_go_while_the_scaler_runs(
    fleet_scaler: FleetScaler,
    kube: Kube,
    keda_operator: str,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    topic = make_topic("fleet-churn", partitions=PARTITIONS)
    produce(kafka.bootstrap, topic, dict.fromkeys(range(PARTITIONS), RECORDS))
    groups = {f"churn-{index}": unique_name(f"churn-{index}") for index in range(6)}
    for index, group in enumerate(groups.values()):
        lagging_group(kafka.bootstrap, topic, group, lag=index + 1)
    expected = {name: float(index + 1) for index, name in enumerate(groups)}
    triggers = {name: trigger(kafka.bootstrap, topic, group) for name, group in groups.items()}
    first, second = ["churn-0", "churn-1", "churn-2", "churn-3"], ["churn-4", "churn-5"]
    kept = ["churn-2", "churn-3", *second]

    deploy(kube, namespace, fleet_scaler.address, {name: triggers[name] for name in first})
    wait_until("KEDA's metrics for the first four", lambda: metrics_are(namespace, pick(expected, first)))
    flags = [
        "--profile",
        "plaintext",
        "--bootstrap",
        kafka.bootstrap,
        "--topic",
        topic,
        "--lag-threshold",
        "5",
    ]
    assert float(lagscale_lag_json([*flags, "--group", groups["churn-2"]])["metric"]) == expected["churn-2"]

    # Two polls at least, so the server knows their rhythm (one asked only once is kept 10 minutes).
    polled = lambda: all(count >= 2 for count in fleet_scaler.evaluations(namespace, first).values())  # noqa: E731
    wait_until("two polls of each", polled)
    delete(kube, namespace, "churn-0", "churn-1")
    deploy(kube, namespace, fleet_scaler.address, {name: triggers[name] for name in second})
    wait_until("the new ScaledObjects' metrics", lambda: metrics_are(namespace, pick(expected, kept)))
    for name in ("churn-0", "churn-1"):
        forgotten = lambda name=name: fleet_scaler.events("scaler_forgotten", f"{namespace}/{name}")  # noqa: E731
        wait_until(f"the server to forget {name}", forgotten, timeout=4 * FORGET_MIN_S + 20)
    opened, closed = (fleet_scaler.connections(event, kafka.bootstrap) for event in ("opened", "closed"))
    assert (len(opened), len(closed)) == (1, 0), "one shared client, still open for the remaining four"
    assert metrics_are(namespace, pick(expected, kept))
    assert not any(fleet_scaler.events("evaluation_failed", f"{namespace}/{name}") for name in groups)

    delete(kube, namespace, *kept)
    broker_port = int(kafka.bootstrap.rpartition(":")[2])

    def closed_and_disconnected() -> bool:
        closed = fleet_scaler.connections("closed", kafka.bootstrap)
        return bool(closed) and not fleet_scaler.sockets_to(broker_port)

    wait_until("the shared client to close with its last one", closed_and_disconnected, timeout=60)


def test_a_broker_restart_and_bad_credentials_touch_only_their_own_scaled_objects(
    fleet_scaler: FleetScaler,
    kube: Kube,
    keda_operator: str,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    own = OwnBroker(tmp_path / "own-broker")
    own.run("up")
    try:
        plan = isolation_plan(fleet_scaler, namespace, kafka, own, make_topic, unique_name)
        expected = {name: float(lag) for name, (_, lag) in plan.items() if name != "bad-0"}
        healthy = {name: value for name, value in expected.items() if not name.startswith("own")}
        on_own = ["own-0", "own-1"]

        deploy(
            kube, namespace, fleet_scaler.address, {name: metadata for name, (metadata, _) in plan.items()}
        )
        wait_until("every good ScaledObject's metric", lambda: metrics_are(namespace, expected), timeout=90)
        wait_until("KEDA to count bad-0's errors", lambda: errors(namespace).get("bad-0", 0) >= 2)
        assert "bad-0" not in keda_values(namespace, "keda_scaler_metrics_value")
        failures = fleet_scaler.events("evaluation_failed", f"{namespace}/bad-0")
        assert failures
        assert all("authentication failed" in failure["error"] for failure in failures)
        assert not any(errors(namespace).get(name) for name in expected), errors(namespace)
        assert kafka.sasl_password not in fleet_scaler.log.read_text()

        own.run("down")  # the restart, first half: the data stays
        counting = lambda: all(errors(namespace).get(name, 0) >= 2 for name in on_own)  # noqa: E731
        wait_until("KEDA to count errors for both ScaledObjects on the stopped broker", counting, timeout=60)
        before = fleet_scaler.evaluations(namespace, list(healthy))
        going_on = lambda: all(  # noqa: E731
            count > before[name] + 1
            for name, count in fleet_scaler.evaluations(namespace, list(healthy)).items()
        )
        wait_until("the others to be evaluated on, unharmed", going_on, timeout=30)
        assert metrics_are(namespace, healthy)
        assert not any(errors(namespace).get(name) for name in healthy), errors(namespace)

        own.run("up")
        recovered = lambda: not any(fleet_scaler.failed_last(namespace, name) for name in on_own)  # noqa: E731
        wait_until("the ScaledObjects on the restarted broker to recover", recovered, timeout=90)
        counted, evaluated = errors(namespace), fleet_scaler.evaluations(namespace, on_own)
        polled_twice = lambda: all(  # noqa: E731
            count >= evaluated[name] + 2
            for name, count in fleet_scaler.evaluations(namespace, on_own).items()
        )
        wait_until("two more polls of each recovered ScaledObject", polled_twice)
        # In the lab the HPA's reads (through KEDA's metrics adapter) are evaluations too, so two
        # of them may come before KEDA's next poll: wait for that poll to count the bad one again.
        bad_counted = lambda: errors(namespace).get("bad-0", 0) > counted.get("bad-0", 0)  # noqa: E731
        wait_until("KEDA to count bad-0's next error (it still fails)", bad_counted)
        still = {name: value for name, value in errors(namespace).items() if name != "bad-0"}
        assert still == {name: value for name, value in counted.items() if name != "bad-0"}, "errors went on"
        # KEDA exports a metric's value at its own polls; the adapter's reads above do not update it.
        wait_until("KEDA's metrics again", lambda: metrics_are(namespace, expected), timeout=60)
    finally:
        own.run("down", "--purge")


def isolation_plan(
    fleet_scaler: FleetScaler,
    namespace: str,
    kafka: KafkaEndpoints,
    own: OwnBroker,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> dict[str, tuple[dict[str, str], int]]:
    """ScaledObject name -> (trigger metadata, lag): two on the test's own broker, one on the shared
    broker's PLAINTEXT listener, three on its SASL listener (two good credentials, one bad); each
    group committed `lag` behind. The credential sets are written for this namespace."""
    shared_topic, own_topic = make_topic("fleet-iso", partitions=PARTITIONS), unique_name("fleet-own")
    own_admin = AdminClient({"bootstrap.servers": own.bootstrap})  # kept: the futures need their client
    own_admin.create_topics([NewTopic(own_topic, PARTITIONS, 1)])[own_topic].result(30)
    for bootstrap, topic in ((kafka.bootstrap, shared_topic), (own.bootstrap, own_topic)):
        produce(bootstrap, topic, dict.fromkeys(range(PARTITIONS), RECORDS))
    for name, password in (("good", kafka.sasl_password), ("bad", "not-the-password")):
        directory = fleet_scaler.auth_sets / namespace / name
        directory.mkdir(parents=True)
        credentials = {"sasl": "plaintext", "username": kafka.sasl_username, "password": password}
        for key, value in credentials.items():
            (directory / key).write_text(value)
    layout = {  # name: (plain bootstrap to commit with, bootstrap of the trigger, topic, lag, extra)
        "own-0": (own.bootstrap, own.bootstrap, own_topic, 1, {}),
        "own-1": (own.bootstrap, own.bootstrap, own_topic, 2, {}),
        "plain-0": (kafka.bootstrap, kafka.bootstrap, shared_topic, 3, {}),
        "good-0": (kafka.bootstrap, kafka.bootstrap_sasl, shared_topic, 4, {"authName": "good"}),
        "good-1": (kafka.bootstrap, kafka.bootstrap_sasl, shared_topic, 1, {"authName": "good"}),
        "bad-0": (kafka.bootstrap, kafka.bootstrap_sasl, shared_topic, 2, {"authName": "bad"}),
    }
    plan = {}
    for name, (plain, bootstrap, topic, lag, extra) in layout.items():
        group = unique_name(name)
        lagging_group(plain, topic, group, lag)
        plan[name] = (trigger(bootstrap, topic, group) | extra, lag)
    return plan
