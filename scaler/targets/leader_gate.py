"""Only the leader writes: a ReplicaTarget wrapper for running several scaler replicas (HA).

Every replica keeps evaluating, so a standby has warm state (lastActiveTime, HPA history) when it
takes over; only the holder of the Lease changes replicas. The Lease is renewed from a thread every
`renew_seconds`, independent of the polling interval (which may be longer than the lease).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from kafkakit.logs import log_event
from scaler.errors import TargetError
from scaler.loop.replicas import ReplicaTarget

_log = logging.getLogger("scaler.leader")


class Elector(Protocol):
    """What `scaler.targets.leader.LeaderElector` offers (a fake in unit tests)."""

    identity: str
    renew_seconds: int

    def is_leader(self, now: datetime) -> bool: ...

    def try_acquire_or_renew(self, now: datetime) -> bool: ...

    def release(self) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LeaderGatedTarget:
    """Reads always; `set_replicas` acts only while the elector leads, and is skipped (logged) else."""

    def __init__(
        self, target: ReplicaTarget, elector: Elector, now: Callable[[], datetime] = _utc_now
    ) -> None:
        self._target = target
        self._elector = elector
        self._now = now
        self._leading = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self._target.name

    def current_replicas(self) -> int:
        return self._target.current_replicas()

    def set_replicas(self, replicas: int) -> None:
        if not self._elector.is_leader(self._now()):
            log_event(
                _log, "standby_skip", target=self.name, desired=replicas, identity=self._elector.identity
            )
            return
        self._target.set_replicas(replicas)

    def renew_once(self) -> bool:
        """One acquire-or-renew round; logs when leadership changes hands."""
        try:
            leading = self._elector.try_acquire_or_renew(self._now())
        except TargetError as error:
            log_event(_log, "lease_error", logging.ERROR, error=str(error), retriable=error.retriable)
            leading = False
        if leading != self._leading:
            event = "leader_acquired" if leading else "leader_lost"
            log_event(_log, event, identity=self._elector.identity, target=self.name)
        self._leading = leading
        return leading

    def start(self) -> None:
        """Take the lease now if free, then keep renewing in a daemon thread."""
        self.renew_once()
        self._thread = threading.Thread(target=self._renew_forever, name="lease-renewal", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop renewing and hand the lease back, so a standby need not wait for it to expire."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self._elector.release()
        except TargetError as error:
            log_event(_log, "lease_release_failed", logging.WARNING, error=str(error))

    def _renew_forever(self) -> None:
        while not self._stop.wait(self._elector.renew_seconds):
            self.renew_once()
