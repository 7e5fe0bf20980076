"""`lagscale render`: stdout vs numbered files, secret masking on a terminal, nothing written on error."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from lagscale.cli import main
from lagscale.render import cli as render_cli

SECRET_KEY = "zzTopSecretKeyValue0="
CONNECTION_STRING = (
    f"Endpoint=sb://cli-ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey={SECRET_KEY}"
)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*arguments: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["render", *arguments], env=env or {"EVENTHUBS_CONNECTION_STRING": ""})
    return result.exit_code, result.stdout, result.stderr


def test_stdout_is_one_stream_of_every_object() -> None:
    code, out, _ = run("--profile", "eventhubs")
    assert code == 0
    kinds = [document["kind"] for document in yaml.safe_load_all(out)]
    assert kinds == ["Secret", "TriggerAuthentication", "Deployment", "ScaledObject", "Job"]
    assert out.startswith("---\n# 1-secret.yaml\n")


def test_files_are_numbered_in_apply_order(tmp_path: Path) -> None:
    code, _, err = run("--profile", "eventhubs", "-o", str(tmp_path))
    assert code == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "1-secret.yaml",
        "2-trigger-auth.yaml",
        "3-consumer.yaml",
        "4-scaledobject.yaml",
        "5-producer-job.yaml",
    ]
    assert "wrote" in err


def test_files_of_an_earlier_render_are_removed_and_reported(tmp_path: Path) -> None:
    assert run("--profile", "kafka", "--set", "scaler.mode=external", "-o", str(tmp_path))[0] == 0
    assert (tmp_path / "6-scaler.yaml").exists()
    (tmp_path / "README.md").write_text("notes\n")
    code, _, err = run("--profile", "kafka", "-o", str(tmp_path))
    assert code == 0
    assert not (tmp_path / "6-scaler.yaml").exists()
    assert f"removed {tmp_path / '6-scaler.yaml'}" in err.splitlines()
    assert (tmp_path / "README.md").exists()


USER_INGRESS = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: my-ingress
"""


@pytest.mark.parametrize("filename", ["7-my-ingress.yaml", "6-scaler.yaml"])
def test_a_users_numbered_file_survives_a_render(tmp_path: Path, filename: str) -> None:
    # Neither a file with another name nor one of our names without our managed-by label is ours.
    (tmp_path / filename).write_text(USER_INGRESS)
    code, _, err = run("--profile", "kafka", "-o", str(tmp_path))
    assert code == 0
    assert (tmp_path / filename).read_text() == USER_INGRESS
    assert "removed" not in err


def test_bad_values_exit_2_with_every_problem_and_write_nothing(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(
        "--profile",
        "kafka",
        "-o",
        str(out_dir),
        "--set",
        "keda.lagThreshold=0",
        "--set",
        "keda.minReplicaCount=20",
    )
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1  # one line
    assert "keda.lagThreshold: must be greater than 0, got 0" in err
    assert "keda.minReplicaCount: (20) must not exceed keda.maxReplicaCount (10)" in err
    assert not out_dir.exists()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        # each once wrote a manifest the API server or KEDA rejects, with exit 0 (or a traceback)
        ("keda.idleReplicaCount=abc", "keda.idleReplicaCount: expected an integer or null, got a string"),
        ("keda.idleReplicaCount=1.5", "keda.idleReplicaCount: expected an integer or null, got a number"),
        ("consumer.resources={limits: 5}", "consumer.resources.limits: expected a mapping of resource name"),
    ],
)
def test_values_kubernetes_or_keda_would_reject_write_nothing(
    tmp_path: Path, setting: str, expected: str
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(
        "--profile", "kafka", "-o", str(out_dir), "--set", "keda.minReplicaCount=2", "--set", setting
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err
    assert not out_dir.exists()


def test_bad_values_leave_existing_files_untouched(tmp_path: Path) -> None:
    assert run("--profile", "kafka", "-o", str(tmp_path))[0] == 0
    before = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert run("--profile", "kafka", "-o", str(tmp_path), "--set", "nope=1")[0] == 2
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == before


def test_connection_string_from_environment_is_written_to_pipes_and_files(tmp_path: Path) -> None:
    env = {"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING}
    code, out, err = run("--profile", "eventhubs", env=env)
    assert code == 0
    assert SECRET_KEY in out  # not a terminal: `| kubectl apply -f -` needs the real value
    assert SECRET_KEY not in err
    assert run("--profile", "eventhubs", "-o", str(tmp_path), env=env)[0] == 0
    assert SECRET_KEY in (tmp_path / "1-secret.yaml").read_text()
    assert "cli-ns.servicebus.windows.net:9093" in (tmp_path / "4-scaledobject.yaml").read_text()


def test_terminal_output_masks_secrets_unless_show_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(render_cli, "_stdout", lambda: terminal)
    arguments = ["--profile", "eventhubs", "--set", f"eventhubs.connectionString={CONNECTION_STRING}"]
    assert run(*arguments)[0] == 0
    shown = terminal.getvalue()
    assert SECRET_KEY not in shown
    assert "password: '***'" in shown
    terminal.seek(0)
    terminal.truncate()
    assert run(*arguments, "--show-secrets")[0] == 0
    assert SECRET_KEY in terminal.getvalue()


def test_kafka_password_is_masked_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(render_cli, "_stdout", lambda: terminal)
    assert (
        run("--profile", "kafka", "--set", "kafka.sasl=plaintext", "--set", "kafka.password=hunter22")[0] == 0
    )
    assert "hunter22" not in terminal.getvalue()


def test_should_mask_only_terminals() -> None:
    assert render_cli.should_mask(_Terminal(), show_secrets=False)
    assert not render_cli.should_mask(_Terminal(), show_secrets=True)
    assert not render_cli.should_mask(io.StringIO(), show_secrets=False)


def test_ignore_env_keeps_placeholders() -> None:
    code, out, _ = run(
        "--profile", "eventhubs", "--ignore-env", env={"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING}
    )
    assert code == 0
    assert SECRET_KEY not in out
    assert "<EVENTHUBS_NAMESPACE>" in out


def test_values_file_option(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("keda:\n  lagThreshold: 77\n")
    code, out, _ = run("--profile", "kafka", "--values", str(values), "--set", "keda.maxReplicaCount=3")
    assert code == 0
    scaled = next(d for d in yaml.safe_load_all(out) if d["kind"] == "ScaledObject")
    assert scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] == "77"
    assert scaled["spec"]["maxReplicaCount"] == 3


def test_eventhubs_without_a_connection_string_warns_about_placeholders() -> None:
    code, out, err = run("--profile", "eventhubs")
    assert code == 0
    assert "<KEY>" in out
    assert err.splitlines() == [render_cli.MISSING_CONNECTION_STRING]


@pytest.mark.parametrize(
    ("arguments", "env"),
    [
        (["--ignore-env"], {"EVENTHUBS_CONNECTION_STRING": ""}),  # `make render`: placeholders on purpose
        ([], {"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING}),
        (["--set", f"eventhubs.connectionString={CONNECTION_STRING}"], {"EVENTHUBS_CONNECTION_STRING": ""}),
    ],
)
def test_no_placeholder_warning_with_a_connection_string_or_ignore_env(
    arguments: list[str], env: dict[str, str]
) -> None:
    code, _, err = run("--profile", "eventhubs", *arguments, env=env)
    assert code == 0
    assert "warning" not in err
