"""`lagscale scale --serve-grpc` over TLS, as KEDA's external scaler dials it: a server certificate
checked against `caCert`, and with --grpc-client-ca-file a client certificate required (mutual
TLS, KEDA's `tlsClientCert`/`tlsClientKey`). The server runs as a real process; the client is a
real gRPC channel with the generated stub, asking about lag on the real broker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from offsets_helpers import env_without_connection_settings, produce
from pki_helpers import make_pki

from scaler.grpc.gen import externalscaler_pb2 as pb
from scaler.grpc.gen import externalscaler_pb2_grpc as pb_grpc

pytestmark = pytest.mark.kafka
CALL_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, the scaler's server certificate for 127.0.0.1, KEDA's client certificate, and a client
    certificate from another CA."""
    return make_pki(tmp_path_factory.mktemp("pki"), "IP:127.0.0.1,DNS:localhost")


def start_scaler(port: int, *tls_args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scaler", "--serve-grpc", f"127.0.0.1:{port}", *tls_args],
        stderr=subprocess.PIPE,
        text=True,
        env=env_without_connection_settings(),
    )


@pytest.fixture
def mtls_scaler(pki: Path, free_port: Callable[[], int]) -> Iterator[int]:
    port = free_port()
    process = start_scaler(port, "--grpc-cert-file", str(pki / "server.pem"), "--grpc-key-file",
                           str(pki / "server.key"), "--grpc-client-ca-file", str(pki / "ca.pem"))  # fmt: skip
    assert process.stderr is not None
    banner = next((line for line in process.stderr if line.startswith("serving ")), "")
    assert "over TLS (client certificates required)" in banner, banner
    yield port
    process.terminate()
    assert process.wait(30) == 0


def channel(port: int, pki: Path, client: str | None, ca: Path | None = None) -> grpc.Channel:
    key = (pki / f"{client}.key").read_bytes() if client else None
    cert = (pki / f"{client}.pem").read_bytes() if client else None
    credentials = grpc.ssl_channel_credentials((ca or pki / "ca.pem").read_bytes(), key, cert)
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials)


def metric(open_channel: grpc.Channel, metadata: dict[str, str]) -> int:
    stub = pb_grpc.ExternalScalerStub(open_channel)
    ref = pb.ScaledObjectRef(name="orders", namespace="tls", scalerMetadata=metadata)
    request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName="")
    return int(stub.GetMetrics(request, timeout=CALL_TIMEOUT_S).metricValues[0].metricValue)


def test_keda_with_ca_and_client_certificate_gets_the_metric(
    kafka, mtls_scaler: int, pki: Path, make_topic, unique_name
) -> None:
    topic = make_topic("grpc-tls", partitions=2)
    produce(kafka.bootstrap, topic, {0: 7, 1: 5})
    metadata = {"bootstrapServers": kafka.bootstrap, "consumerGroup": unique_name("g"), "topic": topic,
                "offsetResetPolicy": "earliest"}  # fmt: skip
    with channel(mtls_scaler, pki, "keda") as tls:
        assert metric(tls, metadata) == 12


@pytest.mark.parametrize("client", [None, "stranger"])
def test_without_a_trusted_client_certificate_the_call_fails(
    mtls_scaler: int, pki: Path, client: str | None
) -> None:
    source = pki / "other" if client else pki
    with (
        channel(mtls_scaler, source, client, ca=pki / "ca.pem") as untrusted,
        pytest.raises(grpc.RpcError) as failure,
    ):
        metric(untrusted, {"bootstrapServers": "127.0.0.1:1", "consumerGroup": "g"})
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_plaintext_client_gets_nothing(mtls_scaler: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{mtls_scaler}") as plain, pytest.raises(grpc.RpcError) as failure:
        metric(plain, {"bootstrapServers": "127.0.0.1:1", "consumerGroup": "g"})
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--grpc-cert-file", "{pki}/server.pem"], "--grpc-key-file: is required for TLS"),
        (["--grpc-cert-file", "{pki}/missing.pem", "--grpc-key-file", "{pki}/server.key"],
         "--grpc-cert-file: cannot read"),
        (["--grpc-cert-file", "{pki}/server.ext", "--grpc-key-file", "{pki}/server.key"],
         "--grpc-cert-file: {pki}/server.ext is not PEM"),
        (["--grpc-cert-file", "{pki}/keda.pem", "--grpc-key-file", "{pki}/server.key"],
         "are not a PEM certificate and its private key"),
        (["--grpc-cert-file", "{pki}/server.pem", "--grpc-key-file", "{pki}/server.key",
          "--grpc-client-ca-file", "{pki}/server.key"], "--grpc-client-ca-file:"),
    ],
)  # fmt: skip
def test_bad_certificate_files_are_one_line_naming_the_flag(
    pki: Path, free_port: Callable[[], int], args: list[str], expected: str
) -> None:
    process = start_scaler(free_port(), *(arg.format(pki=pki) for arg in args))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert expected.format(pki=pki) in lines[0]
