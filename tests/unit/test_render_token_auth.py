"""Rendering the token-auth variant: KEDA's oauthbearer parameters in the Secret and the
TriggerAuthentication, the same settings in the apps' LAGSCALE_OAUTH_* variables."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kafkakit.errors import ConfigError
from lagscale.render.manifests import as_stream, render_manifests
from lagscale.render.values import merge_values

KAFKA = [
    "kafka.sasl=oauthbearer", "kafka.broker.enabled=false", "kafka.topic.create=false",
    "kafka.bootstrapServers=kafka.example:9093", "oauth.tokenEndpoint=https://idp.example/token",
    "oauth.clientId=app", "oauth.clientSecret=s3cret-value", "oauth.scopes=kafka,extra",
    "oauth.extensions=tenant=demo",
]  # fmt: skip


def documents(profile: str, overrides: list[str]) -> dict[str, dict[str, Any]]:
    values = merge_values(profile, overrides=overrides, environ={})
    rendered = yaml.safe_load_all(as_stream(render_manifests(profile, values)))
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in rendered if d}


def env_of(document: dict[str, Any]) -> dict[str, Any]:
    container = document["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_kafka_oauthbearer_has_kedas_parameters_and_the_apps_follow() -> None:
    rendered = documents("kafka", KAFKA)
    secret = rendered["Secret/lagscale-kafka-credentials"]["stringData"]
    assert secret == {
        "sasl": "oauthbearer", "tls": "disable", "saslTokenProvider": "bearer", "username": "app",
        "password": "s3cret-value", "oauthTokenEndpointUri": "https://idp.example/token",
        "scopes": "kafka,extra", "oauthExtensions": "tenant=demo",
    }  # fmt: skip
    auth = rendered["TriggerAuthentication/lagscale-kafka-auth"]["spec"]["secretTargetRef"]
    assert [(ref["parameter"], ref["key"]) for ref in auth] == [(key, key) for key in secret]
    env = env_of(rendered["Deployment/lagscale-consumer"])
    assert env["LAGSCALE_PROFILE"] == "oauthbearer"
    assert env["LAGSCALE_OAUTH_SCOPE"] == "kafka extra"  # OAuth's space-separated form
    assert env["LAGSCALE_OAUTH_CLIENT_SECRET"] == {
        "secretKeyRef": {"name": "lagscale-kafka-credentials", "key": "password"}
    }


def test_eventhubs_entra_derives_the_tenants_endpoint_and_the_namespace_scope() -> None:
    rendered = documents(
        "eventhubs",
        ["eventhubs.auth=entra", "eventhubs.host=ns1.servicebus.windows.net", "oauth.tenantId=t-1",
         "oauth.clientId=app"],
    )  # fmt: skip
    secret = rendered["Secret/lagscale-kafka-credentials"]["stringData"]
    assert secret["oauthTokenEndpointUri"] == "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
    assert secret["scopes"] == "https://ns1.servicebus.windows.net/.default"
    assert (secret["sasl"], secret["tls"], secret["password"]) == (
        "oauthbearer",
        "enable",
        "<oauth-client-secret>",
    )
    env = env_of(rendered["Deployment/lagscale-consumer"])
    assert (env["LAGSCALE_PROFILE"], env["LAGSCALE_EVENTHUBS_AUTH"]) == ("eventhubs", "entra")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("kafka.broker.enabled=true", "kafka.broker.enabled: the in-cluster broker accepts no OAuth tokens"),
        ("kafka.topic.create=true", "kafka.topic.create: the topic Job cannot log in with OAUTHBEARER"),
        ("oauth.tokenEndpoint=idp.example/token", "oauth.tokenEndpoint: 'idp.example/token' must be an http"),
        ("oauth.extensions=novalue", "oauth.extensions: 'novalue' must be key=value"),
    ],
)  # fmt: skip
def test_unusable_token_settings_name_their_key(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        merge_values("kafka", overrides=[*KAFKA, override], environ={})
