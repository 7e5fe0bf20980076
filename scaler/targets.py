"""What the scaling loop acts on: a thing whose replica count can be read and set."""

from __future__ import annotations

from typing import Protocol


class TargetError(Exception):
    """Reading or setting replicas failed. `retriable` says whether trying again may help."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class ReplicaTarget(Protocol):
    """A workload the scaler sizes: a Deployment, local consumer processes, or a log line."""

    @property
    def name(self) -> str:
        """Human-readable identity, e.g. `deployment/default/consumer`."""
        ...

    def current_replicas(self) -> int:
        """The replica count the target wants right now (spec, not ready pods)."""
        ...

    def set_replicas(self, replicas: int) -> None:
        """Ask for `replicas`; raises TargetError when it cannot."""
        ...
