"""`scaler.grpcTls`: TLS between KEDA and the external scaler in the rendered manifests. The
scaler's flags must name files its projected volume holds, taken from the right Secret keys, and
KEDA's TriggerAuthentication must hand it the matching external scaler parameters."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from kafkakit.errors import ConfigError
from lagscale.render.manifests import as_stream, render_manifests, write_manifests
from lagscale.render.values import merge_values


def pem(kind: str, body: str) -> str:
    """PEM-shaped text (the manifests carry it verbatim; the scaler parses it at start)."""
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


CA, SERVER_CERT, CLIENT_CERT = (
    pem("CERTIFICATE", "Q0E="),
    pem("CERTIFICATE", "U0VS"),
    pem("CERTIFICATE", "Q0xJ"),
)
SERVER_KEY, CLIENT_KEY = pem("PRIVATE KEY", "c2tleQ=="), pem("PRIVATE KEY", "Y2tleQ==")
EXTERNAL_TLS = ["scaler.mode=external", "scaler.grpcTls.enabled=true"]
INLINE = [
    *EXTERNAL_TLS,
    f"scaler.grpcTls.ca={CA}",
    f"scaler.grpcTls.serverCert={SERVER_CERT}",
    f"scaler.grpcTls.serverKey={SERVER_KEY}",
    f"scaler.grpcTls.clientCert={CLIENT_CERT}",
    f"scaler.grpcTls.clientKey={CLIENT_KEY}",
]
NAMED = [*EXTERNAL_TLS, "scaler.grpcTls.serverSecret=scaler-cert", "scaler.grpcTls.clientSecret=keda-cert"]


def rendered(overrides: list[str], profile: str = "kafka", *, masked: bool = False) -> dict[str, Any]:
    values = merge_values(profile, overrides=overrides, environ={})
    documents = yaml.safe_load_all(as_stream(render_manifests(profile, values, masked=masked)))
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in documents if d}


def scaler_pod(objects: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = objects["Deployment/lagscale-scaler"]["spec"]["template"]["spec"]
    return pod


def flag_files(pod: dict[str, Any]) -> dict[str, str]:
    """`--grpc-*-file` flag -> path, from the scaler container's args."""
    args = pod["containers"][0]["args"]
    return {flag: path for flag, path in itertools.pairwise(args) if flag.startswith("--grpc-")}


def projected_files(pod: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Path in the container -> (Secret, key), as the kubelet projects the scaler's TLS volume."""
    container = pod["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "grpc-tls")
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == "grpc-tls")
    return {
        f"{mount['mountPath']}/{item['path']}": (source["secret"]["name"], item["key"])
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


def secret_refs(objects: dict[str, Any]) -> dict[str, tuple[str, str]]:
    refs = objects["TriggerAuthentication/lagscale-scaler-auth"]["spec"]["secretTargetRef"]
    return {ref["parameter"]: (ref["name"], ref["key"]) for ref in refs}


def test_inline_pems_render_both_secrets_and_every_side_reads_the_right_keys() -> None:
    objects = rendered(INLINE)
    server, client = objects["Secret/lagscale-scaler-tls"], objects["Secret/lagscale-keda-client-tls"]
    assert (server["type"], client["type"]) == ("kubernetes.io/tls", "kubernetes.io/tls")
    assert server["stringData"] == {"tls.crt": SERVER_CERT, "tls.key": SERVER_KEY, "ca.crt": CA}
    assert client["stringData"] == {"tls.crt": CLIENT_CERT, "tls.key": CLIENT_KEY, "ca.crt": CA}

    pod = scaler_pod(objects)
    files = projected_files(pod)
    flags = flag_files(pod)
    assert {flag: files[path] for flag, path in flags.items()} == {
        "--grpc-cert-file": ("lagscale-scaler-tls", "tls.crt"),
        "--grpc-key-file": ("lagscale-scaler-tls", "tls.key"),
        "--grpc-client-ca-file": ("lagscale-keda-client-tls", "ca.crt"),
    }
    assert ("lagscale-keda-client-tls", "tls.key") not in files.values()  # KEDA's key stays KEDA's

    assert secret_refs(objects) == {
        "caCert": ("lagscale-scaler-tls", "ca.crt"),
        "tlsClientCert": ("lagscale-keda-client-tls", "tls.crt"),
        "tlsClientKey": ("lagscale-keda-client-tls", "tls.key"),
    }
    (trigger,) = objects["ScaledObject/lagscale-consumer"]["spec"]["triggers"]
    assert trigger["metadata"]["enableTLS"] == "true"
    assert trigger["authenticationRef"] == {"name": "lagscale-scaler-auth"}


def test_named_secrets_are_used_as_they_are_and_none_is_rendered() -> None:
    objects = rendered(NAMED)
    assert not [name for name in objects if name.startswith("Secret/")]
    assert secret_refs(objects) == {
        "caCert": ("scaler-cert", "ca.crt"),
        "tlsClientCert": ("keda-cert", "tls.crt"),
        "tlsClientKey": ("keda-cert", "tls.key"),
    }
    assert sorted(set(projected_files(scaler_pod(objects)).values())) == [
        ("keda-cert", "ca.crt"),
        ("scaler-cert", "tls.crt"),
        ("scaler-cert", "tls.key"),
    ]


def test_a_named_server_secret_and_an_inline_client_certificate_mix() -> None:
    overrides = [
        *EXTERNAL_TLS,
        "scaler.grpcTls.serverSecret=scaler-cert",
        f"scaler.grpcTls.ca={CA}",
        f"scaler.grpcTls.clientCert={CLIENT_CERT}",
        f"scaler.grpcTls.clientKey={CLIENT_KEY}",
    ]
    objects = rendered(overrides)
    assert [name for name in objects if name.startswith("Secret/")] == ["Secret/lagscale-keda-client-tls"]
    assert secret_refs(objects)["caCert"] == ("scaler-cert", "ca.crt")


def test_without_client_auth_keda_gets_only_the_ca_and_the_scaler_asks_no_certificate() -> None:
    objects = rendered([*EXTERNAL_TLS, "scaler.grpcTls.clientAuth=false", "scaler.grpcTls.serverSecret=s"])
    assert secret_refs(objects) == {"caCert": ("s", "ca.crt")}
    pod = scaler_pod(objects)
    assert sorted(flag_files(pod)) == ["--grpc-cert-file", "--grpc-key-file"]
    assert {secret for secret, _ in projected_files(pod).values()} == {"s"}


def test_external_mode_without_tls_dials_plaintext() -> None:
    objects = rendered(["scaler.mode=external"])
    (trigger,) = objects["ScaledObject/lagscale-consumer"]["spec"]["triggers"]
    assert "enableTLS" not in trigger["metadata"]
    assert "authenticationRef" not in trigger
    assert not [name for name in objects if "scaler-auth" in name or "-tls" in name]
    assert not flag_files(scaler_pod(objects))


def test_with_kafka_credentials_the_only_trigger_authentication_is_the_tls_one() -> None:
    """KEDA forwards no Kafka credentials to an external scaler: they stay a mounted directory."""
    objects = rendered([*NAMED, "kafka.sasl=plaintext", "kafka.password=hunter22"])
    assert [name for name in objects if name.startswith("TriggerAuthentication/")] == [
        "TriggerAuthentication/lagscale-scaler-auth"
    ]
    mounts = [mount["name"] for mount in scaler_pod(objects)["containers"][0]["volumeMounts"]]
    assert mounts == ["tmp", "kafka-auth", "grpc-tls"]


def test_keys_are_masked_on_a_terminal_and_certificates_are_not() -> None:
    objects = rendered(INLINE, masked=True)
    for name in ("Secret/lagscale-scaler-tls", "Secret/lagscale-keda-client-tls"):
        data = objects[name]["stringData"]
        assert data["tls.key"] == "***"
        assert data["tls.crt"].startswith("-----BEGIN CERTIFICATE-----")


def test_pem_text_renders_as_a_literal_block_line_for_line() -> None:
    values = merge_values("kafka", overrides=INLINE, environ={})
    text = next(m.text for m in render_manifests("kafka", values) if m.filename.endswith("-grpc-tls.yaml"))
    assert (
        "  tls.key: |-\n    -----BEGIN PRIVATE KEY-----\n    c2tleQ==\n    -----END PRIVATE KEY-----\n"
        in text
    )


def test_the_tls_file_comes_before_the_consumer_and_goes_when_tls_is_turned_off(tmp_path: Path) -> None:
    values = merge_values("kafka", overrides=INLINE, environ={})
    manifests = render_manifests("kafka", values)
    names = [manifest.filename for manifest in manifests]
    assert names.index("3-grpc-tls.yaml") < names.index("4-consumer.yaml")
    write_manifests(manifests, tmp_path)
    plain = render_manifests("kafka", merge_values("kafka", overrides=["scaler.mode=external"], environ={}))
    removed = write_manifests(plain, tmp_path).removed
    assert tmp_path / "3-grpc-tls.yaml" in removed
    assert not (tmp_path / "3-grpc-tls.yaml").exists()


@pytest.mark.parametrize(
    ("overrides", "problems"),
    [
        (
            ["scaler.grpcTls.enabled=true"],
            ["scaler.grpcTls.enabled: only the external mode serves gRPC; set scaler.mode=external"],
        ),
        (
            EXTERNAL_TLS,
            [
                "scaler.grpcTls.ca: set it (PEM text of the CA that signed the certificates)",
                "scaler.grpcTls.serverCert: set it (PEM text, or name an existing Secret in "
                "scaler.grpcTls.serverSecret)",
                "scaler.grpcTls.serverKey: set it",
                "scaler.grpcTls.clientCert: set it (PEM text, or name an existing Secret in "
                "scaler.grpcTls.clientSecret)",
                "scaler.grpcTls.clientKey: set it",
            ],
        ),
        (
            [*INLINE, "scaler.grpcTls.serverKey=not a key"],
            ["scaler.grpcTls.serverKey: is not PEM (no -----BEGIN line)"],
        ),
        (
            [*NAMED, f"scaler.grpcTls.serverCert={SERVER_CERT}", f"scaler.grpcTls.ca={CA}"],
            [
                "scaler.grpcTls.serverCert: not used with scaler.grpcTls.serverSecret",
                "scaler.grpcTls.ca: not used when every Secret is named; leave it empty",
            ],
        ),
        (
            [*NAMED, "scaler.grpcTls.clientAuth=false"],
            ["scaler.grpcTls.clientSecret: not used with scaler.grpcTls.clientAuth=false; leave it empty"],
        ),
        (
            [*NAMED, "scaler.grpcTls.clientSecret=Keda_Cert"],
            ["scaler.grpcTls.clientSecret: 'Keda_Cert' is not a Secret name"],
        ),
    ],
)
def test_unusable_tls_values_name_every_key_to_change(overrides: list[str], problems: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        merge_values("kafka", overrides=overrides, environ={})
    lines = [str(problem) for problem in raised.value.problems]
    assert len(lines) == len(problems), lines
    for line, problem in zip(lines, problems, strict=True):
        assert problem in line


def test_a_badly_typed_key_is_not_echoed(tmp_path: Path) -> None:
    values_file = tmp_path / "values.yaml"
    values_file.write_text("scaler:\n  grpcTls:\n    clientKey: [c2VjcmV0]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        merge_values(
            "kafka", [values_file], overrides=[o for o in INLINE if "clientKey" not in o], environ={}
        )
    assert "scaler.grpcTls.clientKey: expected a string, got a list" in str(raised.value)
    assert "c2VjcmV0" not in str(raised.value)
