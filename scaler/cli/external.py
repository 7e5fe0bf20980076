"""The external scaler's server options, declared once for the two commands that serve it
(`lagscale serve-grpc` and `lagscale scale --serve-grpc`), and the ScalerSettings they make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kafkakit.cli_options import Decorator, Flag, options, seconds
from scaler.grpc.auth_sets import AuthSets, read_auth_dir
from scaler.grpc.scalers import ScalerSettings
from scaler.keda.fixes import Fixes

AUTH_DIR = Flag(
    "--auth-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="TriggerAuthentication parameters for every ScaledObject, one file each (e.g. a mounted Secret).",
)
AUTH_SETS = Flag(
    "--auth-sets",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Named credential sets: DIR/<namespace>/<name>/ (files as in --auth-dir), for the "
    "ScaledObjects of <namespace> whose trigger says `authName: <name>`.",
)
STREAM_INTERVAL = Flag(
    "--stream-interval",
    type=seconds(0.1),
    default=30.0,
    show_default=True,
    help="StreamIsActive check interval, seconds (metadata streamIntervalSeconds overrides).",
)
REUSE_SECONDS = Flag(
    "--reuse-seconds",
    type=seconds(0),
    default=2.0,
    show_default=True,
    help="Answer calls this close together from one evaluation (KEDA's GetMetrics + IsActive pair).",
)
MAX_SAMPLE_AGE = Flag(
    "--max-sample-age",
    type=seconds(0),
    default=5.0,
    show_default=True,
    help="Offsets an evaluation uses are at most this old (and always read after its previous "
    "poll). ScaledObjects on one connection are read together in rounds about this far apart; "
    "0 = every evaluation reads its own.",
)
FORGET_AFTER_POLLS = Flag(
    "--forget-after-polls",
    type=click.FloatRange(min=1),
    default=3.0,
    show_default=True,
    help="Forget a ScaledObject KEDA has not asked for within this many of its polling intervals "
    "(its history goes; its Kafka client closes with the connection's last ScaledObject).",
)
FORGET_MIN_SECONDS = Flag(
    "--forget-min-seconds",
    type=seconds(1),
    default=60.0,
    show_default=True,
    help="...but never sooner than this many seconds after its last call.",
)
MAX_WORKERS = Flag(
    "--max-workers",
    type=click.IntRange(min=2),
    default=32,
    show_default=True,
    help="Server threads; each open StreamIsActive (external-push) keeps one busy.",
)


def server_options(auth_dir: Decorator[Any] | None = None) -> Decorator[Any]:
    """Every server option; `auth_dir` replaces the default --auth-dir declaration."""
    return options(
        auth_dir or AUTH_DIR(),
        AUTH_SETS(),
        STREAM_INTERVAL(),
        REUSE_SECONDS(),
        MAX_SAMPLE_AGE(),
        FORGET_AFTER_POLLS(),
        FORGET_MIN_SECONDS(),
        MAX_WORKERS(),
    )


def scaler_settings(options: dict[str, Any], fixes: Fixes) -> ScalerSettings:
    """ScalerSettings from the server options (credentials read now, or named sets found later)."""
    auth_dir: Path | None = options["auth_dir"]
    auth_sets: Path | None = options["auth_sets"]
    return ScalerSettings(
        fixes=fixes,
        kafka_timeout=options["timeout"],
        stream_interval=options["stream_interval"],
        reuse_seconds=options["reuse_seconds"],
        max_sample_age=options["max_sample_age"],
        forget_after_polls=options["forget_after_polls"],
        forget_min_seconds=options["forget_min_seconds"],
        auth_params=read_auth_dir(auth_dir) if auth_dir else {},
        auth_sets=AuthSets(auth_sets) if auth_sets else None,
    )
