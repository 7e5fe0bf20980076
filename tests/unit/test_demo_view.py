"""The local demo's pure parts: recording decisions, the phase shown, the screens, option checks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from lagscale.cli import main
from lagscale.demo import DemoSettings, DemoSettingsError
from lagscale.demo_cli import bootstrap_from_env_file
from lagscale.demo_state import DemoState
from lagscale.live_view import LogView, decision_line, render_snapshot
from scaler.loop import Decision, PartitionLagSample


def decision(
    at: float, current: int, desired: int, lag: int | None, reason: str, path: str = "poll"
) -> Decision:
    partitions = (
        ()
        if lag is None
        else (PartitionLagSample("t", 1, lag - lag // 2), PartitionLagSample("t", 0, lag // 2))
    )
    return Decision(
        time=at,
        mode="keda",
        path=path,  # type: ignore[arg-type]
        active=bool(lag),
        metric=None if lag is None else float(min(lag, 20)),
        total_lag=lag,
        current=current,
        desired=desired,
        reason=reason,
        partitions=partitions,
    )


def test_state_records_samples_relative_to_the_start_with_partitions_in_order() -> None:
    state = DemoState(partitions=2, lag_threshold=10, started=100.0)
    point = state.record(decision(102.0, 0, 1, 300, "activated: scale 0 -> 1"), replicas_now=1)
    assert point.time == 2.0
    snapshot = state.snapshot(now=103.0)
    assert snapshot.partition_lags == (150, 150)
    assert (snapshot.current, snapshot.desired, snapshot.total_lag) == (1, 1, 300)
    assert snapshot.elapsed == 3.0


def test_phases_follow_the_run_and_zero_is_reached_only_after_going_up() -> None:
    state = DemoState(partitions=2, lag_threshold=10, started=0.0)
    state.record(decision(1, 0, 0, 0, "inactive: nothing to do"), replicas_now=0)
    assert state.snapshot(1).phase.startswith("waiting")
    assert not state.scaled_back_to_zero()
    state.record(decision(2, 0, 1, 50, "activated"), replicas_now=1)
    assert state.snapshot(2).phase == "consuming the backlog"
    state.record(decision(3, 1, 1, 0, "ScalerCooldown"), replicas_now=1)
    assert state.snapshot(3).phase.startswith("caught up")
    state.record(decision(9, 1, 0, 0, "inactive after cooldown"), replicas_now=0)
    state.update_members(0, producer_done=True)
    assert state.scaled_back_to_zero()
    assert state.snapshot(9).phase == "scaled back to 0"
    timeline = state.timeline("demo")
    assert [s.current for s in timeline.samples] == [0, 1, 1, 0]
    assert timeline.summary().scaling_events == 2


def test_a_failed_evaluation_keeps_the_last_known_lag() -> None:
    state = DemoState(partitions=2, lag_threshold=10, started=0.0)
    state.record(decision(1, 0, 1, 80, "activated"), replicas_now=1)
    state.record(decision(2, 1, 1, None, "error (1 consecutive): broker down"), replicas_now=1)
    assert state.last_decision_failed()
    assert state.timeline("demo").samples[-1].total_lag == 80


def test_live_screen_shows_partitions_numbers_and_reasons() -> None:
    state = DemoState(partitions=2, lag_threshold=10, started=0.0)
    state.record(decision(2, 0, 1, 300, "activated: scale 0 -> 1"), replicas_now=1)
    state.record(decision(2, 1, 2, 300, "HPA: ratio 2.000 outside tolerance", path="hpa"), replicas_now=2)
    console = Console(record=True, width=140, file=io.StringIO())
    console.print(render_snapshot("demo", state.snapshot(5)))
    text = console.export_text()
    assert "lag per partition" in text
    assert "total lag 300" in text
    assert "replicas desired/current 2/2" in text
    assert "activated: scale 0 -> 1" in text
    assert "1 -> 2" in text


def test_plain_lines_give_one_line_per_decision_and_per_phase_change() -> None:
    stream = io.StringIO()
    view = LogView(stream)
    state = DemoState(partitions=2, lag_threshold=10, started=0.0)
    view.started("topic-x", "group-x")
    view.decision(state.record(decision(2, 0, 1, 40, "activated: scale 0 -> 1"), replicas_now=1))
    view.refresh(state.snapshot(2))
    view.refresh(state.snapshot(3))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "topic=topic-x group=group-x"
    assert "replicas=0->1" in lines[1]
    assert "activated: scale 0 -> 1" in lines[1]
    assert lines[2:] == ["t=   2.0s phase: consuming the backlog"]


def test_decision_line_marks_unknown_values() -> None:
    state = DemoState(partitions=2, lag_threshold=10, started=0.0)
    line = decision_line(state.record(decision(4, 3, 3, None, "error: broker down"), replicas_now=3))
    assert "lag=     -" in line
    assert "metric=    -" in line
    assert "replicas=3 " in line


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"partitions": 0}, "--partitions must be at least 1"),
        ({"process_time": 0}, "--process-time must be > 0"),
        ({"burst": -1}, "--burst must be >= 0"),
        ({"burst": 0, "rate": 0}, "nothing to consume"),
    ],
)
def test_demo_settings_are_checked(changes: dict[str, float], message: str) -> None:
    with pytest.raises(DemoSettingsError, match=message):
        DemoSettings(bootstrap="127.0.0.1:19092", **changes).validate()  # type: ignore[arg-type]


def test_bad_demo_option_exits_2_before_touching_the_broker() -> None:
    result = CliRunner().invoke(main, ["demo", "--bootstrap", "127.0.0.1:1", "--partitions", "0"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --partitions must be at least 1, got 0"


def test_bootstrap_is_read_from_the_kafka_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "kafka.env"
    env_file.write_text("LAGSCALE_SASL_PASSWORD='x'\nLAGSCALE_BOOTSTRAP='127.0.0.1:19092'\n")
    assert bootstrap_from_env_file(env_file) == "127.0.0.1:19092"
    assert bootstrap_from_env_file(tmp_path / "missing.env") == ""
