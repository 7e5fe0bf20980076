"""`lagscale simulate` on the command line: JSON, --compare, --config, plots, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagscale.cli import main

SCALED_OBJECT = """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders}
spec:
  scaleTargetRef: {name: consumer}
  pollingInterval: 10
  cooldownPeriod: 120
  maxReplicaCount: 3
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: kafka:9092
        consumerGroup: orders
        topic: orders
        lagThreshold: "50"
"""


def simulate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["simulate", *args])
    return result.exit_code, result.output


def test_json_output_reports_the_run() -> None:
    code, output = simulate("--load", "bursts:600@300", "--duration", "300", "--json")
    assert code == 0, output
    report = json.loads(output)
    run = report["runs"][0]
    assert run["mode"] == "keda"
    assert run["peak_lag"] == 600
    assert run["max_replicas_seen"] == 6
    assert run["scaling_events"] >= 2


def test_compare_runs_keda_keda_with_fixes_and_direct() -> None:
    code, output = simulate("--load", "bursts:3000@900", "--keys", "even", "--compare", "--json")
    assert code == 0, output
    runs = json.loads(output)["runs"]
    assert [run["label"] for run in runs] == ["keda", "keda+fixes", "direct"]
    assert runs[1]["fixes"] == ["exact_cap", "reach_partition_count", "earliest_from_log_start"]
    assert runs[2]["drain_seconds"] < runs[0]["drain_seconds"]


def test_table_output_names_each_run() -> None:
    code, output = simulate("--load", "constant:5", "--duration", "60", "--compare")
    assert code == 0, output
    for label in ("keda", "direct", "peak"):
        assert label in output


def test_config_file_supplies_the_scaled_object_and_flags_override(tmp_path: Path) -> None:
    config = tmp_path / "so.yaml"
    config.write_text(SCALED_OBJECT)
    code, output = simulate("--config", str(config), "--load", "bursts:3000@900", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert (report["lag_threshold"], report["polling_interval"]) == (50, 10)
    assert report["runs"][0]["max_replicas_seen"] == 3  # maxReplicaCount from the file
    overrides = ["--max-replica-count", "5", "--lag-threshold", "20"]
    code, output = simulate("--config", str(config), *overrides, "--json")
    report = json.loads(output)
    assert report["lag_threshold"] == 20
    assert report["runs"][0]["max_replicas_seen"] == 5


def test_plot_and_html_are_written(tmp_path: Path) -> None:
    png, page = tmp_path / "run.png", tmp_path / "run.html"
    code, output = simulate("--load", "bursts:2000@900", "--plot", str(png), "--html", str(page))
    assert code == 0, output
    assert png.read_bytes().startswith(b"\x89PNG")
    assert "<svg" in page.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--min-replica-count", "5", "--max-replica-count", "2"],
            "--min-replica-count: (5) must not exceed",
        ),
        (["--partitions", "0"], "Invalid value for '--partitions': 0 is not in the range x>=1"),
        (["--load", "constant:-5"], "RATE must be a finite number >= 0"),
        (["--load", "sine:5"], "unknown load 'sine:5'"),
        (["--load-csv", "/nonexistent/load.csv"], "cannot read load CSV"),
        (["--fixes", "faster"], "unknown fix 'faster'"),
        (["--lag-threshold", "0"], "--lag-threshold: must be greater than 0, got 0"),
        (["--metadata", "allowIdleConsumers"], "write KEY=VALUE"),
    ],
)
def test_bad_input_is_one_clear_error_with_exit_code_2(args: list[str], message: str) -> None:
    code, output = simulate(*args)
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].lower().startswith("error: ")  # click's `Error:` or the one-line `error:`
    assert message in lines[0]


def test_unreadable_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "so.yaml"
    config.write_text("kind: Deployment\n")
    code, output = simulate("--config", str(config))
    assert code == 2
    assert "so.yaml: expected exactly one ScaledObject, found 0" in output


@pytest.mark.parametrize("bad", ["--plot", "--html"])
def test_a_plot_into_a_missing_directory_fails_before_any_output(tmp_path: Path, bad: str) -> None:
    good = "--html" if bad == "--plot" else "--plot"
    good_path = tmp_path / ("fine.html" if good == "--html" else "fine.png")
    missing = tmp_path / "missing" / ("run.png" if bad == "--plot" else "run.html")
    result = CliRunner().invoke(main, ["simulate", "--compare", bad, str(missing), good, str(good_path)])
    assert result.exit_code == 2
    assert result.stdout == ""  # no table
    assert "does not exist; create it first" in result.stderr
    assert not (tmp_path / "missing").exists()  # no directory made
    assert not good_path.exists()  # and not the other file either


def test_an_unknown_metadata_key_is_a_warning_a_known_one_is_not() -> None:
    args = ["simulate", "--duration", "60", "--json", "--metadata", "lagTreshold=5"]
    result = CliRunner().invoke(main, [*args, "--metadata", "excludePersistentLag=true"])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "warning: --metadata lagTreshold: not a kafka trigger parameter, KEDA ignores it;"
        " did you mean lagThreshold?"
    ]
    assert json.loads(result.stdout)["lag_threshold"] == 10  # ignored, as KEDA would
    known = ["allowIdleConsumers=true", "bootstrapServersFromEnv=BROKERS", "sasl=plaintext"]
    result = CliRunner().invoke(main, [*args[:4], *(f"--metadata={item}" for item in known)])
    assert result.exit_code == 0
    assert result.stderr == ""
