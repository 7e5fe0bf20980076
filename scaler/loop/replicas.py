"""What the scaling loop acts on: a thing whose replica count can be read and set, and the
in-memory one (`--target dry-run`, and the loop's tests) that only remembers and logs."""

from __future__ import annotations

import logging
from typing import Protocol

from kafkakit.logs import log_event

_log = logging.getLogger("scaler.dry_run")


class ReplicaTarget(Protocol):
    """A workload the scaler sizes: a Deployment, local consumer processes, or a log line.
    `set_replicas` raises scaler.errors.TargetError when it cannot."""

    @property
    def name(self) -> str:
        """Human-readable identity, e.g. `deployment/default/consumer`."""
        ...

    def current_replicas(self) -> int:
        """The replica count the target wants right now (spec, not ready pods)."""
        ...

    def set_replicas(self, replicas: int) -> None:
        """Ask for `replicas`."""
        ...


class DryRunTarget:
    """Holds a replica count in memory; every change is logged and kept in `history`."""

    def __init__(self, initial_replicas: int = 0, name: str = "dry-run") -> None:
        if initial_replicas < 0:
            raise ValueError(f"initial replicas must be >= 0, got {initial_replicas}")
        self._name = name
        self._replicas = initial_replicas
        self.history: list[int] = []

    @property
    def name(self) -> str:
        return self._name

    def current_replicas(self) -> int:
        return self._replicas

    def set_replicas(self, replicas: int) -> None:
        log_event(_log, "dry_run_scale", target=self._name, current=self._replicas, desired=replicas)
        self._replicas = replicas
        self.history.append(replicas)

    def close(self) -> None:
        """Nothing to release; present so every target can be closed the same way."""
