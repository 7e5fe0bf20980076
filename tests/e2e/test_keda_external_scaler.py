"""The REAL KEDA operator drives a `type: external` ScaledObject through the lagscale external
scaler, over mutual TLS.

Everything comes from `lagscale render --profile kafka` with `scaler.mode=external` and
`scaler.grpcTls` set to certificates this module makes (openssl): the consumer Deployment, the
ScaledObject (`enableTLS`), the TriggerAuthentication (`caCert`, `tlsClientCert`, `tlsClientKey`)
and the two `kubernetes.io/tls` Secrets it reads are applied as rendered; only the trigger's
`scalerAddress` is changed, to 127.0.0.1, because the operator runs on the host (scripts/keda), not
in the cluster. The scaler is the rendered scaler container run as a process: its command, args
and env values, with its projected TLS volume written to a directory as the kubelet would.

`external` (pull): KEDA calls GetMetricSpec for its HPA, then GetMetrics + IsActive every poll.
`external-push`: KEDA also holds StreamIsActive open and scales 0 -> 1 as soon as a message says so.
Without a client certificate the scaler trusts, KEDA gets nothing and its ScaledObject says so.
The consumer pods stay KWOK stand-ins (the image is renamed so the lab's pod backer leaves them alone):
the test commits offsets itself. Replicas are asserted only as far as KEDA's own 0 -> (>= 1) -> 0 steps;
in the lab the HPA may go past 1 through KEDA's metrics adapter.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keda_helpers
import pytest
import yaml
from k8s_helpers import Kube, wait_until
from keda_helpers import (
    apply_manifests,
    keda_metric,
    lagscale_lag_json,
    read_hpa,
    replicas,
)
from kubernetes import client
from offsets_helpers import commit, env_without_connection_settings, produce
from pki_helpers import make_pki

from lagscale.render.manifests import render_manifests
from lagscale.render.values import merge_values

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

LAG_THRESHOLD = 5
ACTIVATION = 2
PARTITIONS = 3
LISTEN_TIMEOUT_S = 60.0  # a cold Python start importing grpc and confluent-kafka, on a loaded box
MTLS_BANNER = "over TLS (client certificates required)"
keda_operator = keda_helpers.keda_operator  # the shared session fixture, requested by name


@dataclass(frozen=True)
class GrpcScaler:
    """A running external scaler and the file its log lines go to."""

    address: str
    log: Path

    def evaluations(self, namespace: str, scaled_object: str) -> list[dict[str, str]]:
        """The server's `event=evaluated` lines for one ScaledObject: proof that KEDA asked it."""
        lines = self.log.read_text().splitlines()
        parsed = [_fields(line) for line in lines if "event=evaluated" in line]
        return [fields for fields in parsed if fields.get("scaled_object") == f"{namespace}/{scaled_object}"]


def _fields(line: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(line) if "=" in token)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scaler's certificate for 127.0.0.1 (what KEDA dials here), KEDA's client certificate,
    both from one CA, and a client certificate from another CA."""
    return make_pki(tmp_path_factory.mktemp("pki"), "IP:127.0.0.1")


def _tls_settings(pki: Path, *, client_secret: str = "", client_auth: bool = True) -> dict[str, str]:
    """`scaler.grpcTls` values: the PEM files as text; KEDA's certificate inline, from a named
    Secret, or none (the scaler then asks for none either, which only the refusal test wants)."""
    settings = {
        "scaler.grpcTls.enabled": "true",
        "scaler.grpcTls.ca": (pki / "ca.pem").read_text(),
        "scaler.grpcTls.serverCert": (pki / "server.pem").read_text(),
        "scaler.grpcTls.serverKey": (pki / "server.key").read_text(),
    }
    if client_secret:
        settings["scaler.grpcTls.clientSecret"] = client_secret
    elif client_auth:
        settings["scaler.grpcTls.clientCert"] = (pki / "keda.pem").read_text()
        settings["scaler.grpcTls.clientKey"] = (pki / "keda.key").read_text()
    else:
        settings["scaler.grpcTls.clientAuth"] = "false"
    return settings


def _render_objects(settings: dict[str, str]) -> list[dict[str, Any]]:
    """`lagscale render --profile kafka --set ...` for the external mode on the lab's broker."""
    base = {
        "producer.enabled": "false",
        "consumer.image.repository": "registry.invalid/lagscale/consumer-standin",  # not backed
        "scaler.mode": "external",
        "kafka.sasl": "none",
        "kafka.topic.create": "false",
        "kafka.broker.enabled": "false",
    }
    overrides = [f"{key}={value}" for key, value in {**base, **settings}.items()]
    values = merge_values("kafka", overrides=overrides, environ={})
    return [doc for m in render_manifests("kafka", values) for doc in yaml.safe_load_all(m.text) if doc]


def _project_tls_volume(pod: dict[str, Any], secrets: dict[str, dict[str, str]], root: Path) -> str:
    """What the kubelet does for the scaler's projected `grpc-tls` volume: each item of each Secret
    as a file under `root`. Returns the volume's mount path in the container."""
    (volume,) = [v for v in pod["volumes"] if v["name"] == "grpc-tls"]
    for source in volume["projected"]["sources"]:
        for item in source["secret"]["items"]:
            (root / item["path"]).write_text(secrets[source["secret"]["name"]][item["key"]])
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "grpc-tls"]
    path: str = mount["mountPath"]
    return path


def _wait_for_banner(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the scaler exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        banner = next((line for line in log.read_text().splitlines() if line.startswith("serving ")), None)
        if banner:
            return banner
        time.sleep(0.2)
    pytest.fail(f"the scaler did not serve within {LISTEN_TIMEOUT_S:.0f}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def grpc_scaler(tmp_path: Path, pki: Path, kafka: KafkaEndpoints) -> Iterator[GrpcScaler]:
    """The rendered scaler container as a process on a free loopback port, serving mutual TLS;
    stopped by PID (SIGTERM) at the end."""
    port = _free_port()
    objects = _render_objects(
        {"kafka.bootstrapServers": kafka.bootstrap, "scaler.grpcPort": str(port), **_tls_settings(pki)}
    )
    (deployment,) = [
        d for d in objects if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-scaler")
    ]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    secrets = {d["metadata"]["name"]: d["stringData"] for d in objects if d["kind"] == "Secret"}
    files = tmp_path / "grpc-tls"
    files.mkdir()
    mount_path = _project_tls_volume(pod, secrets, files)
    assert container["command"] == ["lagscale"]
    # `:PORT` (every interface, as in a pod) becomes 127.0.0.1 here, as the lab's pod backer does.
    args = [
        f"127.0.0.1:{port}" if a == f":{port}" else a.replace(mount_path, str(files))
        for a in container["args"]
    ]
    env = {
        **env_without_connection_settings(),
        **{e["name"]: e["value"] for e in container["env"] if "value" in e},
    }
    log = tmp_path / "scaler.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "lagscale", *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=keda_helpers.REPO,
            env=env,
        )
    try:
        banner = _wait_for_banner(process, log)
        assert banner.endswith(f"127.0.0.1:{port} {MTLS_BANNER}"), banner
        yield GrpcScaler(f"127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Rendered:
    """What a test applies: the consumer Deployment, its ScaledObject, and the TLS objects KEDA
    reads (Secrets, TriggerAuthentication)."""

    deployment: dict[str, Any]
    scaled_object: dict[str, Any]
    tls_objects: list[dict[str, Any]]


def _render(
    namespace: str,
    topic: str,
    group: str,
    kafka: KafkaEndpoints,
    polling_interval: int,
    tls: dict[str, str],
    instance: str = "lagscale",
) -> Rendered:
    settings = {
        "namespace": namespace,
        "instance": instance,
        "topic": topic,
        "consumerGroup": group,
        "kafka.bootstrapServers": kafka.bootstrap,  # the PLAINTEXT listener
        "keda.pollingInterval": str(polling_interval),
        "keda.cooldownPeriod": "8",
        "keda.minReplicaCount": "0",
        "keda.maxReplicaCount": "4",
        "keda.lagThreshold": str(LAG_THRESHOLD),
        "keda.activationLagThreshold": str(ACTIVATION),
        "keda.offsetResetPolicy": "latest",
        **tls,
    }
    objects = _render_objects(settings)
    (scaled_object,) = [doc for doc in objects if doc["kind"] == "ScaledObject"]
    target = scaled_object["spec"]["scaleTargetRef"]["name"]
    (deployment,) = [d for d in objects if d["kind"] == "Deployment" and d["metadata"]["name"] == target]
    tls_objects = [d for d in objects if d["kind"] in ("Secret", "TriggerAuthentication")]
    return Rendered(deployment, scaled_object, tls_objects)


def _deploy(
    kube: Kube,
    rendered: Rendered,
    trigger_type: str,
    scaler_address: str,
    extra_metadata: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """Point the rendered trigger at our server and apply; returns (name, trigger metadata)."""
    (trigger,) = rendered.scaled_object["spec"]["triggers"]
    assert trigger["type"] == "external"
    assert trigger["metadata"]["enableTLS"] == "true"
    trigger["type"] = trigger_type
    trigger["metadata"] = {**trigger["metadata"], "scalerAddress": scaler_address, **(extra_metadata or {})}
    apply_manifests(
        kube, yaml.safe_dump_all([*rendered.tls_objects, rendered.deployment, rendered.scaled_object])
    )
    return rendered.scaled_object["metadata"]["name"], trigger["metadata"]


def _assert_keda_hpa(kube: Kube, namespace: str, name: str, topic: str) -> None:
    """KEDA built its HPA from our GetMetricSpec: External, `s0-` + our name, target lagThreshold."""
    autoscaling = client.AutoscalingV2Api(kube.api_client)
    hpa = wait_until(
        "KEDA to create its HPA", lambda: read_hpa(autoscaling, namespace, f"keda-hpa-{name}"), timeout=60
    )
    assert len(hpa.spec.metrics) == 1, hpa.spec.metrics
    metric = hpa.spec.metrics[0]
    assert metric.type == "External"
    assert metric.external.metric.name == f"s0-kafka-{topic}"
    assert metric.external.target.type == "AverageValue"
    assert metric.external.target.average_value == str(LAG_THRESHOLD)


def _lag_flags(metadata: dict[str, str]) -> list[str]:
    """`lagscale lag` flags for the same trigger settings the server received."""
    valued = {
        "bootstrapServers": "--bootstrap",
        "consumerGroup": "--group",
        "topic": "--topic",
        "lagThreshold": "--lag-threshold",
        "activationLagThreshold": "--activation-lag-threshold",
        "offsetResetPolicy": "--offset-reset-policy",
    }
    switches = {
        "allowIdleConsumers": "--allow-idle-consumers",
        "limitToPartitionsWithLag": "--limit-to-partitions-with-lag",
        "scaleToZeroOnInvalidOffset": "--scale-to-zero-on-invalid-offset",
        "excludePersistentLag": "--exclude-persistent-lag",
    }
    flags = ["--profile", "plaintext"]
    flags += [item for key, flag in valued.items() for item in (flag, metadata[key])]
    flags += [flag for key, flag in switches.items() if metadata.get(key) == "true"]
    return flags


def _saw(scaler: GrpcScaler, namespace: str, name: str, *, active: str, metric: float) -> bool:
    return any(
        e["active"] == active and float(e["metric"]) == metric for e in scaler.evaluations(namespace, name)
    )


def test_keda_pulls_from_lagscale_external_scaler(
    grpc_scaler: GrpcScaler,
    pki: Path,
    kube: Kube,
    keda_operator: str,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    topic = make_topic("keda-ext", partitions=PARTITIONS)
    group = unique_name("keda-ext-group")
    # Partitions 0 and 1 committed at 0; partition 2 never committed, which the `latest` policy
    # counts as lag 1. Total lag 1 <= activationLagThreshold 2: inactive.
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0})
    rendered = _render(namespace, topic, group, kafka, polling_interval=2, tls=_tls_settings(pki))
    name, metadata = _deploy(kube, rendered, "external", grpc_scaler.address)
    deployment = rendered.deployment["metadata"]["name"]

    _assert_keda_hpa(kube, namespace, name, topic)
    wait_until("the idle consumer to sit at 0 replicas", lambda: replicas(kube, namespace, deployment) == 0)
    wait_until(
        "KEDA to poll our server (inactive, metric 1)",
        lambda: _saw(grpc_scaler, namespace, name, active="False", metric=1),
        timeout=30,
    )

    # 6 + 6 records: lag 12, plus 1 for uncommitted partition 2 = 13 > 2.
    produce(kafka.bootstrap, topic, {0: 6, 1: 6})
    wait_until(
        "KEDA to activate 0 -> 1", lambda: replicas(kube, namespace, deployment) >= 1 or None, timeout=60
    )
    assert _saw(grpc_scaler, namespace, name, active="True", metric=13)

    ours = lagscale_lag_json(_lag_flags(metadata))
    assert float(ours["metric"]) == 13
    assert ours["active"] is True
    wait_until(
        "KEDA's metric to match lagscale's",
        lambda: keda_metric(keda_operator, namespace, name) == float(ours["metric"]),
        timeout=30,
    )

    # The consumers "drain" the lag: commit everything, including partition 2.
    commit(kafka.bootstrap, group, {(topic, 0): 6, (topic, 1): 6, (topic, 2): 0})
    assert lagscale_lag_json(_lag_flags(metadata))["active"] is False
    wait_until(
        "KEDA to scale back to 0 after the cooldown",
        lambda: replicas(kube, namespace, deployment) == 0 or None,
        timeout=90,
    )
    assert keda_metric(keda_operator, namespace, name) == 0
    assert _saw(grpc_scaler, namespace, name, active="False", metric=0)


def test_keda_push_activates_through_stream_is_active(
    grpc_scaler: GrpcScaler,
    pki: Path,
    kube: Kube,
    keda_operator: str,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    """pollingInterval 300 s: KEDA polls when the scale loop starts and then not again during this
    test, so the 0 -> 1 after the backlog comes from a StreamIsActive message, not from a poll."""
    topic = make_topic("keda-push", partitions=PARTITIONS)
    group = unique_name("keda-push-group")
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0})
    rendered = _render(namespace, topic, group, kafka, polling_interval=300, tls=_tls_settings(pki))
    name, _ = _deploy(kube, rendered, "external-push", grpc_scaler.address, {"streamIntervalSeconds": "1"})
    deployment = rendered.deployment["metadata"]["name"]

    _assert_keda_hpa(kube, namespace, name, topic)
    wait_until("the idle consumer to sit at 0 replicas", lambda: replicas(kube, namespace, deployment) == 0)

    produce(kafka.bootstrap, topic, {0: 6, 1: 6})
    wait_until(
        "the stream to activate 0 -> 1", lambda: replicas(kube, namespace, deployment) >= 1, timeout=60
    )
    assert _saw(grpc_scaler, namespace, name, active="True", metric=13)


def _refusal(kube: Kube, namespace: str, name: str) -> str | None:
    """The ScaledObject's Ready=False message once KEDA got no metric from the scaler, else None."""
    scaled_object = client.CustomObjectsApi(kube.api_client).get_namespaced_custom_object(
        "keda.sh", "v1alpha1", namespace, "scaledobjects", name
    )
    conditions = scaled_object.get("status", {}).get("conditions") or []
    ready = next((c for c in conditions if c["type"] == "Ready"), {})
    message = str(ready.get("message", ""))
    return message if ready.get("status") == "False" and "no metric specs returned" in message else None


def test_keda_without_a_client_certificate_the_scaler_trusts_is_refused(
    grpc_scaler: GrpcScaler,
    pki: Path,
    kube: Kube,
    keda_operator: str,
    namespace: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    """Three ScaledObjects against the same server: the one whose TriggerAuthentication has KEDA's
    trusted certificate gets its HPA; with no client certificate, or one from another CA, KEDA gets
    no answer, makes no HPA, and the ScaledObject reports it."""
    topic = make_topic("keda-mtls", partitions=PARTITIONS)
    group = unique_name("keda-mtls-group")
    other = pki / "other"
    stranger = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "stranger-client-tls", "namespace": namespace},
        "type": "kubernetes.io/tls",
        "stringData": {
            "tls.crt": (other / "stranger.pem").read_text(),
            "tls.key": (other / "stranger.key").read_text(),
            "ca.crt": (other / "ca.pem").read_text(),
        },
    }
    apply_manifests(kube, yaml.safe_dump(stranger))
    variants = {
        "trusted": _tls_settings(pki),
        "no-client-cert": _tls_settings(pki, client_auth=False),
        "stranger": _tls_settings(pki, client_secret="stranger-client-tls"),
    }
    names = {}
    for instance, tls in variants.items():
        rendered = _render(namespace, topic, group, kafka, polling_interval=2, tls=tls, instance=instance)
        names[instance], _ = _deploy(kube, rendered, "external", grpc_scaler.address)

    _assert_keda_hpa(kube, namespace, names["trusted"], topic)  # the server is up and answers KEDA
    autoscaling = client.AutoscalingV2Api(kube.api_client)
    for instance in ("no-client-cert", "stranger"):
        name = names[instance]
        message = wait_until(
            f"the ScaledObject {name} to report that KEDA got no metric",
            lambda name=name: _refusal(kube, namespace, name),
            timeout=60,
        )
        assert message == (
            "failed to ensure HPA is correctly created for ScaledObject: "
            f"no metric specs returned from scalers for ScaledObject {namespace}/{name}"
        )
        assert read_hpa(autoscaling, namespace, f"keda-hpa-{name}") is None
        assert not grpc_scaler.evaluations(namespace, name)
    assert grpc_scaler.evaluations(namespace, names["trusted"])
    # The scaler's side of both refusals: gRPC core logs each failed handshake with BoringSSL's
    # reason (the wording of grpcio 1.85.1, pinned in pyproject.toml).
    failed = [line for line in grpc_scaler.log.read_text().splitlines() if "Handshake failed" in line]
    for reason in ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_VERIFY_FAILED"):
        assert any(reason in line for line in failed), f"no handshake refused with {reason}: {failed}"
