"""What the local demo has seen so far, shared between the scaling-loop thread and the screen.

The loop thread records each decision; the main thread adds the group's member count and takes
snapshots to draw. One lock guards both, so a snapshot never mixes two decisions.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Protocol

from lagscale.timeline import Sample, Timeline, decision_sample
from scaler.loop.decision import Decision

RECENT_DECISIONS = 8


@dataclass(frozen=True)
class DemoSnapshot:
    """Everything the live view draws, at one moment."""

    elapsed: float
    partitions: int
    lag_threshold: int
    partition_lags: tuple[int, ...]
    total_lag: int | None
    metric: float | None
    active: bool
    desired: int
    current: int
    members: int | None
    max_replicas_seen: int
    producer_done: bool
    recent: tuple[Decision, ...]

    @property
    def phase(self) -> str:
        if self.max_replicas_seen == 0:
            return "waiting for the first poll to see lag"
        if self.current == 0:
            return "scaled back to 0" if self.producer_done else "scaled to 0, producer still running"
        if self.total_lag:
            return "consuming the backlog"
        return "caught up: waiting for the HPA and the cooldown to scale in"


class DemoObserver(Protocol):
    """Where the demo reports: a rich live view, or plain log lines."""

    def started(self, topic: str, group: str) -> None: ...

    def decision(self, point: Decision) -> None: ...

    def refresh(self, snapshot: DemoSnapshot) -> None: ...

    def stopping(self, outcome: str) -> None: ...


class DemoState:
    def __init__(self, partitions: int, lag_threshold: int, started: float) -> None:
        self.partitions = partitions
        self.lag_threshold = lag_threshold
        self.started = started
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self._decisions: list[Decision] = []
        self._members: int | None = None
        self._producer_done = False

    def record(self, decision: Decision, replicas_now: int) -> Decision:
        """Called by the loop thread after each decision was applied (`replicas_now` is after it);
        returns the decision with its time counted from the demo's start."""
        point = dataclasses.replace(decision, time=round(decision.time - self.started, 3))
        with self._lock:
            lag = self._samples[-1].total_lag if self._samples else 0
            self._samples.append(decision_sample(point, replicas_now, lag, ready=self._members or 0))
            self._decisions.append(point)
        return point

    def update_members(self, members: int | None, producer_done: bool) -> None:
        with self._lock:
            if members is not None:
                self._members = members
            self._producer_done = producer_done

    def last_decision_failed(self) -> bool:
        with self._lock:
            return bool(self._decisions) and self._decisions[-1].total_lag is None

    def scaled_back_to_zero(self) -> bool:
        """True once replicas went above 0 and the latest decision left them at 0."""
        with self._lock:
            went_up = any(sample.current > 0 for sample in self._samples)
            return went_up and self._samples[-1].current == 0

    def snapshot(self, now: float) -> DemoSnapshot:
        with self._lock:
            last = self._samples[-1] if self._samples else None
            latest = self._decisions[-1] if self._decisions else None
            return DemoSnapshot(
                elapsed=now - self.started,
                partitions=self.partitions,
                lag_threshold=self.lag_threshold,
                partition_lags=last.partition_lags if last else (),
                total_lag=last.total_lag if last else None,
                metric=last.metric if last else None,
                active=latest.active if latest else False,
                desired=latest.desired if latest else 0,
                current=last.current if last else 0,
                members=self._members,
                max_replicas_seen=max((s.current for s in self._samples), default=0),
                producer_done=self._producer_done,
                recent=tuple(self._decisions[-RECENT_DECISIONS:]),
            )

    def timeline(self, label: str) -> Timeline:
        with self._lock:
            return Timeline(
                label=label,
                partitions=self.partitions,
                lag_threshold=self.lag_threshold,
                max_replicas=self.partitions,
                samples=list(self._samples),
                decisions=list(self._decisions),
            )
