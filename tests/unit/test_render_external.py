"""External-scaler mode with credentials: KEDA forwards no TriggerAuthentication to an external
scaler, so the lagscale scaler must read the credentials Secret itself (LAGSCALE_GRPC_AUTH_DIR)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lagscale.render.manifests import as_stream, render_manifests
from lagscale.render.values import merge_values
from scaler.grpc.auth_sets import read_auth_dir
from scaler.keda.trigger import parse_trigger

CONNECTION_STRING = (
    "Endpoint=sb://ext-ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=extKey0="
)
EXTERNAL_WITH_CREDENTIALS = {
    "eventhubs": ("eventhubs", ["scaler.mode=external", f"eventhubs.connectionString={CONNECTION_STRING}"]),
    "kafka-sasl": ("kafka", ["scaler.mode=external", "kafka.sasl=plaintext", "kafka.password=hunter22"]),
}


def documents(profile: str, overrides: list[str]) -> list[dict[str, Any]]:
    values = merge_values(profile, overrides=overrides, environ={})
    return [d for d in yaml.safe_load_all(as_stream(render_manifests(profile, values))) if d]


def find(rendered: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in rendered if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {len(found)}"
    return found[0]


def auth_dir_of(pod: dict[str, Any]) -> tuple[str, str]:
    """(LAGSCALE_GRPC_AUTH_DIR, the name of the Secret mounted there) of the scaler pod."""
    container = pod["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    directory = env["LAGSCALE_GRPC_AUTH_DIR"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == directory)
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return directory, volume["secret"]["secretName"]


@pytest.mark.parametrize("case", sorted(EXTERNAL_WITH_CREDENTIALS))
def test_external_scaler_mounts_the_credentials_secret_as_its_auth_dir(case: str) -> None:
    rendered = documents(*EXTERNAL_WITH_CREDENTIALS[case])
    secret = find(rendered, "Secret")
    pod = find(rendered, "Deployment", "scaler")["spec"]["template"]["spec"]
    directory, secret_name = auth_dir_of(pod)
    assert secret_name == secret["metadata"]["name"]
    assert directory.startswith("/etc/")  # not under the writable /tmp emptyDir
    assert not [d for d in rendered if d["kind"] == "TriggerAuthentication"]  # KEDA would not forward it


def test_eventhubs_external_trigger_plus_mounted_secret_parse_as_sasl_over_tls(tmp_path: Path) -> None:
    rendered = documents(*EXTERNAL_WITH_CREDENTIALS["eventhubs"])
    metadata = find(rendered, "ScaledObject")["spec"]["triggers"][0]["metadata"]
    _, mounted = auth_dir_of(find(rendered, "Deployment", "scaler")["spec"]["template"]["spec"])
    string_data = find(rendered, "Secret", mounted)["stringData"]
    for key, value in string_data.items():  # what the kubelet puts in the mounted directory
        (tmp_path / key).write_text(value, encoding="utf-8")
    auth_params = read_auth_dir(tmp_path)
    assert auth_params == string_data
    trigger = parse_trigger(metadata, auth_params)
    assert (trigger.sasl, trigger.tls) == ("plaintext", "enable")
    assert trigger.username == "$ConnectionString"
    assert trigger.password == CONNECTION_STRING
    assert trigger.bootstrap_servers == ("ext-ns.servicebus.windows.net:9093",)


@pytest.mark.parametrize(
    ("profile", "overrides"),
    [("kafka", ["scaler.mode=external"]), ("eventhubs", ["scaler.mode=standalone"])],
)
def test_scaler_without_credentials_or_outside_external_mode_has_no_auth_dir(
    profile: str, overrides: list[str]
) -> None:
    pod = find(documents(profile, overrides), "Deployment", "scaler")["spec"]["template"]["spec"]
    names = [item["name"] for item in pod["containers"][0]["env"]]
    assert "LAGSCALE_GRPC_AUTH_DIR" not in names
    assert [volume["name"] for volume in pod["volumes"]] == ["tmp"]
