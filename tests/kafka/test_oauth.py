"""SASL/OAUTHBEARER end to end: the real broker checks JWTs from the real OpenID Connect provider
(scripts/oidc) against its JWKS, issuer and audience. Produce, consume, lag and scale through
tokens (librdkafka's OIDC client, kafka-python's token provider, lagscale's own token source for a
client assertion and a token file), the failures a person meets, refresh before expiry, and no
secret or token in any output."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import AppKit, parse_log_lines
from offsets_helpers import env_without_connection_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import KafkaEndpoints
    from oidc_fixtures import OidcProvider

pytestmark = pytest.mark.kafka

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.")
EVENTHUBS_SCOPE = "https://lagscale-local.servicebus.windows.net/.default"


def oauth_args(kafka: KafkaEndpoints, oidc: OidcProvider, client_id: str, secret: str) -> list[str]:
    return [
        "--profile", "oauthbearer", "--bootstrap", kafka.bootstrap_oauth,
        "--oauth-token-endpoint", oidc.token_endpoint, "--oauth-client-id", client_id,
        "--oauth-client-secret", secret, "--oauth-scope", oidc.scope,
    ]  # fmt: skip


def app_args(kafka: KafkaEndpoints, oidc: OidcProvider) -> list[str]:
    return oauth_args(kafka, oidc, oidc.client_id, oidc.client_secret)


def assert_no_secrets(output: str, *secrets: str) -> None:
    """Neither a secret we know nor anything shaped like a JWT appears in `output`."""
    for secret in secrets:
        assert secret not in output
    assert not JWT.search(output), "a JWT (token or assertion) reached the output"


def python(module: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env_without_connection_settings(),
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def scaled_object(kafka: KafkaEndpoints, oidc: OidcProvider, group: str, topic: str) -> tuple[str, str]:
    """A ScaledObject, TriggerAuthentication and Secret with KEDA's oauthbearer parameter names."""
    secret = base64.b64encode(oidc.client_secret.encode()).decode()
    manifest = f"""\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: consumer-so, namespace: demo}}
spec:
  scaleTargetRef: {{name: consumer}}
  maxReplicaCount: 10
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {kafka.bootstrap_oauth}
        consumerGroup: {group}
        topic: {topic}
        lagThreshold: "20"
        offsetResetPolicy: earliest
        sasl: oauthbearer
        saslTokenProvider: bearer
      authenticationRef: {{name: kafka-oauth}}
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: {{name: kafka-oauth, namespace: demo}}
spec:
  secretTargetRef:
    - {{parameter: username, name: kafka-oauth, key: clientId}}
    - {{parameter: password, name: kafka-oauth, key: clientSecret}}
    - {{parameter: oauthTokenEndpointUri, name: kafka-oauth, key: tokenEndpoint}}
    - {{parameter: scopes, name: kafka-oauth, key: scopes}}
    - {{parameter: oauthExtensions, name: kafka-oauth, key: extensions}}
"""
    secret_yaml = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: kafka-oauth, namespace: demo}}
stringData:
  clientId: {oidc.client_id}
  tokenEndpoint: {oidc.token_endpoint}
  scopes: {oidc.scope}
  extensions: tenant=demo
data: {{clientSecret: {secret}}}
"""
    return manifest, secret_yaml


def test_produce_lag_scale_and_consume_through_tokens(
    apps: AppKit,
    kafka: KafkaEndpoints,
    oidc: OidcProvider,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = make_topic("oauth", partitions=3), unique_name("group")
    outputs = []
    for client in ("confluent", "kafka-python"):  # librdkafka's OIDC client, our token provider
        sent = python(
            "producer", *app_args(kafka, oidc), "--topic", topic, "--count", "30", "--client", client, "-v"
        )
        assert sent.returncode == 0, sent.stderr
        assert parse_log_lines(sent.stderr, "summary")[0]["delivered"] == "30"
        outputs.append(sent.stdout + sent.stderr)

    lag = python("lagscale", "lag", *app_args(kafka, oidc), "--group", group, "--topic", topic,
                 "--offset-reset-policy", "earliest", "--json")  # fmt: skip
    assert lag.returncode == 0, lag.stderr
    assert json.loads(lag.stdout)["total_lag"] == 60
    outputs.append(lag.stdout + lag.stderr)

    manifest, secret = scaled_object(kafka, oidc, group, topic)
    (tmp_path / "so.yaml").write_text(manifest)
    (tmp_path / "secret.yaml").write_text(secret)
    scale = python("scaler", "--config", str(tmp_path / "so.yaml"), "--secret", str(tmp_path / "secret.yaml"),
                   "--current-replicas", "1", "--once")  # fmt: skip
    assert scale.returncode == 0, scale.stderr
    hpa = parse_log_lines("ts=0 " + scale.stdout.strip().splitlines()[-1])[0]
    assert (hpa["metric"], hpa["desired"]) == ("60", "3")  # 60 lag / 20 per replica, 3 partitions
    outputs.append(scale.stdout + scale.stderr)

    consumed = python("consumer", *app_args(kafka, oidc), "--topic", topic, "--group", group,
                      "--process-time", "0", "--max-events", "60", "-v")  # fmt: skip
    assert consumed.returncode == 0, consumed.stderr
    assert sum(apps.committed(group, topic).values()) == 60
    outputs.append(consumed.stdout + consumed.stderr)
    assert_no_secrets("\n".join(outputs), oidc.client_secret)


def test_entra_workload_identity_shape_over_the_tls_listener(
    apps: AppKit,
    kafka: KafkaEndpoints,
    oidc: OidcProvider,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Event Hubs with Entra ID as AKS workload identity does it: a client id, a federated token
    file (here a client assertion the provider trusts), SASL_SSL + OAUTHBEARER on the listener
    shaped like Event Hubs."""
    assertion = tmp_path / "azure-identity-token"
    assertion.write_text(oidc.assertion())
    topic, group = make_topic("entra", partitions=2), unique_name("group")
    args = ["--profile", "eventhubs", "--eventhubs-auth", "entra", "--bootstrap", kafka.bootstrap_ssl,
            "--ca-file", kafka.ca_file, "--oauth-token-endpoint", oidc.token_endpoint,
            "--oauth-client-id", oidc.assertion_client_id, "--oauth-client-assertion-file", str(assertion),
            "--oauth-scope", EVENTHUBS_SCOPE]  # fmt: skip
    outputs = []
    for client in ("confluent", "kafka-python"):
        sent = python("producer", *args, "--topic", topic, "--count", "10", "--client", client, "-v")
        assert sent.returncode == 0, sent.stderr
        outputs.append(sent.stderr)
    consumed = python("consumer", *args, "--topic", topic, "--group", group, "--process-time", "0",
                      "--max-events", "20", "--no-create-dlq-topic")  # fmt: skip
    assert consumed.returncode == 0, consumed.stderr
    assert sum(apps.committed(group, topic).values()) == 20
    assert_no_secrets("\n".join([*outputs, consumed.stderr]), assertion.read_text().strip())


def test_wrong_secret_is_one_line_naming_the_client_settings(kafka, oidc, make_topic) -> None:
    topic = make_topic("oauth-bad")
    args = oauth_args(kafka, oidc, oidc.client_id, "not-the-secret")
    for module_args in (["producer", "--count", "1"], ["consumer", "--group", "g"]):
        result = python(*module_args, *args, "--topic", topic)
        line = one_error_line(result)
        assert "could not get an OAuth token" in line
        assert "invalid_client" in line
        assert "--oauth-client-id" in line
        assert_no_secrets(result.stderr, "not-the-secret")


def test_wrong_audience_is_one_line_saying_the_broker_refused_the_token(kafka, oidc, make_topic) -> None:
    topic = make_topic("oauth-aud")
    args = oauth_args(kafka, oidc, oidc.other_audience_client_id, oidc.other_audience_client_secret)
    result = python("lagscale", "lag", *args, "--group", "g", "--topic", topic)
    line = one_error_line(result)
    assert "refused the OAuth token" in line
    assert "audience" in line
    assert "invalid_token" in line
    assert_no_secrets(result.stderr, oidc.other_audience_client_secret)


def test_expired_token_is_one_line_with_when_it_expired(kafka, oidc, make_topic, tmp_path: Path) -> None:
    """A token file whose token has expired (a sidecar that stopped refreshing it)."""
    token = fetch_token(oidc.token_endpoint, oidc.short_client_id, oidc.short_client_secret)
    expires = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]
    (tmp_path / "token").write_text(token)
    deadline = time.monotonic() + oidc.short_lifetime_s + 5
    while time.time() <= expires + 1:
        assert time.monotonic() < deadline, "the short-lived token did not expire in time"
        time.sleep(0.2)
    args = ["--profile", "oauthbearer", "--bootstrap", kafka.bootstrap_oauth,
            "--oauth-token-file", str(tmp_path / "token")]  # fmt: skip
    result = python("producer", *args, "--topic", make_topic("oauth-exp"), "--count", "1")
    line = one_error_line(result)
    assert "expired at" in line
    assert "s ago" in line
    assert_no_secrets(result.stderr, token)


def fetch_token(endpoint: str, client_id: str, secret: str) -> str:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(
        endpoint,
        urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        {"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["access_token"])


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_tokens_are_refreshed_before_they_expire(
    apps: AppKit,
    kafka: KafkaEndpoints,
    oidc: OidcProvider,
    make_topic: Callable[..., str],
    client: str,
) -> None:
    """The broker ends a session when its token expires (connections.max.reauth.ms, KIP-368): a
    producer that writes for three token lifetimes delivers everything only if it re-authenticates
    with fresh tokens, fetched before the old ones expire."""
    topic = make_topic("oauth-refresh")
    lifetime = oidc.short_lifetime_s
    since = oidc.log_size()
    count = lifetime * 3 * 4  # 4 events a second for three lifetimes
    args = oauth_args(kafka, oidc, oidc.short_client_id, oidc.short_client_secret)
    producer = apps.start("producer", [*args, "--topic", topic, "--rate", "4", "--count", str(count),
                                       "--client", client])  # fmt: skip
    assert producer.wait(timeout=lifetime * 3 + 60) == 0, producer.log()
    summary = producer.events("summary")[0]
    assert (summary["delivered"], summary["failed"]) == (str(count), "0"), producer.log()
    assert not producer.events("client_error"), producer.log()
    # At least one token per lifetime: the first, and a refresh in each further lifetime.
    assert oidc.issued(oidc.short_client_id, since) >= 3
    assert sum(apps.end_offsets(topic).values()) == count
    assert_no_secrets(producer.log(), oidc.short_client_secret)
