"""The scaler's errors at its two runtime boundaries; settings problems are kafkakit's ConfigError.

`retriable` tells the loop whether the next poll may succeed on its own (a broker restart, a
coordinator move, an API server blip) or whether a person has to act (a missing topic, a missing
permission).
"""

from __future__ import annotations

from kafkakit.errors import BrokerError, LagscaleError


class OffsetsError(BrokerError):
    """A connected client could not read the offsets; the whole evaluation fails, as in KEDA.
    (A client that cannot connect at all raises kafkakit's BrokerError.)"""


def topic_not_found(topic: str, *, committed_by: str = "") -> OffsetsError:
    """The trigger's topic does not exist (KEDA never creates it)."""
    if committed_by:
        # No `topic` in the trigger: the group still holds commits for a deleted topic.
        advice = f"group {committed_by!r} has commits for it: delete them, or set `topic` in the trigger"
    else:
        advice = "create it, or fix `topic` in the trigger"
    return OffsetsError(f"topic {topic!r} does not exist: {advice}", retriable=False)


class TargetError(LagscaleError):
    """Reading or setting replicas failed (Kubernetes API, local processes)."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable
