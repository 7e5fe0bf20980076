"""A KEDA ScaledObject (keda.sh/v1alpha1, already loaded from YAML) -> our dataclasses, with
KEDA's defaults, and KEDA's rule for the HPA it builds from the ScaledObject and its parsed kafka
trigger (`hpa_spec_for`). Trigger metadata stays raw text here: scaler.keda.trigger parses it, once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafkakit.errors import ConfigError
from scaler.keda._fields import field_error, integer, mapping, optional_int, optional_text, text
from scaler.keda.behavior import HpaBehavior, parse_behavior
from scaler.keda.executor import Fallback, ScaledObjectSpec
from scaler.keda.hpa import DEFAULT_CONTROLLER, HpaController, HpaSpec
from scaler.keda.pause import NO_PAUSE, Pause, disable_paused_directions, parse_pause
from scaler.keda.trigger import KafkaTrigger
from scaler.keda.trigger_auth import AUTH_KINDS

__all__ = ["ScaledObjectDefinition", "TriggerDefinition", "hpa_spec_for", "parse_scaled_object"]

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
    """A parsed ScaledObject: executor settings, HPA behavior, pause state and the raw triggers."""

    name: str
    namespace: str
    target_kind: str
    target_name: str
    spec: ScaledObjectSpec
    triggers: list[TriggerDefinition]
    behavior: HpaBehavior | None = None
    """spec.advanced.horizontalPodAutoscalerConfig.behavior, as written (pause not applied)."""
    hpa_name: str = ""
    pause: Pause = field(default_factory=Pause)
    env_source_container_name: str | None = None
    created_at: datetime | None = None
    """metadata.creationTimestamp (UTC), when the YAML carries one."""

    def kafka_triggers(self) -> list[tuple[int, TriggerDefinition]]:
        """(triggerIndex, trigger) for each kafka trigger; the index counts every trigger."""
        return [(index, t) for index, t in enumerate(self.triggers) if t.type == "kafka"]


def parse_scaled_object(document: Mapping[str, Any]) -> ScaledObjectDefinition:
    """Parse one ScaledObject; raises ConfigError naming the fields to change."""
    _check_kind(document)
    metadata = mapping(document.get("metadata"), "metadata")
    name = text(metadata.get("name"), "metadata.name")
    spec = mapping(document.get("spec"), "spec")
    target = mapping(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    if "deploymentName" in target:
        raise field_error("spec.scaleTargetRef.deploymentName", "is KEDA 1.x: use spec.scaleTargetRef.name")
    triggers = _triggers(spec.get("triggers"))
    if not any(t.type == "kafka" for t in triggers):
        raise field_error("spec.triggers", "has no trigger of type kafka: add one")
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
        triggers=triggers,
        behavior=_behavior(hpa_config),
        hpa_name=text(hpa_config.get("name", f"keda-hpa-{name}"), "hpa name"),
        pause=pause,
        env_source_container_name=optional_text(
            target.get("envSourceContainerName"), "spec.scaleTargetRef.envSourceContainerName"
        ),
        created_at=_timestamp(metadata.get("creationTimestamp"), "metadata.creationTimestamp"),
    )


def hpa_spec_for(
    spec: ScaledObjectSpec,
    trigger: KafkaTrigger,
    behavior: HpaBehavior | None = None,
    *,
    pause: Pause = NO_PAUSE,
    controller: HpaController = DEFAULT_CONTROLLER,
) -> HpaSpec:
    """The HPA KEDA builds (semantics section 3.3): minReplicas = minReplicaCount if > 0 else 1,
    maxReplicas = maxReplicaCount, the parsed trigger's metricType and lagThreshold as the target,
    the ScaledObject's behavior with the directions a paused-scale-in/-out annotation disables."""
    return HpaSpec(
        min_replicas=spec.min_replica_count if spec.min_replica_count > 0 else 1,
        max_replicas=spec.max_replica_count,
        target_type=trigger.metric_type,
        target_value=trigger.lag_threshold,
        behavior=disable_paused_directions(behavior, pause),
        tolerance=controller.tolerance,
        downscale_stabilization_seconds=controller.downscale_stabilization_seconds,
        sync_period_seconds=controller.sync_period_seconds,
    )


def _check_kind(document: Mapping[str, Any]) -> None:
    api_version = str(document.get("apiVersion", ""))
    kind = document.get("kind")
    if kind != "ScaledObject":
        raise field_error("kind", f"must be ScaledObject, got {kind!r}")
    if not api_version.startswith(API_GROUP):
        raise field_error("apiVersion", f"{api_version!r} is not KEDA 2.x: use keda.sh/v1alpha1")


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
    except ConfigError as error:
        raise error.renamed(lambda name: f"spec.{name}") from None


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
    return parse_pause(annotations)


def _behavior(hpa_config: Mapping[str, Any]) -> HpaBehavior | None:
    if hpa_config.get("behavior") is None:
        return None
    try:
        return parse_behavior(hpa_config["behavior"])
    except ConfigError as error:
        raise error.renamed(lambda name: f"spec.advanced.horizontalPodAutoscalerConfig.{name}") from None


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
        raise field_error(where, f"must be an RFC3339 time such as 2024-05-01T12:00:00Z, got {raw!r}")
    return parsed.astimezone(UTC)


def _triggers(raw: object) -> list[TriggerDefinition]:
    if not isinstance(raw, list) or not raw:
        raise field_error("spec.triggers", "must be a non-empty list")
    return [_trigger(item, f"spec.triggers[{index}]") for index, item in enumerate(raw)]


def _trigger(raw: object, where: str) -> TriggerDefinition:
    trigger = mapping(raw, where)
    metadata = mapping(trigger.get("metadata", {}), f"{where}.metadata")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise field_error(
                f"{where}.metadata.{key}", f'must be a string: quote it (e.g. {key}: "{value}")'
            )
    auth_ref = mapping(trigger.get("authenticationRef", {}), f"{where}.authenticationRef")
    auth_name = optional_text(auth_ref.get("name"), f"{where}.authenticationRef.name")
    auth_kind = None
    if auth_name is not None:
        auth_kind = text(auth_ref.get("kind", AUTH_KINDS[0]), f"{where}.authenticationRef.kind")
        if auth_kind not in AUTH_KINDS:
            raise field_error(f"{where}.authenticationRef.kind", f"must be one of {', '.join(AUTH_KINDS)}")
    use_cached = trigger.get("useCachedMetrics", False)
    if not isinstance(use_cached, bool):
        raise field_error(f"{where}.useCachedMetrics", "must be true or false")
    return TriggerDefinition(
        type=text(trigger.get("type"), f"{where}.type"),
        metadata=dict(metadata),
        auth_ref_name=auth_name,
        auth_ref_kind=auth_kind,
        metric_type=text(trigger.get("metricType", "AverageValue"), f"{where}.metricType"),
        name=text(trigger.get("name", ""), f"{where}.name", allow_empty=True),
        use_cached_metrics=use_cached,
    )
