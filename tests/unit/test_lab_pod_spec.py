"""The lab's pod backer starts what a container would get: command, env (Secrets, ConfigMaps, the
downward API, `$(VAR)`), the image's ENTRYPOINT/ENV, ports remapped to 127.0.0.1, the readiness probe."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from lab.pod_spec import (
    ConfigError,
    ImageDefaults,
    backed_image,
    container_launch,
    expand,
    image_defaults,
    image_repository,
)

IMAGES = frozenset({"lagscale-consumer", "lagscale-producer"})
CONSUMER_IMAGE = ImageDefaults(("python", "-m", "consumer"), (), {"LAGSCALE_METRICS_PORT": "8080"})


def consumer_pod(**container: Any) -> dict[str, Any]:
    """The rendered consumer Deployment's pod, as the API returns it (trimmed)."""
    spec = {
        "name": "consumer",
        "image": "lagscale-consumer:0.1.0",
        "command": ["lagscale", "consume"],
        "args": ["--metrics-port", "8080", "--metrics-host", "0.0.0.0", "--process-time", "2.0"],
        "env": [
            {"name": "KAFKA_EVENTHUB_ENDPOINT", "value": "127.0.0.1:9094"},
            {
                "name": "KAFKA_EVENTHUB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
            },
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "ports": [{"name": "metrics", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10},
        **container,
    }
    return {
        "metadata": {"name": "consumer-abc12", "namespace": "lab", "uid": "u-1", "labels": {"app": "c"}},
        "spec": {"containers": [spec], "terminationGracePeriodSeconds": 17, "nodeName": "kwok-node-0"},
        "status": {"phase": "Pending"},
    }


def lookup(kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
    objects = {
        ("Secret", "lab", "creds"): {"password": "s3cret", "username": "alice"},
        ("ConfigMap", "lab", "settings"): {"TOPIC": "events"},
    }
    return objects.get((kind, namespace, name))


@pytest.fixture
def ports() -> Iterator[int]:
    return iter(range(41000, 41100))


def launch(pod: dict[str, Any], ports: Iterator[int], defaults: ImageDefaults = CONSUMER_IMAGE) -> Any:
    return container_launch(pod, lookup, lambda: next(ports), defaults)


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("lagscale-consumer:0.1.0", "lagscale-consumer"),
        ("registry.example:5000/team/lagscale-consumer:1", "lagscale-consumer"),
        ("lagscale-producer@sha256:abcd", "lagscale-producer"),
        ("registry.invalid/lagscale/consumer:test", "consumer"),
    ],
)
def test_image_repository(image: str, repository: str) -> None:
    assert image_repository(image) == repository


def test_only_the_backed_images_are_backed() -> None:
    assert backed_image(consumer_pod(), IMAGES) == "lagscale-consumer"
    assert backed_image(consumer_pod(image="registry.invalid/lagscale/consumer:test"), IMAGES) is None


def test_the_consumer_image_defaults_come_from_its_dockerfile() -> None:
    defaults = image_defaults("lagscale-consumer")
    assert defaults.entrypoint == ("python", "-m", "consumer")
    assert defaults.env["LAGSCALE_METRICS_PORT"] == "8080"
    assert defaults.env["LAGSCALE_METRICS_HOST"] == "0.0.0.0"
    assert "PATH" not in defaults.env  # the lab's virtualenv comes first instead


def test_command_env_and_ports_of_the_rendered_consumer(ports: Iterator[int]) -> None:
    started = launch(consumer_pod(), ports)
    assert started.ports == {8080: 41000}
    assert started.argv == (
        "lagscale", "consume", "--metrics-port", "41000", "--metrics-host", "127.0.0.1",
        "--process-time", "2.0",
    )  # fmt: skip
    assert started.env["KAFKA_EVENTHUB_PASSWORD"] == "s3cret"
    assert started.env["POD"] == "consumer-abc12"
    assert started.env["LAGSCALE_METRICS_PORT"] == "41000"  # the image's ENV, remapped too
    assert started.grace_seconds == 17
    assert started.readiness is not None
    assert started.readiness.url == "http://127.0.0.1:41000/healthz"
    assert (started.readiness.period, started.readiness.failure_threshold) == (10.0, 3)


def test_without_command_the_image_entrypoint_runs_with_the_args(ports: Iterator[int]) -> None:
    pod = consumer_pod(command=None, args=["--topic", "t"])
    assert launch(pod, ports).argv == ("python", "-m", "consumer", "--topic", "t")


def test_dollar_references_expand_from_earlier_env(ports: Iterator[int]) -> None:
    env = [
        {"name": "TOPIC", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "TOPIC"}}},
        {"name": "DLQ", "value": "$(TOPIC).dlq"},
        {"name": "LITERAL", "value": "$$(TOPIC)"},
    ]
    started = launch(consumer_pod(env=env, args=["--dlq-topic", "$(DLQ)", "$(UNDEFINED)"]), ports)
    assert started.env["DLQ"] == "events.dlq"
    assert started.env["LITERAL"] == "$(TOPIC)"
    assert started.argv[-2:] == ("events.dlq", "$(UNDEFINED)")
    assert expand("a$$b", {}) == "a$b"


def test_env_from_with_a_prefix(ports: Iterator[int]) -> None:
    pod = consumer_pod(envFrom=[{"secretRef": {"name": "creds"}, "prefix": "KAFKA_"}])
    assert launch(pod, ports).env["KAFKA_username"] == "alice"


def test_a_missing_secret_key_is_a_config_error_unless_optional(ports: Iterator[int]) -> None:
    missing = {"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}}
    with pytest.raises(ConfigError, match="secret 'creds' has no key 'nope'"):
        launch(consumer_pod(env=[missing]), ports)
    absent = {"name": "X", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k", "optional": True}}}
    assert "X" not in launch(consumer_pod(env=[absent]), ports).env


def test_unsupported_sources_are_named(ports: Iterator[int]) -> None:
    resource = {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}
    with pytest.raises(ConfigError, match="resourceFieldRef"):
        launch(consumer_pod(env=[resource]), ports)
    with pytest.raises(ConfigError, match="port 'web'"):
        launch(consumer_pod(readinessProbe={"httpGet": {"path": "/", "port": "web"}}), ports)


def test_no_probe_means_ready_when_started(ports: Iterator[int]) -> None:
    assert launch(consumer_pod(readinessProbe=None), ports).readiness is None
