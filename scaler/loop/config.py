"""Everything that decides replicas, parsed once: the kafka trigger, the ScaledObject's executor
settings, its HPA behavior and pause state, the HPA controller's settings, and lagscale's own
choices (mode, fixes). `lagscale scale`, `lag`, `demo` and `simulate` each build one of these, from
flags or from a ScaledObject; the HPA and the loop derive from it and from nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

from scaler.keda.behavior import HpaBehavior
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.fixes import KEDA_EXACT, Fixes
from scaler.keda.hpa import DEFAULT_CONTROLLER, HpaController, HpaSpec
from scaler.keda.pause import NO_PAUSE, Pause
from scaler.keda.scaledobject import ScaledObjectDefinition, hpa_spec_for
from scaler.keda.trigger import KafkaTrigger
from scaler.loop.decision import Mode


@dataclass(frozen=True)
class ScalingConfig:
    """What one scaling loop runs on. Field names follow KEDA's (snake_case), defaults KEDA's."""

    trigger: KafkaTrigger
    spec: ScaledObjectSpec = field(default_factory=ScaledObjectSpec)
    behavior: HpaBehavior | None = None
    """spec.advanced.horizontalPodAutoscalerConfig.behavior as written; None = the HPA defaults."""
    pause: Pause = NO_PAUSE
    controller: HpaController = DEFAULT_CONTROLLER
    use_cached_metrics: bool = False
    mode: Mode = "keda"
    fixes: Fixes = KEDA_EXACT

    @classmethod
    def from_scaled_object(
        cls,
        definition: ScaledObjectDefinition,
        trigger: KafkaTrigger,
        *,
        mode: Mode = "keda",
        fixes: Fixes = KEDA_EXACT,
        controller: HpaController = DEFAULT_CONTROLLER,
    ) -> ScalingConfig:
        """The config of a parsed ScaledObject and its parsed kafka trigger (`trigger_index` says
        which of its triggers that is)."""
        return cls(
            trigger=trigger,
            spec=definition.spec,
            behavior=definition.behavior,
            pause=definition.pause,
            controller=controller,
            use_cached_metrics=definition.triggers[trigger.trigger_index].use_cached_metrics,
            mode=mode,
            fixes=fixes,
        )

    @property
    def hpa(self) -> HpaSpec:
        """The HPA KEDA builds from this ScaledObject and trigger."""
        return hpa_spec_for(
            self.spec, self.trigger, self.behavior, pause=self.pause, controller=self.controller
        )
