"""Checking one expected replica count on both sides of a scenario at once (lab/scenario_runner.py):
first the metric the scaler reports must be the expected one (so it has read the new offsets), then
the Deployment must reach the count (spec and ready), or stay at it for the hold period. A side that
misses one expectation is marked failed, with what it did instead, and checked no further."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lab.kafka_scenarios import Expect
from lab.lab_env import LabError

METRIC_TIMEOUT_S = 30.0
REACH_TIMEOUT_S = 90.0  # KEDA's tests allow 120 s; +100 % per 15 s takes 1 -> 2 -> 4 -> 5 in 30 s
SAMPLE_INTERVAL_S = 0.5


class Side(Protocol):
    name: str
    deployment: str

    def metric(self) -> float | None: ...

    def describe(self) -> str: ...


class Timeline:
    """Spec and ready replicas of each side's Deployment, kept when they change."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.entries: dict[str, list[dict[str, float]]] = {}

    def record(self, sample: dict[str, tuple[int, int]]) -> None:
        now = round(time.monotonic() - self.started, 1)
        for side, (spec, ready) in sample.items():
            entries = self.entries.setdefault(side, [])
            if not entries or (entries[-1]["spec"], entries[-1]["ready"]) != (spec, ready):
                entries.append({"t": now, "spec": spec, "ready": ready})

    def of(self, side: str) -> list[dict[str, float]]:
        return list(self.entries.get(side, []))

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 1)


@dataclass
class SideCheck:
    """How one side fares through a scenario's expectations."""

    side: Side
    passed: bool = True
    failure: str = ""
    met: list[str] = field(default_factory=list)
    timeline: list[dict[str, float]] = field(default_factory=list)
    log_tail: str = ""

    def fail(self, expect: Expect, what: str) -> None:
        self.passed = False
        ours = "; a step of ours, not KEDA's" if expect.ours else ""
        self.failure = f"expected {expect.replicas} replicas ({expect.why}{ours}): {what}"

    def report(self, scenario: str) -> str:
        changes = ", ".join(f"{e['spec']:g} (ready {e['ready']:g}) at {e['t']:g}s" for e in self.timeline)
        lines = [
            f"scenario {scenario}, {self.side.describe()}: {self.failure}",
            "met before: " + ("; ".join(self.met) or "nothing"),
            f"replicas of {self.side.deployment}: {changes}",
        ]
        if self.log_tail:
            lines += ["lagscale's log, last lines:", self.log_tail]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "failure": self.failure, "met": self.met, "replicas": self.timeline}


@dataclass
class _Progress:
    check: SideCheck
    replicas_since: float | None = None  # when the metric matched and the replica check began


def check_expectation(
    expect: Expect,
    checks: list[SideCheck],
    sample: Callable[[], dict[str, tuple[int, int]]],
    hold_seconds: float,
) -> None:
    """Check `expect` on every side that has passed so far, in the same sampling loop."""
    started = time.monotonic()
    pending = [_Progress(check) for check in checks if check.passed]
    while pending:
        replicas = sample()
        now = time.monotonic()
        for progress in list(pending):
            done = _advance(expect, progress, replicas[progress.check.side.name], now - started, hold_seconds)
            if done:
                pending.remove(progress)
        if pending:
            time.sleep(SAMPLE_INTERVAL_S)


def _advance(
    expect: Expect, progress: _Progress, replicas: tuple[int, int], waited: float, hold: float
) -> bool:
    """One look at one side; True once this side passed or failed `expect`."""
    check = progress.check
    if progress.replicas_since is None:
        try:
            metric = check.side.metric()
        except LabError as error:
            check.fail(expect, str(error))
            return True
        if metric is not None and math.isclose(metric, expect.metric, abs_tol=1e-3):
            progress.replicas_since = waited
        elif waited > METRIC_TIMEOUT_S:
            check.fail(expect, f"its metric stayed {metric} for {waited:.0f}s, expected {expect.metric:g}")
            return True
        else:
            return False
    spec, ready = replicas
    if expect.hold:
        if spec != expect.replicas:
            check.fail(expect, f"went to {spec} within the {hold:g}s hold (metric {expect.metric:g})")
            return True
        if waited - progress.replicas_since >= hold:
            check.met.append(f"held {spec} at metric {expect.metric:g}")
            return True
        return False
    if spec == ready == expect.replicas:
        check.met.append(f"reached {spec} at metric {expect.metric:g} after {waited:.0f}s")
        return True
    if waited > REACH_TIMEOUT_S:
        check.fail(expect, f"still at {spec} (ready {ready}) after {waited:.0f}s, metric {expect.metric:g}")
        return True
    return False
