"""A Kafka broker of a test's own (scripts/kafka with its own state directory and free ports),
for tests that stop and restart it: the shared broker of the other tests must stay up."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from lagscale.demo.local_broker import parse_env_file

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO_ROOT / "scripts" / "kafka"
LISTENERS = ("PLAINTEXT", "CONTROLLER", "SASL", "SSL", "OAUTH")


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now (held open together, so they differ)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


class OwnBroker:
    """`run("up")`, `run("down")` (data kept), `run("down", "--purge")`; `bootstrap` once up."""

    def __init__(self, state: Path) -> None:
        ports = zip(LISTENERS, free_ports(len(LISTENERS)), strict=True)
        self.env = dict(os.environ, LAGSCALE_STATE=str(state))
        self.env.update({f"LAGSCALE_KAFKA_{name}_PORT": str(port) for name, port in ports})
        # No OAUTHBEARER listener, and no OpenID provider at the port it would ask: the broker
        # starts alone, as `lagscale demo` starts it on a machine that has only Java.
        self.env.update(LAGSCALE_KAFKA_OAUTH="off", LAGSCALE_OIDC_PORT=str(free_ports(1)[0]))
        self.env_file = state / "kafka" / "kafka.env"

    def run(self, *verb: str) -> None:
        result = subprocess.run(
            [str(KAFKA_SCRIPT), *verb], env=self.env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"scripts/kafka {' '.join(verb)} failed:\n{result.stderr[-3000:]}"

    @property
    def bootstrap(self) -> str:
        return parse_env_file(self.env_file)["LAGSCALE_BOOTSTRAP"]
