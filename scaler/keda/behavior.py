"""autoscaling/v2 HPA `behavior`: dataclasses with the API defaults, and parsing from YAML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafkakit.errors import ConfigError, Problem

SELECT_POLICIES = ("Max", "Min", "Disabled")
POLICY_TYPES = ("Pods", "Percent")
MAX_WINDOW_SECONDS = 3600
MAX_PERIOD_SECONDS = 1800


def _invalid(where: str, message: str) -> ConfigError:
    return ConfigError(Problem(where, message))


@dataclass(frozen=True)
class HpaPolicy:
    """One scaling policy: change by `value` Pods or Percent per `period_seconds`."""

    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True)
class HpaScalingRules:
    """One direction of behavior. A None window on scaleDown means the controller default."""

    stabilization_window_seconds: int | None = None
    select_policy: str = "Max"
    policies: tuple[HpaPolicy, ...] = ()
    tolerance: float | None = None  # per-direction tolerance (Kubernetes >= 1.33), else global


DEFAULT_SCALE_UP = HpaScalingRules(
    stabilization_window_seconds=0,
    select_policy="Max",
    policies=(HpaPolicy("Pods", 4, 15), HpaPolicy("Percent", 100, 15)),
)
DEFAULT_SCALE_DOWN = HpaScalingRules(
    stabilization_window_seconds=None,
    select_policy="Max",
    policies=(HpaPolicy("Percent", 100, 15),),
)


@dataclass(frozen=True)
class HpaBehavior:
    """Both directions, API defaults filled in (as the API server does when behavior is set)."""

    scale_up: HpaScalingRules = DEFAULT_SCALE_UP
    scale_down: HpaScalingRules = DEFAULT_SCALE_DOWN


def parse_behavior(mapping: Mapping[str, Any] | None) -> HpaBehavior:
    """Parse `behavior:` as written in an HPA or in advanced.horizontalPodAutoscalerConfig."""
    raw = _mapping(mapping or {}, "behavior")
    _reject_unknown(raw, {"scaleUp", "scaleDown"}, "behavior")
    return HpaBehavior(
        scale_up=_rules(raw.get("scaleUp"), DEFAULT_SCALE_UP, "behavior.scaleUp"),
        scale_down=_rules(raw.get("scaleDown"), DEFAULT_SCALE_DOWN, "behavior.scaleDown"),
    )


def _rules(raw: object, default: HpaScalingRules, where: str) -> HpaScalingRules:
    if raw is None:
        return default
    rules = _mapping(raw, where)
    _reject_unknown(rules, {"stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"}, where)
    window = default.stabilization_window_seconds
    if rules.get("stabilizationWindowSeconds") is not None:
        window = _int_in_range(
            rules["stabilizationWindowSeconds"],
            0,
            MAX_WINDOW_SECONDS,
            f"{where}.stabilizationWindowSeconds",
        )
    select = rules.get("selectPolicy", default.select_policy)
    if select not in SELECT_POLICIES:
        raise _invalid(f"{where}.selectPolicy", f"must be one of {', '.join(SELECT_POLICIES)}")
    policies = default.policies
    if rules.get("policies") is not None:
        policies = _policies(rules["policies"], f"{where}.policies")
    return HpaScalingRules(window, str(select), policies, _tolerance(rules.get("tolerance"), where))


def _policies(raw: object, where: str) -> tuple[HpaPolicy, ...]:
    if not isinstance(raw, list) or not raw:
        raise _invalid(where, "must be a non-empty list of policies")
    parsed = []
    for index, item in enumerate(raw):
        policy = _mapping(item, f"{where}[{index}]")
        _reject_unknown(policy, {"type", "value", "periodSeconds"}, f"{where}[{index}]")
        kind = policy.get("type")
        if kind not in POLICY_TYPES:
            raise _invalid(f"{where}[{index}].type", "must be Pods or Percent")
        value = _int_in_range(policy.get("value"), 1, 2**31 - 1, f"{where}[{index}].value")
        period = _int_in_range(
            policy.get("periodSeconds"), 1, MAX_PERIOD_SECONDS, f"{where}[{index}].periodSeconds"
        )
        parsed.append(HpaPolicy(str(kind), value, period))
    return tuple(parsed)


def _tolerance(raw: object, where: str) -> float | None:
    if raw is None:
        return None
    try:
        value = float(str(raw))
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise _invalid(f"{where}.tolerance", f"must be a number in [0, 1), got {raw!r}")
    return value


def _int_in_range(raw: object, low: int, high: int, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise _invalid(where, f"must be an integer from {low} to {high}, got {raw!r}")
    return raw


def _mapping(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _invalid(where, f"must be a mapping, got {type(raw).__name__}")
    return raw


def _reject_unknown(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _invalid(where, f"has unknown field(s) {', '.join(unknown)}")
