"""What a container would get, worked out from its pod: command line, environment, ports, probe.

Pure functions over the pod as the API returns it (a dict), so they are unit-tested without a
cluster; Secrets and ConfigMaps come in through a lookup function. The image's own ENTRYPOINT and
ENV are read from the app's Dockerfile in this repository (`lagscale-consumer` -> consumer/Dockerfile),
so they cannot drift from what the real image does.

The one place the lab differs from a pod: every "pod" shares the lab's network namespace, so each
declared containerPort gets a free port on 127.0.0.1, and argument or env values that are exactly a
declared port number, or exactly "0.0.0.0", are rewritten to that port and to 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
ANY_ADDRESS = "0.0.0.0"  # a value to rewrite, never bound
# Kubernetes' own defaults for a readiness probe's fields.
PROBE_DEFAULTS = {"periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3, "successThreshold": 1}
DEFAULT_GRACE_SECONDS = 30

Pod = Mapping[str, Any]
# (kind "Secret" | "ConfigMap", namespace, name) -> its data, decoded; None when it does not exist.
Lookup = Callable[[str, str, str], Mapping[str, str] | None]


class ConfigError(Exception):
    """What a kubelet reports as CreateContainerConfigError (e.g. a missing Secret key)."""


@dataclass(frozen=True)
class ImageDefaults:
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: dict[str, str]


@dataclass(frozen=True)
class Probe:
    url: str
    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    env: dict[str, str]
    ports: dict[int, int]  # containerPort -> port on 127.0.0.1
    readiness: Probe | None
    grace_seconds: int


def image_repository(image: str) -> str:
    """`registry:5000/team/lagscale-consumer:0.1.0@sha256:...` -> `lagscale-consumer`."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


def backed_image(pod: Pod, images: frozenset[str]) -> str | None:
    """The first container's image repository when it is one the lab backs with a process."""
    containers = pod.get("spec", {}).get("containers") or []
    if not containers:
        return None
    repository = image_repository(containers[0].get("image", ""))
    return repository if repository in images else None


def image_defaults(repository: str, repo_root: Path = REPO) -> ImageDefaults:
    """ENTRYPOINT, CMD and ENV of `<repo_root>/<app>/Dockerfile` for image `lagscale-<app>`.
    PATH is left out: the lab puts the project's virtualenv first instead of the image's."""
    dockerfile = repo_root / repository.removeprefix("lagscale-") / "Dockerfile"
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = {}
    for line in text.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction == "ENTRYPOINT":
            entrypoint = tuple(json.loads(rest))
        elif instruction == "CMD":
            cmd = tuple(json.loads(rest))
        elif instruction == "ENV":
            for token in shlex.split(rest):
                name, _, value = token.partition("=")
                if name != "PATH":
                    env[name] = value
    return ImageDefaults(entrypoint, cmd, env)


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, others kept, `$$` is a `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return variables.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, text)


def field_value(pod: Pod, path: str) -> str:
    """A `fieldRef.fieldPath` the downward API supports."""
    metadata, spec = pod.get("metadata", {}), pod.get("spec", {})
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": LOOPBACK,
        "status.hostIP": LOOPBACK,
    }
    if path in simple:
        return str(simple[path] or "")
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if keyed:
        return str((metadata.get(keyed.group(1)) or {}).get(keyed.group(2), ""))
    raise ConfigError(f"fieldRef {path!r} is not supported by the lab's pod backer")


def _key_ref(kind: str, ref: Mapping[str, Any], namespace: str, lookup: Lookup) -> str | None:
    data = lookup(kind, namespace, ref["name"])
    if data is not None and ref["key"] in data:
        return data[ref["key"]]
    if ref.get("optional"):
        return None
    what = "not found" if data is None else f"has no key {ref['key']!r}"
    raise ConfigError(f"{kind.lower()} {ref['name']!r} {what}")


def _env_source(source: Mapping[str, Any], pod: Pod, known: Mapping[str, str], lookup: Lookup) -> str | None:
    namespace = pod["metadata"]["namespace"]
    if "value" in source:
        return expand(str(source["value"]), known)
    value_from = source.get("valueFrom") or {}
    if "secretKeyRef" in value_from:
        return _key_ref("Secret", value_from["secretKeyRef"], namespace, lookup)
    if "configMapKeyRef" in value_from:
        return _key_ref("ConfigMap", value_from["configMapKeyRef"], namespace, lookup)
    if "fieldRef" in value_from:
        return field_value(pod, value_from["fieldRef"]["fieldPath"])
    if value_from:
        raise ConfigError(f"env {source['name']!r}: {sorted(value_from)} is not supported by the pod backer")
    return ""


def container_env(pod: Pod, container: Mapping[str, Any], lookup: Lookup) -> dict[str, str]:
    """envFrom first, then env in order (later entries win, `$(VAR)` sees earlier ones)."""
    namespace = pod["metadata"]["namespace"]
    variables: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        secret = "secretRef" in source
        kind, ref = ("Secret", source["secretRef"]) if secret else ("ConfigMap", source["configMapRef"])
        data = lookup(kind, namespace, ref["name"])
        if data is None and not ref.get("optional"):
            raise ConfigError(f"{kind.lower()} {ref['name']!r} not found")
        variables.update({source.get("prefix", "") + key: value for key, value in (data or {}).items()})
    for source in container.get("env") or []:
        value = _env_source(source, pod, variables, lookup)
        if value is not None:
            variables[source["name"]] = value
    return variables


def _rewrite(value: str, ports: Mapping[int, int]) -> str:
    if value == ANY_ADDRESS:
        return LOOPBACK
    if value.isdigit() and int(value) in ports:
        return str(ports[int(value)])
    return value


def _readiness(container: Mapping[str, Any], ports: Mapping[int, int]) -> Probe | None:
    probe = container.get("readinessProbe")
    if not probe:
        return None
    http = probe.get("httpGet")
    if not http:
        raise ConfigError("only httpGet readiness probes are supported by the pod backer")
    port = http["port"]
    if isinstance(port, str) and not port.isdigit():
        named = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
        if port not in named:
            raise ConfigError(f"readinessProbe names port {port!r}, which the container does not declare")
        port = named[port]
    fields = {**PROBE_DEFAULTS, **probe}
    return Probe(
        url=f"http://{LOOPBACK}:{ports.get(int(port), int(port))}{http.get('path', '/')}",
        initial_delay=float(fields.get("initialDelaySeconds", 0)),
        period=float(fields["periodSeconds"]),
        timeout=float(fields["timeoutSeconds"]),
        failure_threshold=int(fields["failureThreshold"]),
        success_threshold=int(fields["successThreshold"]),
    )


def container_launch(
    pod: Pod, lookup: Lookup, free_port: Callable[[], int], defaults: ImageDefaults
) -> Launch:
    """How to start the first container of `pod` as a local process."""
    container = pod["spec"]["containers"][0]
    declared = [p["containerPort"] for p in container.get("ports") or []]
    ports = {port: free_port() for port in declared}
    variables = container_env(pod, container, lookup)
    # `command` replaces ENTRYPOINT (and drops CMD); `args` replaces CMD.
    command = [expand(part, variables) for part in container.get("command") or []]
    command = command or list(defaults.entrypoint)
    args = [expand(part, variables) for part in container.get("args") or []]
    if not container.get("command") and not container.get("args"):
        args = list(defaults.cmd)
    if not command + args:
        raise ConfigError("the container has no command and its image no ENTRYPOINT/CMD")
    env = {**defaults.env, **variables}
    grace = pod["spec"].get("terminationGracePeriodSeconds")
    return Launch(
        argv=tuple(_rewrite(part, ports) for part in command + args),
        env={name: _rewrite(value, ports) for name, value in env.items()},
        ports=ports,
        readiness=_readiness(container, ports),
        grace_seconds=DEFAULT_GRACE_SECONDS if grace is None else int(grace),
    )
