"""What every command shares: each option reads LAGSCALE_<OPTION> and --help says so; older env var
names still work; plots fail before a run when matplotlib is missing; tables are never cut."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kafkakit.cli_options import EnvOption, envvar_for
from lagscale.cli import main

COMMANDS = ("produce", "consume", "lag", "scale", "serve-grpc", "render", "demo", "simulate")


def command(name: str) -> click.Command:
    found = main.get_command(click.Context(main), name)
    assert found is not None
    return found


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_reads_lagscale_option_and_help_shows_it(name: str) -> None:
    options = [param for param in command(name).params if isinstance(param, click.Option)]
    undeclared = [
        param.name for param in options if param.name != "help" and not isinstance(param, EnvOption)
    ]
    assert undeclared == []
    help_text = CliRunner().invoke(main, [name, "--help"], terminal_width=200).output
    for option in options:
        if option.name == "help":
            continue
        rule = envvar_for(next(opt for opt in option.opts if opt.startswith("--")))
        assert rule in (option.envvar or []), option.name
        assert rule in help_text, f"{name} --help does not show {rule}"


def test_one_flag_one_variable_across_commands() -> None:
    seen: dict[str, set[str]] = {}
    for name in COMMANDS:
        for param in command(name).params:
            if isinstance(param, EnvOption):
                seen.setdefault(param.opts[0], set()).add(envvar_for(param.opts[0]))
    assert all(len(names) == 1 for names in seen.values())
    assert "--min-replica-count" in seen  # one spelling everywhere (--min-replicas is a hidden alias)
    assert "--min-replicas" not in CliRunner().invoke(main, ["scale", "--help"], terminal_width=200).output


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LAGSCALE_LOAD", "constant:7"),
        ("LAGSCALE_SIMULATE_LOAD", "constant:7"),  # documented before the one rule: once silently ignored
        ("LAGSCALE_SIMULATE_LOAD_TEXT", "constant:7"),  # what used to work instead
    ],
)
def test_simulate_reads_its_documented_variables(variable: str, value: str) -> None:
    result = CliRunner().invoke(main, ["simulate", "--duration", "30", "--json"], env={variable: value})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["load"] == "constant 7/s"


def test_a_bad_value_from_the_environment_names_the_variable() -> None:
    result = CliRunner().invoke(main, ["simulate", "--json"], env={"LAGSCALE_PARTITIONS": "many"})
    assert result.exit_code == 2
    assert "'--partitions' (from LAGSCALE_PARTITIONS)" in result.output


def test_an_older_flag_spelling_still_works() -> None:
    args = ["simulate", "--duration", "30", "--json", "--min-replicas", "2", "--max-replicas", "3"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"][0]["max_replicas_seen"] == 3


def test_the_simulate_table_is_not_cut_at_80_columns() -> None:
    # A pipe (or a narrow terminal) is 80 columns to rich; the table is wider and must stay whole.
    result = CliRunner().invoke(main, ["simulate", "--compare", "--duration", "60"], terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "peak lag" in line)
    for column in ("replica-seconds", "scaling events", "max replicas", "final replicas", "final lag"):
        assert column in header
    assert max(len(line) for line in lines) > 80
    assert sum(1 for line in lines if line.startswith("│ keda")) == 2  # one line per run, not wrapped


@pytest.fixture
def without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if matplotlib were not installed (`import matplotlib` fails)."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.mark.usefixtures("without_matplotlib")
def test_simulate_plot_without_matplotlib_fails_before_the_run_with_the_hint(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", "--plot", str(tmp_path / "run.png")])
    assert result.exit_code == 1
    assert result.stdout == ""  # no table: nothing ran
    assert result.stderr.startswith("error: plots need matplotlib: pip install matplotlib")
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("without_matplotlib")
def test_demo_without_matplotlib_fails_before_looking_for_a_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAGSCALE_STATE", str(tmp_path))  # no broker to be found, none to start
    result = CliRunner().invoke(main, ["demo", "--no-start-broker", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.startswith("error: plots need matplotlib")  # not "no broker answers"
    assert not (tmp_path / "out").exists()
