"""What the scaling loop decided at one evaluation, and why: the loop's only output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["keda", "direct"]
MODES: tuple[Mode, ...] = ("keda", "direct")
Path = Literal["poll", "hpa"]


@dataclass(frozen=True)
class PartitionLagSample:
    """One partition's lag at an evaluation (for per-partition metrics)."""

    topic: str
    partition: int
    lag: int


@dataclass(frozen=True)
class Decision:
    """One evaluation and what was done about it. `reason` says why, in words."""

    time: float
    mode: Mode
    path: Path
    active: bool
    metric: float | None
    total_lag: int | None
    current: int
    desired: int
    reason: str
    error: str | None = None
    partitions: tuple[PartitionLagSample, ...] = ()
    duration_seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return self.desired != self.current

    def fields(self) -> dict[str, Any]:
        """The key=value fields of the log line (also printed by `scale --once`)."""
        return {
            "mode": self.mode,
            "path": self.path,
            "active": str(self.active).lower(),
            "metric": "-" if self.metric is None else f"{self.metric:g}",
            "total_lag": "-" if self.total_lag is None else self.total_lag,
            "current": self.current,
            "desired": self.desired,
            "reason": self.reason,
        }
