"""Click options for the connection, shared by `produce`, `consume`, `lag` and `scale`.

Every option can also come from an environment variable, including the tutorial's names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kafkakit import envvars
from kafkakit.errors import ConfigError
from kafkakit.profiles import PROFILE_KINDS, SCRAM_MECHANISMS, ConnectionProfile, build_profile

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--profile",
        "profile_kind",
        envvar=envvars.PROFILE,
        type=click.Choice(PROFILE_KINDS),
        default=None,
        help="Connection profile; default: eventhubs when a connection string is set, else plaintext.",
    ),
    click.option("--bootstrap", envvar=envvars.ENDPOINT, default="", help="host:port[,host:port]"),
    click.option("--username", envvar=envvars.USERNAME, default="", help="SASL user."),
    click.option("--password", envvar=envvars.PASSWORD, default="", help="SASL password.", show_envvar=True),
    click.option(
        "--connection-string",
        envvar=envvars.CONNECTION_STRING,
        default="",
        help="Event Hubs connection string (profile eventhubs).",
    ),
    click.option("--ca-file", envvar=envvars.CA_FILE, default="", help="PEM CA bundle for TLS."),
    click.option("--scram-mechanism", type=click.Choice(SCRAM_MECHANISMS), default="SCRAM-SHA-512"),
    click.option("--tls/--no-tls", default=False, help="Use TLS with the scram/plaintext profiles."),
]


def connection_options(func: F) -> F:
    """Decorate a click command with the connection options (in a stable order)."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def profile_from_options(options: dict[str, Any]) -> ConnectionProfile:
    """Build the profile from the options added by `connection_options`; bad input -> UsageError."""
    try:
        return build_profile(
            options.pop("profile_kind"),
            bootstrap=options.pop("bootstrap"),
            username=options.pop("username"),
            password=options.pop("password"),
            connection_string=options.pop("connection_string"),
            ca_file=options.pop("ca_file"),
            scram_mechanism=options.pop("scram_mechanism"),
            tls=options.pop("tls"),
        )
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
