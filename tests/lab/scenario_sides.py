"""The two scalers a KEDA scenario runs side by side on the same offsets, each scaling a Deployment
of its own: the real KEDA (operator + metrics adapter + the HPA controller) and lagscale's own loop
(`lagscale scale --config <the same ScaledObject> --target kubernetes`, a separate process).

Each side answers one question the scenario checks: which metric did the scaler compute last. KEDA's
comes from the operator's `keda_scaler_metrics_value` gauge (set on every poll and every HPA query),
lagscale's from the last `event=decision` line of its log.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from offsets_helpers import env_without_connection_settings

from lab.lab_env import REPO, LabEnv, LabError

KEDA_METRICS_URL = f"http://127.0.0.1:{os.environ.get('KEDA_METRICS_PORT', '18080')}/metrics"
_CACHE_SECONDS = 0.4


class KedaGauges:
    """The operator's Prometheus page, fetched at most every 0.4 s for all scenarios at once."""

    def __init__(self, url: str = KEDA_METRICS_URL) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._text = ""
        self._fetched = 0.0

    def _page(self) -> str:
        with self._lock:
            if time.monotonic() - self._fetched > _CACHE_SECONDS:
                try:
                    with urllib.request.urlopen(self.url, timeout=5) as response:
                        self._text = response.read().decode()
                except OSError as error:
                    raise LabError(
                        f"the KEDA operator's metrics ({self.url}) do not answer: {error}"
                    ) from None
                self._fetched = time.monotonic()
            return self._text

    def metric(self, namespace: str, scaled_object: str) -> float | None:
        """`keda_scaler_metrics_value` of the ScaledObject (one trigger), or None before its first poll."""
        wanted = (f'namespace="{namespace}"', f'scaledObject="{scaled_object}"')
        for line in self._page().splitlines():
            if line.startswith("keda_scaler_metrics_value{") and all(part in line for part in wanted):
                return float(line.rsplit(" ", 1)[1])
        return None


@dataclass(frozen=True)
class KedaSide:
    """Real KEDA: it scales the Deployment the ScaledObject names."""

    gauges: KedaGauges
    namespace: str
    scaled_object: str
    deployment: str
    name: str = "keda"

    def metric(self) -> float | None:
        return self.gauges.metric(self.namespace, self.scaled_object)

    def describe(self) -> str:
        return f"KEDA's HPA keda-hpa-{self.scaled_object} and operator"


class LagscaleSide:
    """`lagscale scale` in keda mode on the same ScaledObject YAML, scaling its own Deployment, with
    the lab's HPA controller settings (kube-controller-manager's sync period and stabilization)."""

    name = "lagscale"

    def __init__(self, lab: LabEnv, scaled_object_file: Path, namespace: str, deployment: str) -> None:
        self.namespace = namespace
        self.deployment = deployment
        self.log_path = scaled_object_file.with_suffix(".lagscale.log")
        self.argv = [
            sys.executable, "-m", "lagscale", "scale", "--config", str(scaled_object_file),
            "--target", "kubernetes", "--name", deployment, "--namespace", namespace,
            "--kubeconfig", lab.kubeconfig, "--timeout", "5",
            "--hpa-sync-period", str(duration_seconds(lab.hpa_sync_period)),
            "--hpa-downscale-stabilization", str(duration_seconds(lab.hpa_downscale_stabilization)),
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start it; returns after its first decision (a failure names the part and shows its log)."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=env_without_connection_settings(),
            )
        deadline = time.monotonic() + timeout
        while not self.decisions():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"`lagscale scale` for {self.namespace} did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def decisions(self) -> list[dict[str, str]]:
        """Its `event=decision` log lines, as fields."""
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text(errors="replace")
        return [_fields(line) for line in text.splitlines() if " event=decision " in line]

    def metric(self) -> float | None:
        decisions = self.decisions()
        if self.process is not None and self.process.poll() is not None:
            raise LabError(f"`lagscale scale` exited ({self.process.returncode}):\n{self.log_tail()}")
        value = decisions[-1].get("metric", "-") if decisions else "-"
        return None if value == "-" else float(value)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def describe(self) -> str:
        return f"`lagscale scale` (log {self.log_path})"

    def stop(self) -> None:
        """SIGTERM, as a pod would get it; SIGKILL if it has not ended 20 s later."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _fields(line: str) -> dict[str, str]:
    try:
        return dict(item.partition("=")[::2] for item in shlex.split(line))
    except ValueError:  # a line cut while being written
        return {}


def duration_seconds(duration: str) -> int:
    """kube-controller-manager's duration flags as the lab writes them: "5s", "15s", "1m0s"."""
    total, number = 0, ""
    for char in duration:
        if char.isdigit():
            number += char
        else:
            total += int(number or 0) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return total + int(number or 0)
