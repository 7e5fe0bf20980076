"""Build the `--target` of `lagscale scale`: kubernetes, local consumer processes, or dry-run."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast

from kafkakit import envvars
from kafkakit.errors import ConfigError, Problem
from kafkakit.profiles import ConnectionProfile
from scaler.keda.trigger import KafkaTrigger
from scaler.loop.replicas import DryRunTarget, ReplicaTarget
from scaler.targets.leader_gate import LeaderGatedTarget
from scaler.targets.processes import ProcessTarget

TARGET_KINDS = ("dry-run", "processes", "kubernetes")


@dataclass(frozen=True)
class TargetOptions:
    """What the command line says about the target (kind-specific fields are ignored otherwise)."""

    kind: str
    trigger: KafkaTrigger
    profile: ConnectionProfile
    workload_kind: str = "Deployment"
    workload_name: str = ""
    namespace: str = "default"
    kubeconfig: str | None = None
    process_time: float | None = None
    consumer_args: tuple[str, ...] = ()
    stop_grace: float = 15.0
    current_replicas: int = 0
    leader_elect: bool = False
    lease_name: str = ""


@dataclass(frozen=True)
class BuiltTarget:
    """A target plus how to release it (processes are stopped; the others hold nothing)."""

    target: ReplicaTarget
    close: Callable[[], None] = field(default=lambda: None)


def build_target(options: TargetOptions) -> BuiltTarget:
    """The target for `options.kind`; bad settings -> ConfigError naming the flag to change."""
    if options.kind == "dry-run":
        return BuiltTarget(DryRunTarget(options.current_replicas))
    if options.kind == "processes":
        processes = consumer_processes(options)
        return BuiltTarget(processes, processes.close)
    if options.kind == "kubernetes":
        return _kubernetes(options)
    raise ConfigError(Problem("--target", f"must be one of {', '.join(TARGET_KINDS)}"))


def consumer_processes(options: TargetOptions) -> ProcessTarget:
    """`python -m consumer` replicas for the trigger's topic and group. The password travels in the
    environment, never in argv (which any local user can read)."""
    trigger, profile = options.trigger, options.profile
    if not trigger.topic:
        raise ConfigError(
            Problem("--topic", "is required with --target processes (or `topic` in the trigger)")
        )
    args = ["--topic", trigger.topic, "--group", trigger.consumer_group, "--bootstrap", profile.bootstrap]
    args += ["--profile", profile.kind, "--scram-mechanism", profile.scram_mechanism]
    args += ["--tls"] if profile.tls else []
    if options.process_time is not None:
        args += ["--process-time", f"{options.process_time:g}"]
    args += options.consumer_args
    return ProcessTarget(args, env=_consumer_env(profile), stop_grace_seconds=options.stop_grace)


def _consumer_env(profile: ConnectionProfile) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("LAGSCALE_METRICS_PORT", None)  # one fixed port for every replica would collide
    secret_name = envvars.CONNECTION_STRING[0] if profile.is_eventhubs else envvars.PASSWORD[0]
    for name, value in (
        (envvars.USERNAME[0], "" if profile.is_eventhubs else profile.username),
        (secret_name, profile.password),
        (envvars.CA_FILE[0], profile.ca_file),
    ):
        if value:
            env[name] = value
    return env


def _kubernetes(options: TargetOptions) -> BuiltTarget:
    if not options.workload_name:
        message = "is required with --target kubernetes (or scaleTargetRef.name in --config)"
        raise ConfigError(Problem("--name", message))
    if options.workload_kind not in ("Deployment", "StatefulSet"):
        message = f"must be Deployment or StatefulSet, got {options.workload_kind!r}"
        raise ConfigError(Problem("--kind", message))
    # Lazy: the Kubernetes client is slow to import and only this target needs it.
    from scaler.targets.kubernetes import KubernetesTarget, api_client_from_kubeconfig  # noqa: PLC0415
    from scaler.targets.leader import LeaderElector  # noqa: PLC0415

    kind = cast(Literal["Deployment", "StatefulSet"], options.workload_kind)
    api = api_client_from_kubeconfig(options.kubeconfig)
    target = KubernetesTarget(kind, options.workload_name, options.namespace, api)
    target.check_not_owned()
    if not options.leader_elect:
        return BuiltTarget(target)
    lease = options.lease_name or f"lagscale-{options.workload_name}"
    elector = LeaderElector(lease, options.namespace, _identity(), api)
    gated = LeaderGatedTarget(target, elector)
    gated.start()
    return BuiltTarget(gated, gated.close)


def _identity() -> str:
    """The pod name in a cluster (downward API: POD_NAME), else host and PID."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
