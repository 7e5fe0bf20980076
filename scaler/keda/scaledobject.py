"""A KEDA ScaledObject (keda.sh/v1alpha1, already loaded from YAML) -> our dataclasses, with
KEDA's defaults and its HPA construction rules (`hpa_spec_for`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scaler.keda._fields import ScaledObjectError, integer, mapping, optional_int, optional_text, text
from scaler.keda.behavior import HpaBehavior, parse_behavior
from scaler.keda.executor import Fallback, ScaledObjectSpec
from scaler.keda.hpa import HpaSpec
from scaler.keda.pause import Pause, disable_paused_directions, parse_pause
from scaler.keda.trigger import lag_threshold_of
from scaler.keda.trigger_auth import AUTH_KINDS

__all__ = [
    "ScaledObjectDefinition",
    "ScaledObjectError",
    "TriggerDefinition",
    "hpa_spec_for",
    "parse_scaled_object",
]

API_GROUP = "keda.sh/"


@dataclass(frozen=True)
class TriggerDefinition:
    """One entry of spec.triggers, metadata kept as the raw strings KEDA receives."""

    type: str
    metadata: dict[str, str]
    auth_ref_name: str | None = None
    auth_ref_kind: str | None = None
    metric_type: str = "AverageValue"
    name: str = ""
    use_cached_metrics: bool = False


@dataclass(frozen=True)
class ScaledObjectDefinition:
    """A parsed ScaledObject: executor settings, the HPA KEDA would build, and the triggers."""

    name: str
    namespace: str
    target_kind: str
    target_name: str
    spec: ScaledObjectSpec
    hpa: HpaSpec
    triggers: list[TriggerDefinition]
    hpa_name: str = ""
    pause: Pause = field(default_factory=Pause)
    env_source_container_name: str | None = None
    created_at: datetime | None = None
    """metadata.creationTimestamp (UTC), when the YAML carries one."""

    def kafka_triggers(self) -> list[tuple[int, TriggerDefinition]]:
        """(triggerIndex, trigger) for each kafka trigger; the index counts every trigger."""
        return [(index, t) for index, t in enumerate(self.triggers) if t.type == "kafka"]


def parse_scaled_object(document: Mapping[str, Any]) -> ScaledObjectDefinition:
    """Parse one ScaledObject; raises ScaledObjectError (or TriggerError) saying what to change."""
    _check_kind(document)
    metadata = mapping(document.get("metadata"), "metadata")
    name = text(metadata.get("name"), "metadata.name")
    spec = mapping(document.get("spec"), "spec")
    target = mapping(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    if "deploymentName" in target:
        raise ScaledObjectError(
            "spec.scaleTargetRef.deploymentName is KEDA 1.x: use spec.scaleTargetRef.name"
        )
    triggers = _triggers(spec.get("triggers"))
    kafka = [t for t in triggers if t.type == "kafka"]
    if not kafka:
        raise ScaledObjectError("spec.triggers has no trigger of type kafka: add one")
    executor_spec = _executor_spec(spec)
    pause = _pause(metadata)
    advanced = mapping(spec.get("advanced", {}), "spec.advanced")
    hpa_config = mapping(
        advanced.get("horizontalPodAutoscalerConfig", {}),
        "spec.advanced.horizontalPodAutoscalerConfig",
    )
    return ScaledObjectDefinition(
        name=name,
        namespace=text(metadata.get("namespace", "default"), "metadata.namespace"),
        target_kind=text(target.get("kind", "Deployment"), "spec.scaleTargetRef.kind"),
        target_name=text(target.get("name"), "spec.scaleTargetRef.name"),
        spec=executor_spec,
        hpa=hpa_spec_for(
            executor_spec,
            kafka[0].metric_type,
            lag_threshold_of(kafka[0].metadata),
            disable_paused_directions(_behavior(hpa_config), pause),
        ),
        triggers=triggers,
        hpa_name=text(hpa_config.get("name", f"keda-hpa-{name}"), "hpa name"),
        pause=pause,
        env_source_container_name=optional_text(
            target.get("envSourceContainerName"), "spec.scaleTargetRef.envSourceContainerName"
        ),
        created_at=_timestamp(metadata.get("creationTimestamp"), "metadata.creationTimestamp"),
    )


def hpa_spec_for(
    spec: ScaledObjectSpec, metric_type: str, lag_threshold: float, behavior: HpaBehavior | None = None
) -> HpaSpec:
    """The HPA KEDA builds (semantics section 3.3): minReplicas = minReplicaCount if > 0 else 1,
    maxReplicas = maxReplicaCount, and the kafka trigger's lagThreshold as the target."""
    return HpaSpec(
        min_replicas=spec.min_replica_count if spec.min_replica_count > 0 else 1,
        max_replicas=spec.max_replica_count,
        target_type=metric_type,
        target_value=lag_threshold,
        behavior=behavior,
    )


def _check_kind(document: Mapping[str, Any]) -> None:
    api_version = str(document.get("apiVersion", ""))
    kind = document.get("kind")
    if kind != "ScaledObject":
        raise ScaledObjectError(f"kind must be ScaledObject, got {kind!r}")
    if not api_version.startswith(API_GROUP):
        raise ScaledObjectError(f"apiVersion {api_version!r} is not KEDA 2.x: use keda.sh/v1alpha1")


def _executor_spec(spec: Mapping[str, Any]) -> ScaledObjectSpec:
    min_count = optional_int(spec.get("minReplicaCount"), "spec.minReplicaCount")
    idle = optional_int(spec.get("idleReplicaCount"), "spec.idleReplicaCount")
    defaults = ScaledObjectSpec()
    executor_spec = ScaledObjectSpec(
        polling_interval=integer(spec, "pollingInterval", defaults.polling_interval),
        cooldown_period=integer(spec, "cooldownPeriod", defaults.cooldown_period),
        initial_cooldown_period=integer(spec, "initialCooldownPeriod", defaults.initial_cooldown_period),
        min_replica_count=min_count or 0,
        max_replica_count=integer(spec, "maxReplicaCount", defaults.max_replica_count),
        idle_replica_count=idle,
        fallback=_fallback(spec.get("fallback")),
        min_replica_count_set=min_count is not None,
    )
    try:
        return executor_spec.validate()
    except ValueError as error:
        raise ScaledObjectError(str(error)) from None


def _fallback(raw: object) -> Fallback | None:
    if raw is None:
        return None
    fallback = mapping(raw, "spec.fallback")
    return Fallback(
        failure_threshold=integer(fallback, "failureThreshold", None, "spec.fallback"),
        replicas=integer(fallback, "replicas", None, "spec.fallback"),
        behavior=text(fallback.get("behavior", "static"), "spec.fallback.behavior"),
    )


def _pause(metadata: Mapping[str, Any]) -> Pause:
    annotations = mapping(metadata.get("annotations", {}), "metadata.annotations")
    try:
        return parse_pause(annotations)
    except ValueError as error:
        raise ScaledObjectError(f"metadata.annotations: {error}") from None


def _behavior(hpa_config: Mapping[str, Any]) -> HpaBehavior | None:
    if hpa_config.get("behavior") is None:
        return None
    try:
        return parse_behavior(hpa_config["behavior"])
    except ValueError as error:
        raise ScaledObjectError(f"spec.advanced.horizontalPodAutoscalerConfig.{error}") from None


def _timestamp(raw: object, where: str) -> datetime | None:
    """An RFC3339 time (YAML may already have turned an unquoted one into a datetime), in UTC."""
    if raw is None:
        return None
    parsed = raw if isinstance(raw, datetime) else None
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ScaledObjectError(f"{where} must be an RFC3339 time such as 2024-05-01T12:00:00Z, got {raw!r}")
    return parsed.astimezone(UTC)


def _triggers(raw: object) -> list[TriggerDefinition]:
    if not isinstance(raw, list) or not raw:
        raise ScaledObjectError("spec.triggers must be a non-empty list")
    return [_trigger(item, f"spec.triggers[{index}]") for index, item in enumerate(raw)]


def _trigger(raw: object, where: str) -> TriggerDefinition:
    trigger = mapping(raw, where)
    metadata = mapping(trigger.get("metadata", {}), f"{where}.metadata")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise ScaledObjectError(
                f'{where}.metadata.{key} must be a string: quote it (e.g. {key}: "{value}")'
            )
    auth_ref = mapping(trigger.get("authenticationRef", {}), f"{where}.authenticationRef")
    auth_name = optional_text(auth_ref.get("name"), f"{where}.authenticationRef.name")
    auth_kind = None
    if auth_name is not None:
        auth_kind = text(auth_ref.get("kind", AUTH_KINDS[0]), f"{where}.authenticationRef.kind")
        if auth_kind not in AUTH_KINDS:
            raise ScaledObjectError(f"{where}.authenticationRef.kind must be one of {AUTH_KINDS}")
    use_cached = trigger.get("useCachedMetrics", False)
    if not isinstance(use_cached, bool):
        raise ScaledObjectError(f"{where}.useCachedMetrics must be true or false")
    return TriggerDefinition(
        type=text(trigger.get("type"), f"{where}.type"),
        metadata=dict(metadata),
        auth_ref_name=auth_name,
        auth_ref_kind=auth_kind,
        metric_type=text(trigger.get("metricType", "AverageValue"), f"{where}.metricType"),
        name=text(trigger.get("name", ""), f"{where}.name", allow_empty=True),
        use_cached_metrics=use_cached,
    )
