"""The scaling options, declared once for every command that has them (`lag`, `scale`, `simulate`,
`demo`), and the names they give KEDA's settings: a problem KEDA's rules find with `lagThreshold`
is reported as one with `--lag-threshold`.

Trigger flags become KEDA trigger metadata *text* (scaler.cli.settings), so KEDA's own parser
judges them once; ScaledObject flags become a ScaledObjectSpec, checked by its own rules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kafkakit.cli_options import GROUP, TOPIC, Decorator, Flag, options, seconds
from kafkakit.errors import ConfigError
from scaler.keda.fixes import FIX_NAMES, Fixes, parse_fixes
from scaler.keda.hpa import DEFAULT_CONTROLLER, HpaController
from scaler.loop.decision import MODES

if TYPE_CHECKING:
    from scaler.grpc.tls import ServerTls


@dataclass(frozen=True)
class KedaFlag:
    """A flag that stands for one KEDA setting (a trigger metadata key or a ScaledObject field)."""

    key: str
    flag: Flag

    @property
    def name(self) -> str:
        return str(self.flag.param_decls[0])


def _trigger_flag(key: str, flag: str, help: str, *aliases: str, **attrs: Any) -> KedaFlag:
    return KedaFlag(key, Flag(flag, aliases=aliases, default=None, help=help, **attrs))


def _boolean_flag(key: str, flag: str, help: str, *aliases: str) -> KedaFlag:
    return KedaFlag(key, Flag(flag, aliases=aliases, is_flag=True, default=False, help=help))


TRIGGER_FLAGS = (
    _trigger_flag(
        "lagThreshold", "--lag-threshold", "lagThreshold: target lag per replica (KEDA default 10).", type=int
    ),
    _trigger_flag(
        "activationLagThreshold",
        "--activation-lag-threshold",
        "activationLagThreshold: lag above which 0 -> 1 (default 0).",
        type=int,
    ),
    _trigger_flag(
        "offsetResetPolicy", "--offset-reset-policy", "offsetResetPolicy: latest (default) or earliest."
    ),
    _trigger_flag("partitionLimitation", "--partition-limitation", "partitionLimitation, e.g. 0,2,4-7."),
    _boolean_flag("allowIdleConsumers", "--allow-idle-consumers", "allowIdleConsumers=true."),
    _boolean_flag(
        "excludePersistentLag",
        "--exclude-persistent-lag",
        "excludePersistentLag=true (it compares successive evaluations).",
    ),
    _boolean_flag(
        "scaleToZeroOnInvalidOffset", "--scale-to-zero-on-invalid-offset", "scaleToZeroOnInvalidOffset=true."
    ),
    _boolean_flag(
        "limitToPartitionsWithLag", "--limit-to-partitions-with-lag", "limitToPartitionsWithLag=true."
    ),
    _boolean_flag(
        "ensureEvenDistributionOfPartitions",
        "--ensure-even-distribution-of-partitions",
        "ensureEvenDistributionOfPartitions=true.",
        "--ensure-even-distribution",
    ),
)


def _spec_flag(key: str, flag: str, help: str, *aliases: str) -> KedaFlag:
    return KedaFlag(key, Flag(flag, aliases=aliases, type=int, default=None, help=help))


SPEC_FLAGS = (
    _spec_flag("pollingInterval", "--polling-interval", "pollingInterval seconds (KEDA default 30)."),
    _spec_flag("cooldownPeriod", "--cooldown-period", "cooldownPeriod seconds (KEDA default 300)."),
    _spec_flag(
        "initialCooldownPeriod", "--initial-cooldown-period", "initialCooldownPeriod seconds (default 0)."
    ),
    _spec_flag(
        "minReplicaCount",
        "--min-replica-count",
        "minReplicaCount (default 0; the HPA's minimum is then 1).",
        "--min-replicas",
    ),
    _spec_flag("maxReplicaCount", "--max-replica-count", "maxReplicaCount (default 100).", "--max-replicas"),
    _spec_flag(
        "idleReplicaCount",
        "--idle-replica-count",
        "idleReplicaCount (default unset; needs --min-replica-count, as in KEDA).",
        "--idle-replicas",
    ),
    _spec_flag(
        "fallback.failureThreshold",
        "--fallback-failure-threshold",
        "fallback.failureThreshold (with --fallback-replicas).",
    ),
    _spec_flag(
        "fallback.replicas", "--fallback-replicas", "fallback.replicas (with --fallback-failure-threshold)."
    ),
)
REPLICA_BOUNDS = tuple(flag for flag in SPEC_FLAGS if flag.key in ("minReplicaCount", "maxReplicaCount"))


def keda_flag(key: str) -> Flag:
    """The flag of one KEDA setting, e.g. keda_flag("lagThreshold")(default=10) for a command with
    its own default."""
    return next(flag.flag for flag in (*TRIGGER_FLAGS, *SPEC_FLAGS) if flag.key == key)


# The other scaling settings every scaling command shares.
MODE = Flag(
    "--mode",
    type=click.Choice(MODES),
    default="keda",
    show_default=True,
    help="keda: KEDA + HPA timing exactly; direct: ceil(metric/lagThreshold) at every poll.",
)
FIXES = Flag(
    "--fixes",
    "fixes_text",
    default="",
    help=f"Opt-in KEDA quirk fixes: comma list of {', '.join(FIX_NAMES)}, or 'all'.",
)
TIMEOUT = Flag(
    "--timeout", type=seconds(0.5), default=10.0, show_default=True, help="Broker timeout, seconds."
)
JSON = Flag("--json", "as_json", is_flag=True, help="Machine output (JSON).")
CURRENT_REPLICAS = Flag(
    "--current-replicas", type=click.IntRange(min=0), help="Replicas the workload runs now."
)
CONFIG = Flag(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A KEDA ScaledObject YAML (may also hold its TriggerAuthentication and Secret), "
    "instead of the connection, trigger and ScaledObject flags.",
)
TRIGGER_AUTH = Flag(
    "--trigger-auth",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="TriggerAuthentication YAML file (repeatable; with --config).",
)
SECRET = Flag(
    "--secret",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Kubernetes Secret YAML file, data base64 or stringData (repeatable; with --config).",
)


def trigger_options() -> Decorator[Any]:
    """--group and --topic (the tutorial's variables work too), then the trigger flags."""
    return options(
        GROUP(default="", help="consumerGroup."),
        TOPIC(default="", help="topic; empty = every topic the group committed."),
        *(flag.flag() for flag in TRIGGER_FLAGS),
    )


def scaled_object_options(flags: tuple[KedaFlag, ...] = SPEC_FLAGS) -> Decorator[Any]:
    """ScaledObject fields as flags; unset ones keep KEDA's defaults."""
    return options(*(flag.flag() for flag in flags))


def config_file_options() -> Decorator[Any]:
    """--config and its --trigger-auth and --secret files."""
    return options(CONFIG(), TRIGGER_AUTH(), SECRET())


_KUBE_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


class WholeSeconds(click.ParamType[int]):
    """Whole seconds, also written as kube-controller-manager's own flags take them (`15s`, `5m0s`),
    so a cluster's setting can be copied as it is."""

    name = "seconds"

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip()
        match = None if text.isdigit() else _KUBE_DURATION.fullmatch(text)
        if not text.isdigit() and (match is None or not any(match.groups())):
            self.fail(f"{value!r}: give whole seconds (15) or a Kubernetes duration (15s, 5m0s)", param, ctx)
        hours, minutes, secs = (int(part or 0) for part in match.groups()) if match else (0, 0, int(text))
        total = hours * 3600 + minutes * 60 + secs
        if total < self.minimum:
            self.fail(f"{value!r}: must be at least {self.minimum} s", param, ctx)
        return total


# The cluster's HPA controller (kube-controller-manager flags, the same for every HPA of a cluster):
# no ScaledObject says them, so `--config` does not replace them.
HPA_SYNC_PERIOD = Flag(
    "--hpa-sync-period",
    type=WholeSeconds(1),
    default=DEFAULT_CONTROLLER.sync_period_seconds,
    show_default=True,
    help="keda mode: seconds between HPA syncs (the cluster's --horizontal-pod-autoscaler-sync-period).",
)
HPA_DOWNSCALE_STABILIZATION = Flag(
    "--hpa-downscale-stabilization",
    type=WholeSeconds(0),
    default=DEFAULT_CONTROLLER.downscale_stabilization_seconds,
    show_default=True,
    help="keda mode: the scale-down window, seconds, where the ScaledObject's behavior sets none "
    "(the cluster's --horizontal-pod-autoscaler-downscale-stabilization).",
)
HPA_TOLERANCE = Flag(
    "--hpa-tolerance",
    type=click.FloatRange(min=0),
    default=DEFAULT_CONTROLLER.tolerance,
    show_default=True,
    help="The HPA's dead band around the target (the cluster's --horizontal-pod-autoscaler-tolerance).",
)


def hpa_controller_options() -> Decorator[Any]:
    """The HPA controller's settings: sync period, downscale stabilization, tolerance."""
    return options(HPA_SYNC_PERIOD(), HPA_DOWNSCALE_STABILIZATION(), HPA_TOLERANCE())


def hpa_controller_from(
    options: Mapping[str, Any], base: HpaController = DEFAULT_CONTROLLER
) -> HpaController:
    """`base` with the HPA controller settings of `hpa_controller_options` that are set (a command
    may default one to None, e.g. the demo's sync period follows its pollingInterval)."""
    given = {
        "sync_period_seconds": options.get("hpa_sync_period"),
        "downscale_stabilization_seconds": options.get("hpa_downscale_stabilization"),
        "tolerance": options.get("hpa_tolerance"),
    }
    return dataclasses.replace(base, **{name: value for name, value in given.items() if value is not None})


# How KEDA's names read on the command line: the flag the user writes for each setting.
FLAG_OF = {
    "bootstrapServers": "--bootstrap",
    "consumerGroup": "--group",
    "topic": "--topic",
    "fixes": "--fixes",
    **{flag.key: flag.name for flag in (*TRIGGER_FLAGS, *SPEC_FLAGS)},
}


def as_flag(name: str) -> str:
    """The flag for a KEDA setting, or the setting's own name when no flag stands for it."""
    return FLAG_OF.get(name, name)


def fixes_from(text: str) -> Fixes:
    """The --fixes value, parsed (a problem names --fixes)."""
    try:
        return parse_fixes(text)
    except ConfigError as error:
        raise error.renamed(as_flag) from None


# -- TLS of the External Scaler gRPC server (`serve-grpc`, `scale --serve-grpc`) ---------------------

GRPC_CERT_FILE = Flag(
    "--grpc-cert-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Serve gRPC over TLS with this PEM certificate (chain); KEDA: enableTLS or caCert.",
)
GRPC_KEY_FILE = Flag("--grpc-key-file", type=click.Path(path_type=Path), default=None, help="Its PEM key.")
GRPC_CLIENT_CA_FILE = Flag(
    "--grpc-client-ca-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Require client certificates signed by this PEM CA (KEDA's tlsClientCert/tlsClientKey).",
)


def grpc_tls_options() -> Decorator[Any]:
    """The three gRPC TLS options, in order."""
    return options(GRPC_CERT_FILE(), GRPC_KEY_FILE(), GRPC_CLIENT_CA_FILE())


def server_tls(options: dict[str, Any]) -> ServerTls:
    """The gRPC TLS files from (and removed from) the options of `grpc_tls_options`."""
    from scaler.grpc.tls import ServerTls  # noqa: PLC0415 - grpc loads slowly; only serving needs it

    return ServerTls(
        options.pop("grpc_cert_file"), options.pop("grpc_key_file"), options.pop("grpc_client_ca_file")
    )
