"""A target that only remembers and logs what it was asked: for trying settings without side effects."""

from __future__ import annotations

import logging

from kafkakit.logs import log_event

_log = logging.getLogger("scaler.dry_run")


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
