"""LeaderGatedTarget: only the Lease holder writes replicas; standbys read and log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scaler.errors import TargetError
from scaler.loop.replicas import DryRunTarget
from scaler.targets.leader_gate import LeaderGatedTarget

T0 = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


class FakeElector:
    identity = "pod-a"
    renew_seconds = 5

    def __init__(self) -> None:
        self.leading = False
        self.fail_with: TargetError | None = None
        self.released = False

    def is_leader(self, now: datetime) -> bool:
        return self.leading

    def try_acquire_or_renew(self, now: datetime) -> bool:
        if self.fail_with is not None:
            raise self.fail_with
        return self.leading

    def release(self) -> None:
        self.released = True


def test_standby_reads_but_does_not_write(caplog: pytest.LogCaptureFixture) -> None:
    inner, elector = DryRunTarget(2), FakeElector()
    gated = LeaderGatedTarget(inner, elector, now=lambda: T0)
    with caplog.at_level("INFO", logger="scaler.leader"):
        gated.set_replicas(5)
    assert gated.current_replicas() == 2
    assert inner.history == []
    assert [r.getMessage() for r in caplog.records if r.name == "scaler.leader"] == ["standby_skip"]


def test_leader_writes_and_transitions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    inner, elector = DryRunTarget(0), FakeElector()
    gated = LeaderGatedTarget(inner, elector, now=lambda: T0)
    elector.leading = True
    with caplog.at_level("INFO", logger="scaler.leader"):
        assert gated.renew_once()
        gated.set_replicas(3)
        elector.fail_with = TargetError("cannot reach the Kubernetes API server", retriable=True)
        assert not gated.renew_once()
    assert inner.history == [3]
    leader_events = [r.getMessage() for r in caplog.records if r.name == "scaler.leader"]
    assert leader_events == ["leader_acquired", "lease_error", "leader_lost"]


def test_close_releases_the_lease() -> None:
    elector = FakeElector()
    gated = LeaderGatedTarget(DryRunTarget(0), elector, now=lambda: T0)
    gated.close()
    assert elector.released
