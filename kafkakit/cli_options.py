"""The command-line layer every lagscale command shares: how an option is declared (once), which
environment variable it reads (one rule), the options several commands have, and how a command
ends (one `error: ...` line, exit 130 after Ctrl+C).

The environment rule: every option reads `LAGSCALE_<OPTION>` (its long name in capitals, dashes as
underscores: `--lag-threshold` reads `LAGSCALE_LAG_THRESHOLD`), and `--help` shows it. The
tutorial's `KAFKA_EVENTHUB_*` names come first where the tutorial had one. Older names (e.g.
`LAGSCALE_SCALER_LAG_THRESHOLD`) are still read, after the shown ones, but no longer shown.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from kafkakit import envvars
from kafkakit.errors import ConfigError, LagscaleError
from kafkakit.oauth import OAuthOptions
from kafkakit.profiles import (
    EVENTHUBS_AUTH_MODES,
    PROFILE_KINDS,
    SCRAM_MECHANISMS,
    ConnectionProfile,
    build_profile,
)

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]
ENV_PREFIX = "LAGSCALE_"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports after Ctrl+C


def envvar_for(flag: str) -> str:
    """The environment variable of a flag, by the one rule: `--lag-threshold` -> LAGSCALE_LAG_THRESHOLD."""
    return ENV_PREFIX + flag.split("/", maxsplit=1)[0].lstrip("-").replace("-", "_").upper()


class EnvOption(click.Option):
    """A click option that follows the environment rule and shows its variables in `--help`.

    `tutorial_envvars` are read (and shown) before the rule's name; `legacy_envvars` are read last
    and not shown; `aliases` are older spellings of the flag that still parse but are not shown.
    """

    def __init__(
        self,
        param_decls: Sequence[str],
        *,
        aliases: Sequence[str] = (),
        tutorial_envvars: Sequence[str] = (),
        legacy_envvars: Sequence[str] = (),
        **attrs: Any,
    ) -> None:
        primary = next(decl for decl in param_decls if decl.startswith("--"))
        attrs.setdefault("envvar", [*tutorial_envvars, envvar_for(primary)])
        attrs["show_envvar"] = True
        super().__init__([*param_decls, *aliases], **attrs)
        self.aliases = tuple(aliases)
        self.legacy_envvars = list(legacy_envvars)

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        value = super().resolve_envvar_value(ctx)
        if value is not None:
            return value
        return next((os.environ[name] for name in self.legacy_envvars if os.environ.get(name)), None)

    def envvar_used(self) -> str | None:
        """The variable the value came from, when it came from the environment."""
        shown = [self.envvar] if isinstance(self.envvar, str) else list(self.envvar or ())
        return next((name for name in (*shown, *self.legacy_envvars) if os.environ.get(name)), None)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        """The flag as written, and the variable only when the value came from the environment."""
        hint = " / ".join(f"'{opt}'" for opt in self.opts if opt not in self.aliases)
        from_env = (
            ctx is not None
            and self.name
            and ctx.get_parameter_source(self.name) is ParameterSource.ENVIRONMENT
        )
        used = self.envvar_used() if from_env else None
        return f"{hint} (from {used})" if used else hint

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [opt for opt in self.opts if opt not in self.aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    """`click.option` for an option only one command has, following the environment rule."""
    return click.option(*param_decls, cls=EnvOption, **attrs)


class Flag:
    """One option, declared once for every command that has it. Calling it gives the click
    decorator; a command may change the default, the help text or other attributes:

        RATE = Flag("--rate", type=Number(0, "events per second"), help="Events per second.")
        @RATE(default=20.0)
    """

    def __init__(self, *param_decls: str, **attrs: Any) -> None:
        self.param_decls = param_decls
        self.attrs = attrs

    def __call__(self, **overrides: Any) -> Callable[[F], F]:
        return click.option(*self.param_decls, cls=EnvOption, **{**self.attrs, **overrides})


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several option decorators as one, applied in the order listed (as they read)."""

    def decorate(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return decorate


def legacy_envvars(prefix: str) -> Callable[[click.Command], click.Command]:
    """Also read the names a command used before the one rule: `<prefix>_<OPTION>` for its option
    name and for each of its spellings (e.g. LAGSCALE_SCALER_MIN_REPLICAS). Not shown in --help."""

    def apply(command: click.Command) -> click.Command:
        for param in command.params:
            if isinstance(param, EnvOption) and param.name:
                spellings = [opt.lstrip("-").replace("-", "_") for opt in param.opts if opt.startswith("--")]
                names = {f"{prefix}_{name.upper()}" for name in (param.name, *spellings)}
                shown = set(param.envvar or ())
                param.legacy_envvars += sorted(name for name in names if name not in shown)
        return command

    return apply


def _option_name(param: click.Parameter | None) -> str:
    return param.opts[0] if param is not None and param.opts else "the value"


class Number(click.ParamType[float]):
    """A float of at least `minimum`; a bad value reads `--rate must be a number of events per
    second ≥ 0`, not click's `'fast' is not a valid float`."""

    name = "number"

    def __init__(self, minimum: float, unit: str) -> None:
        self.minimum = minimum
        self.unit = unit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not number >= self.minimum:  # NaN fails this too
            raise click.UsageError(
                f"{_option_name(param)} must be a number of {self.unit} ≥ {self.minimum:g} (got {value!r})",
                ctx,
            )
        return number


def required_text(what: str) -> Callable[[click.Context, click.Parameter, str | None], str]:
    """Callback for a text option that must be given and not be empty; the error names the
    option and its environment variable (click's `Missing option` names neither usefully)."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
        name = _option_name(param)
        variables = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
        where = f" or set {variables[0]}" if variables else ""
        if value is None:
            raise click.UsageError(f"missing {name}: pass {name} <{what}>{where}", ctx)
        if not value.strip():
            raise click.UsageError(f"{name} must not be empty: pass the {what}{where}", ctx)
        return value

    return check


def seconds(minimum: float) -> Number:
    """The type of a duration option: a number of seconds ≥ minimum."""
    return Number(minimum, "seconds")


# -- the connection to the cluster: every command that talks to Kafka -------------------------------

PROFILE = Flag(
    "--profile",
    "profile_kind",
    type=click.Choice(PROFILE_KINDS),
    default=None,
    help="Connection profile; default: eventhubs when a connection string is set, else plaintext.",
)
BOOTSTRAP = Flag(
    "--bootstrap", tutorial_envvars=envvars.ENDPOINT[:1], default="", help="host:port[,host:port]"
)
USERNAME = Flag("--username", tutorial_envvars=envvars.USERNAME[:1], default="", help="SASL user.")
PASSWORD = Flag("--password", tutorial_envvars=envvars.PASSWORD[:1], default="", help="SASL password.")
CONNECTION_STRING = Flag(
    "--connection-string",
    envvar=[*envvars.CONNECTION_STRING, envvar_for("--connection-string")],
    default="",
    help="Event Hubs connection string (profile eventhubs).",
)
CA_FILE = Flag("--ca-file", default="", help="PEM CA bundle for TLS.")
SCRAM_MECHANISM = Flag(
    "--scram-mechanism", type=click.Choice(SCRAM_MECHANISMS), default="SCRAM-SHA-512", show_default=True
)
TLS = Flag("--tls/--no-tls", default=False, help="Use TLS with the scram/plaintext/oauthbearer profiles.")


def _oauth_flag(flag: str, azure: str | None, help_text: str, **attrs: Any) -> Flag:
    """An OAuth option: LAGSCALE_<OPTION> first, then the AZURE_* variable that AKS workload
    identity (and the Azure SDKs) use for the same thing."""
    names = [envvar_for(flag), *([azure] if azure else [])]
    return Flag(flag, envvar=names, default="", help=help_text, **attrs)


EVENTHUBS_AUTH = Flag(
    "--eventhubs-auth",
    type=click.Choice(EVENTHUBS_AUTH_MODES),
    default="connection-string",
    show_default=True,
    help="Profile eventhubs: a connection string, or Microsoft Entra ID tokens (--oauth-*).",
)
OAUTH_TOKEN_ENDPOINT = _oauth_flag("--oauth-token-endpoint", None, "OAuth token URL (profile oauthbearer).")
OAUTH_CLIENT_ID = _oauth_flag("--oauth-client-id", "AZURE_CLIENT_ID", "OAuth client id.")
OAUTH_CLIENT_SECRET = _oauth_flag("--oauth-client-secret", "AZURE_CLIENT_SECRET", "OAuth client secret.")
OAUTH_CLIENT_ASSERTION_FILE = _oauth_flag(
    "--oauth-client-assertion-file",
    "AZURE_FEDERATED_TOKEN_FILE",
    "File with a signed JWT that authenticates the client instead of a secret (workload identity).",
)
OAUTH_SCOPE = _oauth_flag(
    "--oauth-scope", None, "Scope(s) to ask for, space-separated; eventhubs: https://<namespace>/.default."
)
OAUTH_EXTENSIONS = _oauth_flag("--oauth-extensions", None, "SASL extensions sent with the token: k=v,k=v.")
OAUTH_TOKEN_FILE = _oauth_flag("--oauth-token-file", None, "File with an access token kept fresh by others.")
OAUTH_TENANT_ID = _oauth_flag(
    "--oauth-tenant-id", "AZURE_TENANT_ID", "Entra ID tenant (eventhubs --eventhubs-auth entra)."
)
OAUTH_AUTHORITY_HOST = _oauth_flag(
    "--oauth-authority-host",
    "AZURE_AUTHORITY_HOST",
    "Entra ID authority; default https://login.microsoftonline.com.",
)

connection_options = options(
    PROFILE(),
    BOOTSTRAP(),
    USERNAME(),
    PASSWORD(),
    CONNECTION_STRING(),
    CA_FILE(),
    SCRAM_MECHANISM(),
    TLS(),
    EVENTHUBS_AUTH(),
    OAUTH_TOKEN_ENDPOINT(),
    OAUTH_CLIENT_ID(),
    OAUTH_CLIENT_SECRET(),
    OAUTH_CLIENT_ASSERTION_FILE(),
    OAUTH_SCOPE(),
    OAUTH_EXTENSIONS(),
    OAUTH_TOKEN_FILE(),
    OAUTH_TENANT_ID(),
    OAUTH_AUTHORITY_HOST(),
)
"""The connection options, in a stable order, for every command that talks to Kafka."""


def profile_from_options(options: dict[str, Any]) -> ConnectionProfile:
    """Build the profile from (and remove) the options added by `connection_options`."""
    oauth = OAuthOptions(
        token_endpoint=options.pop("oauth_token_endpoint"),
        client_id=options.pop("oauth_client_id"),
        client_secret=options.pop("oauth_client_secret"),
        scope=options.pop("oauth_scope"),
        extensions=options.pop("oauth_extensions"),
        client_assertion_file=options.pop("oauth_client_assertion_file"),
        token_file=options.pop("oauth_token_file"),
        tenant_id=options.pop("oauth_tenant_id"),
        authority_host=options.pop("oauth_authority_host"),
    )
    return build_profile(
        options.pop("profile_kind"),
        bootstrap=options.pop("bootstrap"),
        username=options.pop("username"),
        password=options.pop("password"),
        connection_string=options.pop("connection_string"),
        ca_file=options.pop("ca_file"),
        scram_mechanism=options.pop("scram_mechanism"),
        tls=options.pop("tls"),
        oauth=oauth,
        eventhubs_auth=options.pop("eventhubs_auth"),
    )


# -- options several commands share ---------------------------------------------------------------

TOPIC = Flag("--topic", tutorial_envvars=envvars.TOPIC[:1], help="Topic (Event Hub).")
GROUP = Flag("--group", tutorial_envvars=envvars.CONSUMER_GROUP[:1], help="Consumer group id.")
PARTITIONS = Flag(
    "--partitions", type=click.IntRange(min=1), default=6, show_default=True, help="Partitions of the topic."
)
RATE = Flag("--rate", type=Number(0, "events per second"), show_default=True, help="Events per second.")
BURST = Flag("--burst", type=click.IntRange(min=0), help="Events written at once at the start.")
PROCESS_TIME = Flag("--process-time", type=seconds(0), help="Seconds each consumer spends per event.")
METRICS_PORT = Flag(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    default=0,
    help="Serve /healthz and /metrics on this port (0 = off).",
)
METRICS_HOST = Flag(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address for /healthz and /metrics; 0.0.0.0 in a pod so probes and Prometheus reach it.",
)
VERBOSE = Flag("-v", "--verbose", is_flag=True, help="Debug logging.")
CONNECT_TIMEOUT = Flag(
    "--connect-timeout",
    type=seconds(1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the broker before giving up.",
)
PROGRESS_INTERVAL = Flag(
    "--progress-interval",
    type=seconds(0.1),
    default=5.0,
    show_default=True,
    help="Seconds between progress lines.",
)


# -- how a command ends ---------------------------------------------------------------------------


def one_line(message: str) -> str:
    """A multi-line message (a title and a list of problems) as one line."""
    lines = [line.strip().removeprefix("- ") for line in message.splitlines() if line.strip()]
    if len(lines) < 2:
        return "".join(lines)
    body = lines[1]
    for line in lines[2:]:
        # click lists choices one per line, each but the last ending in a comma
        body += (" " if body.endswith(",") else "; ") + line
    return f"{lines[0].rstrip(':')}: {body}"


def exit_with_one_line_errors(invoke: Callable[[], Any]) -> NoReturn:
    """Exit like click's standalone mode after `invoke` (a command's `main(...,
    standalone_mode=False)`), but report an error as the single line `error: <message>`: exit 2 for
    usage and settings errors, 1 for the others, 130 after Ctrl+C (once the command stopped)."""
    try:
        result = invoke()
    except click.exceptions.NoArgsIsHelpError as error:  # not an error: the help text
        error.show()
        sys.exit(error.exit_code)
    except click.ClickException as error:
        _fail(error.format_message(), error.exit_code)
    except ConfigError as error:
        _fail(str(error), 2)
    except LagscaleError as error:
        _fail(str(error), 1)
    except (click.Abort, KeyboardInterrupt):
        sys.exit(EXIT_INTERRUPTED)
    # main() returns a command's own exit code (ctx.exit, --help), else its result.
    sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


class OneLineErrors:
    """Mixed into a click command or group: run standalone (the command line, `python -m`, tests'
    CliRunner), it ends as `exit_with_one_line_errors` says."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        run = super().main  # type: ignore[misc]
        if standalone_mode:
            exit_with_one_line_errors(
                lambda: run(args, prog_name, complete_var, standalone_mode=False, **extra)
            )
        return run(args, prog_name, complete_var, standalone_mode=False, **extra)


class Command(OneLineErrors, click.Command):
    """A click command with one-line errors (see `command`)."""


def command(name: str) -> Callable[[Callable[..., Any]], click.Command]:
    """Declare a lagscale command: -h as well as --help, one-line errors, exit 130 after Ctrl+C."""
    return click.command(name, cls=Command, context_settings={"help_option_names": ["-h", "--help"]})


def run_command(command: click.Command, prog_name: str) -> NoReturn:
    """`python -m <package>`: run `command` with one-line errors."""
    exit_with_one_line_errors(lambda: command.main(prog_name=prog_name, standalone_mode=False))
