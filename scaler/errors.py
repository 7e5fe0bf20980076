"""Errors raised at the scaler's Kafka boundary. Each message says what to change.

`retriable` tells the loop whether the next poll may succeed on its own (a broker restart, a
coordinator move) or whether a person has to act (a missing topic, unsupported SASL mode).
"""

from __future__ import annotations


class ScalerError(Exception):
    """Base of every error the scaler raises on purpose."""


class ConnectionSettingsError(ScalerError, ValueError):
    """The trigger's connection settings cannot be turned into a client configuration."""


class OffsetsError(ScalerError):
    """Offsets could not be read; the whole evaluation fails, as in KEDA."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class BrokerUnavailableError(OffsetsError):
    """No broker answered within the timeout, or authentication / TLS failed."""


class TopicNotFoundError(OffsetsError):
    """The trigger's topic does not exist (KEDA never creates it)."""

    def __init__(self, topic: str, *, committed_by: str = "") -> None:
        if committed_by:
            # No `topic` in the trigger: the group still holds commits for a deleted topic.
            advice = f"group {committed_by!r} has commits for it: delete them, or set `topic` in the trigger"
        else:
            advice = "create it, or fix `topic` in the trigger"
        super().__init__(f"topic {topic!r} does not exist: {advice}", retriable=False)
        self.topic = topic


class GroupOffsetsError(OffsetsError):
    """The consumer group's committed offsets could not be read (coordinator or group error)."""


class PartitionOffsetsError(OffsetsError):
    """One partition returned an error; KEDA fails the whole evaluation rather than guess its lag."""


class TargetError(ScalerError):
    """Reading or setting replicas failed. `retriable` says whether trying again may help."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable
