"""The local demo's pure parts: recording decisions, the phase shown, the screens, option checks,
and when it starts (and stops) the local broker."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from kafkakit.errors import BrokerError, ConfigError, SetupError
from lagscale.cli import main
from lagscale.demo import local_broker
from lagscale.demo.local_broker import bootstrap_from_env_file
from lagscale.demo.settings import DemoSettings
from lagscale.demo.state import DemoState
from lagscale.demo.view import LogView, decision_line, render_snapshot
from scaler.loop.decision import Decision, PartitionLagSample


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
        ({"process_time": 0}, "--process-time: must be > 0"),
        ({"burst": 0, "rate": 0}, "nothing to consume"),
        ({"lag_threshold": 0}, "--lag-threshold: must be greater than 0, got 0"),  # KEDA's rule
        ({"polling_interval": 0}, "--polling-interval: must be at least 1, got 0"),  # KEDA's rule
    ],
)
def test_demo_settings_are_checked(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DemoSettings(bootstrap="127.0.0.1:19092", **changes).scaling_config()  # type: ignore[arg-type]


@pytest.mark.parametrize("bootstrap", [["--bootstrap", "127.0.0.1:1"], []])
def test_bad_demo_option_exits_2_before_touching_the_broker(
    bootstrap: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAGSCALE_STATE", str(tmp_path))  # no kafka.env: no broker to be found
    monkeypatch.delenv("LAGSCALE_BOOTSTRAP", raising=False)
    result = CliRunner().invoke(main, ["demo", *bootstrap, "--partitions", "0"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: Invalid value for '--partitions': 0 is not in the range x>=1."


def test_bootstrap_is_read_from_the_kafka_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "kafka.env"
    env_file.write_text("LAGSCALE_SASL_PASSWORD='x'\nLAGSCALE_BOOTSTRAP='127.0.0.1:19092'\n")
    assert bootstrap_from_env_file(env_file) == "127.0.0.1:19092"
    assert bootstrap_from_env_file(tmp_path / "missing.env") == ""


class FakeKafkaScript:
    """Stands in for scripts/kafka: records its verbs; `up` writes the env file."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, state: Path, exit_code: int = 0) -> None:
        self.verbs: list[str] = []
        self.exit_code = exit_code
        monkeypatch.setenv("LAGSCALE_STATE", str(state))
        monkeypatch.setattr(local_broker, "_run_script", self.run)
        monkeypatch.setattr(local_broker, "missing_tools", list)  # java, mvn, openssl: not needed here

    def run(self, script: Path, verb: str) -> int:
        self.verbs.append(verb)
        if verb == "up" and self.exit_code == 0:
            local_broker.kafka_env_file().parent.mkdir(parents=True, exist_ok=True)
            local_broker.kafka_env_file().write_text("LAGSCALE_BOOTSTRAP='127.0.0.1:29092'\n")
        return self.exit_code if verb == "up" else 0


def use_broker(*, start: bool = True, answers: bool = False, script: Path | None = None) -> str:
    notes: list[str] = []
    with local_broker.local_broker(
        start=start, notify=notes.append, script=script, answers=lambda bootstrap: answers
    ) as bootstrap:
        return bootstrap


def test_a_running_broker_is_used_and_never_started_or_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = FakeKafkaScript(monkeypatch, tmp_path)
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "kafka.env").write_text("LAGSCALE_BOOTSTRAP='127.0.0.1:19092'\n")
    assert use_broker(answers=True) == "127.0.0.1:19092"
    assert script.verbs == []


def test_no_broker_starts_one_and_stops_it_at_the_end_also_on_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = FakeKafkaScript(monkeypatch, tmp_path)
    assert use_broker() == "127.0.0.1:29092"
    assert script.verbs == ["up", "down"]
    script.verbs.clear()

    def interrupted() -> None:
        with local_broker.local_broker(start=True, notify=lambda line: None, answers=lambda b: False):
            assert script.verbs == ["up"]
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert script.verbs == ["up", "down"]


def test_a_failed_start_says_so_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = FakeKafkaScript(monkeypatch, tmp_path, exit_code=1)
    with pytest.raises(SetupError, match="scripts/kafka up failed"):
        use_broker()
    assert script.verbs == ["up", "down"]


def test_no_broker_and_no_start_or_no_scripts_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = FakeKafkaScript(monkeypatch, tmp_path)
    with pytest.raises(BrokerError, match=r"run scripts/kafka up .*--bootstrap host:port"):
        use_broker(start=False)
    with pytest.raises(SetupError, match="has no scripts/kafka to start one: pass --bootstrap"):
        use_broker(script=tmp_path / "no-such-script")
    assert script.verbs == []


def test_demo_with_no_start_broker_and_no_broker_exits_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeKafkaScript(monkeypatch, tmp_path)
    monkeypatch.delenv("LAGSCALE_BOOTSTRAP", raising=False)
    result = CliRunner().invoke(main, ["demo", "--no-start-broker", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "no broker answers" in result.output
