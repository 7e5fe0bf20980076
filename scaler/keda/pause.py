"""KEDA's pause annotations on a ScaledObject: what they stop, in the executor and in the HPA.

`paused` / `paused-replicas` stop autoscaling altogether (KEDA stops the scale loop and deletes the
HPA); `paused-scale-in` / `paused-scale-out` stop one direction, in the executor and in the HPA.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafkakit.errors import ConfigError, Problem
from scaler.keda._params import go_parse_bool, go_parse_int32
from scaler.keda.behavior import HpaBehavior

PAUSED = "autoscaling.keda.sh/paused"
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
PAUSED_SCALE_IN = "autoscaling.keda.sh/paused-scale-in"
PAUSED_SCALE_OUT = "autoscaling.keda.sh/paused-scale-out"


@dataclass(frozen=True)
class Pause:
    """The pause annotations that are in force; the default pauses nothing."""

    paused: bool = False
    replicas: int | None = None
    """paused-replicas: scale to this count once, then hold."""
    scale_in: bool = False
    scale_out: bool = False

    @property
    def stops_autoscaling(self) -> bool:
        """paused or paused-replicas: no executor decision and no HPA."""
        return self.paused or self.replicas is not None


NO_PAUSE = Pause()


def parse_pause(annotations: Mapping[str, Any]) -> Pause:
    """The pause state of metadata.annotations; ConfigError names the annotation that is wrong."""
    paused = False
    if PAUSED in annotations:
        # KEDA: a value that is not a Go boolean still pauses ("the user wants to pause").
        paused = go_parse_bool(str(annotations[PAUSED]).strip()) is not False
    replicas = None
    if PAUSED_REPLICAS in annotations:
        text = str(annotations[PAUSED_REPLICAS]).strip()
        replicas = go_parse_int32(text)
        if replicas is None or replicas < 0:
            where = f"metadata.annotations.{PAUSED_REPLICAS}"
            raise ConfigError(Problem(where, f'must be a replica count such as "0", got {text!r}'))
    return Pause(
        paused=paused,
        replicas=replicas,
        scale_in=str(annotations.get(PAUSED_SCALE_IN, "")).strip() == "true",
        scale_out=str(annotations.get(PAUSED_SCALE_OUT, "")).strip() == "true",
    )


def disable_paused_directions(behavior: HpaBehavior | None, pause: Pause) -> HpaBehavior | None:
    """KEDA sets selectPolicy Disabled on the HPA direction a paused-scale-in/-out annotation stops."""
    if not pause.scale_in and not pause.scale_out:
        return behavior
    result = behavior or HpaBehavior()
    if pause.scale_in:
        down = dataclasses.replace(result.scale_down, select_policy="Disabled")
        result = dataclasses.replace(result, scale_down=down)
    if pause.scale_out:
        up = dataclasses.replace(result.scale_up, select_policy="Disabled")
        result = dataclasses.replace(result, scale_up=up)
    return result
