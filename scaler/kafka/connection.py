"""Connection settings of a KEDA `kafka` trigger, turned into a kafkakit profile + librdkafka config.

KEDA passes `ca`, `cert` and `key` as PEM *text*; librdkafka takes PEM text directly
(`ssl.ca.pem`, `ssl.certificate.pem`, `ssl.key.pem`), so nothing secret is written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafkakit.clients import confluent_config
from kafkakit.errors import ConfigError, Problem
from kafkakit.oauth import OAuthOptions
from kafkakit.profiles import ConnectionProfile, build_profile
from kafkakit.secrets import register_secret
from scaler.keda._params import MSK_IAM_PROVIDER
from scaler.keda.trigger import SASL_MODES, KafkaTrigger

_SCRAM_MECHANISM = {"scram_sha256": "SCRAM-SHA-256", "scram_sha512": "SCRAM-SHA-512"}


@dataclass(frozen=True, repr=False)
class TlsMaterial:
    """PEM text from a TriggerAuthentication (`ca`, `cert`, `key`, `keyPassword`)."""

    ca_pem: str = ""
    cert_pem: str = ""
    key_pem: str = ""
    key_password: str = ""

    def __repr__(self) -> str:
        present = [name for name in ("ca_pem", "cert_pem", "key_pem") if getattr(self, name)]
        return f"TlsMaterial(present={present})"


@dataclass(frozen=True)
class KafkaConnection:
    """How the scaler reaches the cluster: a kafkakit profile plus optional client TLS material."""

    profile: ConnectionProfile
    tls_material: TlsMaterial = field(default_factory=TlsMaterial)

    def describe(self) -> str:
        """One line that is safe to log."""
        return self.profile.describe()


def connection_from_trigger(trigger: KafkaTrigger) -> KafkaConnection:
    """Map `sasl`, `tls`, `unsafeSsl`, `username`/`password` and the PEM blobs of a trigger."""
    if trigger.sasl not in SASL_MODES:
        # A comma list passes KEDA's enum check piece by piece but then matches no mode at runtime;
        # guessing one (KEDA would still send the credentials) could pick the wrong mechanism.
        raise ConfigError(
            Problem(
                "sasl",
                f"{trigger.sasl!r} names several modes: KEDA accepts it but matches none of them; "
                "pick exactly one of none, plaintext, scram_sha256, scram_sha512 or oauthbearer",
            )
        )
    _refuse_unsupported(trigger)
    tls = trigger.tls == "enable"
    kind = _profile_kind(trigger.sasl, tls)
    try:
        profile = build_profile(
            kind,
            bootstrap=",".join(trigger.bootstrap_servers),
            username=trigger.username,
            password=trigger.password,
            scram_mechanism=_SCRAM_MECHANISM.get(trigger.sasl, "SCRAM-SHA-512"),
            tls=tls,
            verify_tls=not trigger.unsafe_ssl,
            oauth=_oauth_options(trigger) if kind == "oauthbearer" else None,
        )
    except ConfigError as error:
        raise ConfigError(error.problems, title="trigger connection settings") from None
    material = _tls_material(trigger) if tls else TlsMaterial()
    return KafkaConnection(profile, material)


def _refuse_unsupported(trigger: KafkaTrigger) -> None:
    if trigger.sasl == "gssapi":
        message = "mode 'gssapi' is not supported by lagscale (KEDA supports it, we do not)"
        raise ConfigError(
            Problem("sasl", f"{message}: use none, plaintext, scram_sha256, scram_sha512 or oauthbearer")
        )
    if trigger.sasl == "oauthbearer" and trigger.sasl_token_provider == MSK_IAM_PROVIDER:
        raise ConfigError(
            Problem(
                "saslTokenProvider",
                "aws_msk_iam is not supported by lagscale (KEDA signs MSK IAM tokens with AWS SigV4; "
                "we do not): use saslTokenProvider bearer with an OAuth client, or SCRAM",
            )
        )


def _oauth_options(trigger: KafkaTrigger) -> OAuthOptions:
    """KEDA's bearer token provider: OAuth client credentials with `username` as the client id and
    `password` as its secret. KEDA's OAuth library joins the scopes with spaces, untrimmed."""
    return OAuthOptions(
        token_endpoint=trigger.oauth_token_endpoint_uri,
        client_id=trigger.username,
        client_secret=trigger.password,
        scope=" ".join(trigger.scopes),
        extensions=",".join(f"{key}={value}" for key, value in trigger.oauth_extensions),
    )


def _profile_kind(sasl: str, tls: bool) -> str:
    if sasl in ("", "none"):
        return "plaintext"  # with tls=True the profile speaks SSL
    if sasl == "plaintext":
        return "sasl_ssl" if tls else "sasl_plain"
    if sasl == "oauthbearer":
        return "oauthbearer"
    return "scram"


def _tls_material(trigger: KafkaTrigger) -> TlsMaterial:
    for secret in (trigger.key, trigger.key_password):
        register_secret(secret)
    return TlsMaterial(trigger.ca, trigger.cert, trigger.key, trigger.key_password)


def admin_config(connection: KafkaConnection) -> dict[str, Any]:
    """librdkafka properties for an AdminClient on `connection`."""
    config = confluent_config(connection.profile, "admin")
    material = connection.tls_material
    if material.ca_pem:
        # Added to the system roots ("probe"), like KEDA adds `ca` to its root pool.
        config["ssl.ca.pem"] = material.ca_pem
    if material.cert_pem:
        config["ssl.certificate.pem"] = material.cert_pem
    if material.key_pem:
        config["ssl.key.pem"] = material.key_pem
    if material.key_password:
        config["ssl.key.password"] = material.key_password
    return config
