"""A KEDA ScaledObject (keda.sh/v1alpha1, already loaded from YAML) -> our dataclasses, with
KEDA's defaults and its HPA construction rules; plus TriggerAuthentication parameter resolution."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scaler.keda.behavior import HpaBehavior, parse_behavior
from scaler.keda.executor import Fallback, ScaledObjectSpec
from scaler.keda.hpa import HpaSpec
from scaler.keda.trigger import lag_threshold_of

API_GROUP = "keda.sh/"
AUTH_KINDS = ("TriggerAuthentication", "ClusterTriggerAuthentication")
PAUSED_SCALE_IN = "autoscaling.keda.sh/paused-scale-in"
PAUSED_SCALE_OUT = "autoscaling.keda.sh/paused-scale-out"
PAUSED = "autoscaling.keda.sh/paused"
_OFFLINE_UNSUPPORTED = (
    "hashiCorpVault",
    "azureKeyVault",
    "awsSecretManager",
    "gcpSecretManager",
    "boundServiceAccountToken",
    "filePath",
)


class ScaledObjectError(ValueError):
    """The ScaledObject or TriggerAuthentication cannot be used; the message says what to fix."""


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
    paused: bool = False
    env_source_container_name: str | None = None

    def kafka_triggers(self) -> list[tuple[int, TriggerDefinition]]:
        """(triggerIndex, trigger) for each kafka trigger; the index counts every trigger."""
        return [(index, t) for index, t in enumerate(self.triggers) if t.type == "kafka"]


def parse_scaled_object(document: Mapping[str, Any]) -> ScaledObjectDefinition:
    """Parse one ScaledObject; raises ScaledObjectError (or TriggerError) saying what to change."""
    _check_kind(document)
    metadata = _mapping(document.get("metadata"), "metadata")
    name = _text(metadata.get("name"), "metadata.name")
    spec = _mapping(document.get("spec"), "spec")
    target = _mapping(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    if "deploymentName" in target:
        raise ScaledObjectError(
            "spec.scaleTargetRef.deploymentName is KEDA 1.x: use spec.scaleTargetRef.name"
        )
    triggers = _triggers(spec.get("triggers"))
    kafka = [t for t in triggers if t.type == "kafka"]
    if not kafka:
        raise ScaledObjectError("spec.triggers has no trigger of type kafka: add one")
    executor_spec = _executor_spec(spec)
    annotations = _mapping(metadata.get("annotations", {}), "metadata.annotations")
    advanced = _mapping(spec.get("advanced", {}), "spec.advanced")
    hpa_config = _mapping(
        advanced.get("horizontalPodAutoscalerConfig", {}),
        "spec.advanced.horizontalPodAutoscalerConfig",
    )
    return ScaledObjectDefinition(
        name=name,
        namespace=_text(metadata.get("namespace", "default"), "metadata.namespace"),
        target_kind=_text(target.get("kind", "Deployment"), "spec.scaleTargetRef.kind"),
        target_name=_text(target.get("name"), "spec.scaleTargetRef.name"),
        spec=executor_spec,
        hpa=_hpa_spec(executor_spec, kafka[0], hpa_config, annotations),
        triggers=triggers,
        hpa_name=_text(hpa_config.get("name", f"keda-hpa-{name}"), "hpa name"),
        paused=str(annotations.get(PAUSED, "")).strip() == "true",
        env_source_container_name=_optional_text(
            target.get("envSourceContainerName"), "spec.scaleTargetRef.envSourceContainerName"
        ),
    )


def _check_kind(document: Mapping[str, Any]) -> None:
    api_version = str(document.get("apiVersion", ""))
    kind = document.get("kind")
    if kind != "ScaledObject":
        raise ScaledObjectError(f"kind must be ScaledObject, got {kind!r}")
    if not api_version.startswith(API_GROUP):
        raise ScaledObjectError(f"apiVersion {api_version!r} is not KEDA 2.x: use keda.sh/v1alpha1")


def _executor_spec(spec: Mapping[str, Any]) -> ScaledObjectSpec:
    min_count = _optional_int(spec.get("minReplicaCount"), "spec.minReplicaCount")
    idle = _optional_int(spec.get("idleReplicaCount"), "spec.idleReplicaCount")
    if idle is not None and min_count is None:
        # KEDA compares idle against 0 when minReplicaCount is unset, so any idle fails.
        raise ScaledObjectError(
            f"IdleReplicaCount={idle} must be less than MinReplicaCount=0: set minReplicaCount"
        )
    defaults = ScaledObjectSpec()
    executor_spec = ScaledObjectSpec(
        polling_interval=_int(spec, "pollingInterval", defaults.polling_interval),
        cooldown_period=_int(spec, "cooldownPeriod", defaults.cooldown_period),
        initial_cooldown_period=_int(spec, "initialCooldownPeriod", defaults.initial_cooldown_period),
        min_replica_count=min_count or 0,
        max_replica_count=_int(spec, "maxReplicaCount", defaults.max_replica_count),
        idle_replica_count=idle,
        fallback=_fallback(spec.get("fallback")),
    )
    try:
        return executor_spec.validate()
    except ValueError as error:
        raise ScaledObjectError(str(error)) from None


def _fallback(raw: object) -> Fallback | None:
    if raw is None:
        return None
    fallback = _mapping(raw, "spec.fallback")
    return Fallback(
        failure_threshold=_int(fallback, "failureThreshold", None, "spec.fallback"),
        replicas=_int(fallback, "replicas", None, "spec.fallback"),
        behavior=_text(fallback.get("behavior", "static"), "spec.fallback.behavior"),
    )


def _hpa_spec(
    executor_spec: ScaledObjectSpec,
    kafka: TriggerDefinition,
    hpa_config: Mapping[str, Any],
    annotations: Mapping[str, Any],
) -> HpaSpec:
    behavior = None
    if hpa_config.get("behavior") is not None:
        try:
            behavior = parse_behavior(hpa_config["behavior"])
        except ValueError as error:
            raise ScaledObjectError(f"spec.advanced.horizontalPodAutoscalerConfig.{error}") from None
    behavior = _apply_pause_annotations(behavior, annotations)
    return HpaSpec(
        min_replicas=executor_spec.min_replica_count if executor_spec.min_replica_count > 0 else 1,
        max_replicas=executor_spec.max_replica_count,
        target_type=kafka.metric_type,
        target_value=lag_threshold_of(kafka.metadata),
        behavior=behavior,
    )


def _apply_pause_annotations(
    behavior: HpaBehavior | None, annotations: Mapping[str, Any]
) -> HpaBehavior | None:
    """KEDA disables one HPA direction for the paused-scale-in / paused-scale-out annotations."""
    pause_in = str(annotations.get(PAUSED_SCALE_IN, "")).strip() == "true"
    pause_out = str(annotations.get(PAUSED_SCALE_OUT, "")).strip() == "true"
    if not pause_in and not pause_out:
        return behavior
    result = behavior or HpaBehavior()
    if pause_in:
        down = dataclasses.replace(result.scale_down, select_policy="Disabled")
        result = dataclasses.replace(result, scale_down=down)
    if pause_out:
        up = dataclasses.replace(result.scale_up, select_policy="Disabled")
        result = dataclasses.replace(result, scale_up=up)
    return result


def _triggers(raw: object) -> list[TriggerDefinition]:
    if not isinstance(raw, list) or not raw:
        raise ScaledObjectError("spec.triggers must be a non-empty list")
    return [_trigger(item, f"spec.triggers[{index}]") for index, item in enumerate(raw)]


def _trigger(raw: object, where: str) -> TriggerDefinition:
    trigger = _mapping(raw, where)
    metadata = _mapping(trigger.get("metadata", {}), f"{where}.metadata")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise ScaledObjectError(
                f'{where}.metadata.{key} must be a string: quote it (e.g. {key}: "{value}")'
            )
    auth_ref = _mapping(trigger.get("authenticationRef", {}), f"{where}.authenticationRef")
    auth_name = _optional_text(auth_ref.get("name"), f"{where}.authenticationRef.name")
    auth_kind = None
    if auth_name is not None:
        auth_kind = _text(auth_ref.get("kind", AUTH_KINDS[0]), f"{where}.authenticationRef.kind")
        if auth_kind not in AUTH_KINDS:
            raise ScaledObjectError(f"{where}.authenticationRef.kind must be one of {AUTH_KINDS}")
    use_cached = trigger.get("useCachedMetrics", False)
    if not isinstance(use_cached, bool):
        raise ScaledObjectError(f"{where}.useCachedMetrics must be true or false")
    return TriggerDefinition(
        type=_text(trigger.get("type"), f"{where}.type"),
        metadata=dict(metadata),
        auth_ref_name=auth_name,
        auth_ref_kind=auth_kind,
        metric_type=_text(trigger.get("metricType", "AverageValue"), f"{where}.metricType"),
        name=_text(trigger.get("name", ""), f"{where}.name", allow_empty=True),
        use_cached_metrics=use_cached,
    )


def has_aws_pod_identity(trigger_auth_spec: Mapping[str, Any]) -> bool:
    """True when the TriggerAuthentication uses `podIdentity.provider: aws` (MSK IAM)."""
    spec = _auth_spec(trigger_auth_spec)
    identity = spec.get("podIdentity") or {}
    return isinstance(identity, Mapping) and identity.get("provider") == "aws"


def resolve_auth_params(
    trigger_auth_spec: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    env: Mapping[str, str],
    *,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """authParams from env[], configMapTargetRef[] and secretTargetRef[] (later ones win).

    Accepts a whole TriggerAuthentication object or just its spec. Secret values must already
    be decoded. A missing Secret key or env var is an error here (KEDA would pass "" on).
    """
    spec = _auth_spec(trigger_auth_spec)
    for source in _OFFLINE_UNSUPPORTED:
        if spec.get(source):
            raise ScaledObjectError(
                f"TriggerAuthentication source {source} needs a live cluster: "
                "use secretTargetRef, configMapTargetRef or env"
            )
    params: dict[str, str] = {}
    for ref in _refs(spec, "env"):
        variable = _text(ref.get("name"), "env[].name")
        if variable not in env:
            raise ScaledObjectError(f"env var {variable} (for {ref['parameter']}) is not set")
        params[ref["parameter"]] = env[variable]
    for ref in _refs(spec, "configMapTargetRef"):
        params[ref["parameter"]] = _lookup(config_maps or {}, ref, "ConfigMap")
    for ref in _refs(spec, "secretTargetRef"):
        params[ref["parameter"]] = _lookup(secrets, ref, "Secret")
    return params


def _auth_spec(document: Mapping[str, Any]) -> Mapping[str, Any]:
    if "kind" in document and "spec" in document:
        return _mapping(document["spec"], "TriggerAuthentication spec")
    return document


def _refs(spec: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    raw = spec.get(field) or []
    if not isinstance(raw, list):
        raise ScaledObjectError(f"TriggerAuthentication {field} must be a list")
    refs = [_mapping(item, f"{field}[]") for item in raw]
    for ref in refs:
        _text(ref.get("parameter"), f"{field}[].parameter")
    return refs


def _lookup(store: Mapping[str, Mapping[str, str]], ref: Mapping[str, Any], what: str) -> str:
    name = _text(ref.get("name"), f"{what} name")
    key = _text(ref.get("key"), f"{what} key")
    if name not in store or key not in store[name]:
        raise ScaledObjectError(f"{what} {name} has no key {key} (needed for {ref['parameter']})")
    return store[name][key]


def _mapping(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScaledObjectError(f"{where} must be a mapping, got {type(raw).__name__}")
    return raw


def _text(raw: object, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(raw, str) or (not allow_empty and not raw.strip()):
        raise ScaledObjectError(f"{where} must be a non-empty string, got {raw!r}")
    return raw


def _optional_text(raw: object, where: str) -> str | None:
    return None if raw is None else _text(raw, where)


def _optional_int(raw: object, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ScaledObjectError(f"{where} must be an integer, got {raw!r}")
    return raw


def _int(mapping: Mapping[str, Any], key: str, default: int | None, prefix: str = "spec") -> int:
    value = _optional_int(mapping.get(key), f"{prefix}.{key}")
    if value is None:
        if default is None:
            raise ScaledObjectError(f"{prefix}.{key} is required")
        return default
    return value
