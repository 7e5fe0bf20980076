"""What the lab exports, and the small steps every lab user needs: waiting, running `lagscale` and
kubectl as a user would, rendering the `kafka` profile, reading Kubernetes quantities."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from offsets_helpers import env_without_connection_settings

REPO = Path(__file__).resolve().parents[2]
_T = TypeVar("_T")


class LabError(RuntimeError):
    """The lab is missing or a step of the loop did not happen in time (the message says which)."""


@dataclass(frozen=True)
class LabEnv:
    """What the lab exports (scripts/lab writes it to lab.env)."""

    kubeconfig: str
    k8s_bin: Path
    bootstrap: str
    bootstrap_sasl: str
    sasl_username: str
    sasl_password: str = field(repr=False)
    state: Path
    hpa_sync_period: str
    hpa_downscale_stabilization: str

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> LabEnv:
        env = dict(os.environ) if environ is None else environ
        names = {
            "kubeconfig": "KUBECONFIG",
            "k8s_bin": "LAGSCALE_K8S_BIN",
            "bootstrap": "LAGSCALE_BOOTSTRAP",
            "bootstrap_sasl": "LAGSCALE_BOOTSTRAP_SASL",
            "sasl_username": "LAGSCALE_SASL_USERNAME",
            "sasl_password": "LAGSCALE_SASL_PASSWORD",
            "state": "LAGSCALE_LAB_STATE",
            "hpa_sync_period": "LAGSCALE_HPA_SYNC_PERIOD",
            "hpa_downscale_stabilization": "LAGSCALE_HPA_DOWNSCALE_STABILIZATION",
        }
        missing = [variable for variable in names.values() if not env.get(variable)]
        if missing:
            raise LabError(
                f"not inside a running lab ({', '.join(missing)} unset): run through "
                "`scripts/lab run <command>` (or make test), which starts the lab and exports them"
            )
        values: dict[str, Any] = {key: env[variable] for key, variable in names.items()}
        values["k8s_bin"], values["state"] = Path(values["k8s_bin"]), Path(values["state"])
        return cls(**values)


def wait_for(what: str, check: Callable[[], _T | None], timeout: float, interval: float = 0.25) -> _T:
    """Poll `check` until it returns something truthy; LabError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: _T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise LabError(f"timed out after {timeout:.0f}s waiting for {what} (last value: {last!r})")


def run_command(
    what: str, argv: list[str], stdin: str | None = None, environ: dict[str, str] | None = None
) -> str:
    """Run a command to its end; its stdout, or LabError naming `what` with the end of its stderr."""
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, cwd=REPO, env=environ
    )
    if done.returncode != 0:
        raise LabError(f"{what} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def run_lagscale(*args: str, environ: dict[str, str] | None = None) -> str:
    """`lagscale ARGS` as a user runs it (a separate process)."""
    return run_command(f"lagscale {args[0]}", [sys.executable, "-m", "lagscale", *args], environ=environ)


def produce_events(bootstrap: str, topic: str, count: int) -> None:
    """`lagscale produce --count N --rate 0 --key sequence`: N JSON events, sequence numbers 0..N-1,
    at once, through the broker's PLAINTEXT listener."""
    run_lagscale(
        *("produce", "--bootstrap", bootstrap, "--topic", topic, "--count", str(count)),
        *("--rate", "0", "--key", "sequence"),
        environ=env_without_connection_settings(),  # only the connection given here
    )


def render_kafka_profile(values: dict[str, Any]) -> list[dict[str, Any]]:
    """`lagscale render --profile kafka --values FILE`: the manifests a user would apply."""
    with tempfile.TemporaryDirectory() as directory:
        values_file = Path(directory) / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        values_file.chmod(0o600)
        rendered = run_lagscale("render", "--profile", "kafka", "--values", str(values_file))
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def quantity(text: str) -> float:
    """A Kubernetes quantity as the metrics APIs print it: "13", "13500m", "1k"."""
    match = re.fullmatch(r"(-?[0-9.]+)([munkMG]?)", text)
    if not match:
        raise ValueError(f"unexpected quantity {text!r}")
    scale = {"": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9, "k": 1e3, "M": 1e6, "G": 1e9}[match.group(2)]
    return float(match.group(1)) * scale


def kubectl(lab: LabEnv, *args: str, stdin: str | None = None) -> str:
    """The lab's kubectl (the one scripts/k8s built) against the lab's API server; its stdout."""
    argv = [str(lab.k8s_bin / "kubectl"), "--kubeconfig", lab.kubeconfig, *args]
    return run_command(f"kubectl {' '.join(args[:3])}", argv, stdin=stdin)
