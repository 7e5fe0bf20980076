"""Click pieces shared by `produce`, `consume`, `lag` and `scale`: the connection options, option
types whose errors say what to change, and the one-line error reporting of every entry point.

Every option can also come from an environment variable, including the tutorial's names.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

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
    click.option(
        "--scram-mechanism",
        envvar=envvars.SCRAM_MECHANISM,
        type=click.Choice(SCRAM_MECHANISMS),
        default="SCRAM-SHA-512",
    ),
    click.option(
        "--tls/--no-tls", envvar=envvars.TLS, default=False, help="Use TLS with the scram/plaintext profiles."
    ),
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


def seconds_option(
    flag: str, envvar: list[str] | str, default: float, minimum: float, help: str
) -> Callable[[F], F]:
    """A duration option, with the error of `Number` when it is not a number of seconds ≥ minimum."""
    return click.option(
        flag, envvar=envvar, type=Number(minimum, "seconds"), default=default, show_default=True, help=help
    )


CONNECT_TIMEOUT = seconds_option(
    "--connect-timeout",
    envvars.CONNECT_TIMEOUT,
    default=10.0,
    minimum=1,
    help="Seconds to wait for the broker before giving up.",
)
PROGRESS_INTERVAL = seconds_option(
    "--progress-interval",
    envvars.PROGRESS_INTERVAL,
    default=5.0,
    minimum=0.1,
    help="Seconds between progress lines.",
)


def _one_line(message: str) -> str:
    """A multi-line message (a title and a list of problems) as one line."""
    lines = [line.strip().removeprefix("- ") for line in message.splitlines() if line.strip()]
    if len(lines) < 2:
        return "".join(lines)
    return f"{lines[0].rstrip(':')}: {'; '.join(lines[1:])}"


def exit_with_one_line_errors(invoke: Callable[[], Any]) -> NoReturn:
    """Exit like click's standalone mode after `invoke` (a command's `main(...,
    standalone_mode=False)`), but report an error as the single line `error: <message>` instead
    of click's usage block: exit code 2 for usage errors, 1 for the others."""
    try:
        result = invoke()
    except click.exceptions.NoArgsIsHelpError as error:  # not an error: the help text
        error.show()
        sys.exit(error.exit_code)
    except click.ClickException as error:
        click.echo(f"error: {_one_line(error.format_message())}", err=True)
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(1)
    # main() returns a command's own exit code (ctx.exit, --help), else its result.
    sys.exit(result if isinstance(result, int) else 0)


def run_command(command: click.Command, prog_name: str) -> NoReturn:
    """`python -m <package>`: run `command` with one-line errors."""
    exit_with_one_line_errors(lambda: command.main(prog_name=prog_name, standalone_mode=False))
