"""`lagscale render`: the Kubernetes manifests of a profile, to stdout or to numbered files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click

from kafkakit.cli_options import command, option
from lagscale.render.manifests import as_stream, render_manifests, write_manifests
from lagscale.render.values import PROFILES, merge_values

MISSING_CONNECTION_STRING = (
    "warning: no Event Hubs connection string (set EVENTHUBS_CONNECTION_STRING or"
    " --set eventhubs.connectionString=...): the Secret gets a placeholder"
)


def _stdout() -> IO[str]:
    return sys.stdout


def should_mask(stream: IO[Any], show_secrets: bool) -> bool:
    """Mask secrets only for a human at a terminal: a pipe into `kubectl apply -f -` needs them."""
    return not show_secrets and stream.isatty()


@command("render")
@option("--profile", type=click.Choice(PROFILES), required=True, help="Which cluster the manifests target.")
@option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write numbered files (1-....yaml) here instead of one stream to stdout.",
)
@option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.SUB=VALUE",
    help="Override one value (read as YAML); repeatable, the last one wins.",
)
@option(
    "--values",
    "value_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A YAML file of values, deep-merged over the defaults; repeatable, in order.",
)
@option(
    "--show-secrets",
    is_flag=True,
    help="Print real secret values even when stdout is a terminal (files and pipes always get them).",
)
@option(
    "--ignore-env",
    is_flag=True,
    help="Do not read EVENTHUBS_CONNECTION_STRING from the environment (for committed manifests).",
)
def render(  # noqa: PLR0917 - click passes every option as an argument
    profile: str,
    output_dir: Path | None,
    overrides: tuple[str, ...],
    value_files: tuple[Path, ...],
    show_secrets: bool,
    ignore_env: bool,
) -> None:
    """Render the Kubernetes manifests of PROFILE (eventhubs or kafka).

    The Event Hubs connection string comes from --set eventhubs.connectionString=... or the
    EVENTHUBS_CONNECTION_STRING environment variable. Typical use:

        lagscale render --profile kafka | kubectl apply -f -
    """
    stdout = _stdout()
    masked = output_dir is None and should_mask(stdout, show_secrets)
    values = merge_values(profile, value_files, overrides, environ={} if ignore_env else None)
    manifests = render_manifests(profile, values, masked=masked)  # in memory: nothing written yet
    if profile == "eventhubs" and not ignore_env and not values["eventhubs"]["connectionString"]:
        click.echo(MISSING_CONNECTION_STRING, err=True)
    if output_dir is None:
        stdout.write(as_stream(manifests))
        return
    result = write_manifests(manifests, output_dir)
    for path in result.written:
        click.echo(f"wrote {path}", err=True)
    for path in result.removed:
        click.echo(f"removed {path}", err=True)
