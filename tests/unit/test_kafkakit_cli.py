"""kafkakit's CLI pieces: one-line errors for every entry point, option types and checks that say
what to change, environment variables for every flag, and signal handling."""

from __future__ import annotations

import os
import signal

import click
import pytest
from click.testing import CliRunner

from consumer.cli import consume
from kafkakit.cli_options import Number, exit_with_one_line_errors, required_text, run_command
from kafkakit.signals import stop_on_signals
from lagscale.cli import main
from producer.cli import produce


@click.command()
@click.option("--rate", type=Number(0, "events per second"), default=0.0)
@click.option(
    "--group", envvar=["KAFKA_EVENTHUB_CONSUMER_GROUP"], callback=required_text("consumer group id")
)
@click.option("--fail", is_flag=True)
def sample(rate: float, group: str, fail: bool) -> None:
    if fail:
        raise click.ClickException("it broke:\n  - first problem\n  - second problem")
    click.echo(f"rate={rate} group={group}")


def run_sample(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        exit_with_one_line_errors(lambda: sample.main(args, "sample", standalone_mode=False))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (
            ["--rate", "fast", "--group", "g"],
            2,
            "--rate must be a number of events per second ≥ 0 (got 'fast')",
        ),
        (
            ["--rate", "nan", "--group", "g"],
            2,
            "--rate must be a number of events per second ≥ 0 (got 'nan')",
        ),
        ([], 2, "missing --group: pass --group <consumer group id> or set KAFKA_EVENTHUB_CONSUMER_GROUP"),
        (["--group", " "], 2, "--group must not be empty: pass the consumer group id or set"),
        (["--group", "g", "--bogus"], 2, "No such option '--bogus'"),
        (["--group", "g", "--fail"], 1, "it broke: first problem; second problem"),
    ],
)
def test_errors_are_one_line_with_exit_2_for_usage_and_1_for_the_rest(
    args: list[str],
    code: int,
    error: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KAFKA_EVENTHUB_CONSUMER_GROUP", raising=False)
    exit_code, out, err = run_sample(args, capsys)
    assert exit_code == code
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert error in err


def test_success_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sample(["--group", "g", "--rate", "2.5"], capsys)[:2] == (0, "rate=2.5 group=g\n")
    exit_code, out, _ = run_sample(["--help"], capsys)
    assert exit_code == 0
    assert "--rate" in out


def test_run_command_is_the_python_m_entry_point(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["producer"])
    with pytest.raises(SystemExit) as exited:
        run_command(produce, "python -m producer")
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")  # no --topic (or no --bootstrap)


def test_the_lagscale_group_reports_subcommand_errors_in_one_line() -> None:
    result = CliRunner().invoke(main, ["consume", "--bootstrap", "h:1", "--topic", "t"], env={})
    assert result.exit_code == 2
    assert result.output == (
        "error: missing --group: pass --group <consumer group id> or set KAFKA_EVENTHUB_CONSUMER_GROUP\n"
    )


def test_a_list_of_choices_reads_as_one_list() -> None:
    result = CliRunner().invoke(main, ["render"], env={})
    assert result.exit_code == 2
    assert "Choose from: eventhubs, kafka" in result.output


@pytest.mark.parametrize("command", [produce, consume], ids=["produce", "consume"])
def test_every_flag_can_come_from_an_environment_variable(command: click.Command) -> None:
    without = [
        param.name
        for param in command.params
        if isinstance(param, click.Option) and param.name != "help" and not param.envvar
    ]
    assert without == []


def test_progress_interval_comes_from_lagscale_progress_interval() -> None:
    options = {param.name: param for param in produce.params}
    assert options["progress_interval"].envvar == ["LAGSCALE_PROGRESS_INTERVAL"]
    assert options["flush_timeout"].default == 10.0  # well below Kubernetes' 30 s grace period


def test_signals_set_the_stop_event_until_the_block_ends() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # a second one during cleanup changes nothing
        assert stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is before
