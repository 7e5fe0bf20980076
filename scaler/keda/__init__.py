"""KEDA's Kafka scaler, HPA and ScaledObject executor as pure functions and small state machines.

No Kafka or Kubernetes client, no I/O and no clock: callers pass offsets, replica counts and `now`.
"""

from scaler.keda.behavior import BehaviorError
from scaler.keda.executor import (
    Executor,
    ExecutorDecision,
    Fallback,
    FallbackError,
    FallbackTracker,
    ScaledObjectSpec,
    ScaledObjectSpecError,
)
from scaler.keda.fixes import KEDA_EXACT, Fixes, FixesError, parse_fixes
from scaler.keda.hpa import (
    Hpa,
    HpaBehavior,
    HpaDecision,
    HpaPolicy,
    HpaScalingRules,
    HpaSpec,
    parse_behavior,
)
from scaler.keda.lag import (
    LagCalculator,
    LagReport,
    PartitionLag,
    PartitionOffsets,
    balanced_factor,
    factors,
)
from scaler.keda.pause import Pause, parse_pause
from scaler.keda.scaledobject import (
    ScaledObjectDefinition,
    ScaledObjectError,
    TriggerDefinition,
    hpa_spec_for,
    parse_scaled_object,
)
from scaler.keda.trigger import (
    KafkaTrigger,
    TriggerError,
    lag_threshold_of,
    parse_partition_limitation,
    parse_trigger,
)
from scaler.keda.trigger_auth import has_aws_pod_identity, resolve_auth_params

__all__ = [
    "KEDA_EXACT",
    "BehaviorError",
    "Executor",
    "ExecutorDecision",
    "Fallback",
    "FallbackError",
    "FallbackTracker",
    "Fixes",
    "FixesError",
    "Hpa",
    "HpaBehavior",
    "HpaDecision",
    "HpaPolicy",
    "HpaScalingRules",
    "HpaSpec",
    "KafkaTrigger",
    "LagCalculator",
    "LagReport",
    "PartitionLag",
    "PartitionOffsets",
    "Pause",
    "ScaledObjectDefinition",
    "ScaledObjectError",
    "ScaledObjectSpec",
    "ScaledObjectSpecError",
    "TriggerDefinition",
    "TriggerError",
    "balanced_factor",
    "factors",
    "has_aws_pod_identity",
    "hpa_spec_for",
    "lag_threshold_of",
    "parse_behavior",
    "parse_fixes",
    "parse_partition_limitation",
    "parse_pause",
    "parse_scaled_object",
    "parse_trigger",
    "resolve_auth_params",
]
