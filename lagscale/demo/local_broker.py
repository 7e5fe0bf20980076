"""The local Kafka broker that `scripts/kafka` runs: where it writes its env file, how to read it,
and, for `lagscale demo`, starting it when none answers (and stopping it again only then)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from lagscale.demo.effects import BrokerUnreachableError, require_listening

# The repository's scripts/kafka; absent when lagscale is installed without the checkout.
KAFKA_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka"
SCRIPT_TIMEOUT_SECONDS = 600.0  # a first `up` resolves the broker's jars from Maven Central


class LocalBrokerError(RuntimeError):
    """There is no broker to use and none could be started; the message says what to do."""


def kafka_state_dir() -> Path:
    """Where scripts/kafka keeps its state (the same default as scripts/lib.sh and the Makefile)."""
    return Path(os.environ.get("LAGSCALE_STATE") or "/tmp/lagscale") / "kafka"  # noqa: S108


def kafka_env_file() -> Path:
    return kafka_state_dir() / "kafka.env"


def parse_env_file(path: Path) -> dict[str, str]:
    """The KEY='value' lines that scripts/kafka writes (values never contain a quote).
    Raises OSError when the file cannot be read, ValueError for a line of another shape."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, quoted = line.partition("=")
        if not sep or len(quoted) < 2 or quoted[0] != "'" or quoted[-1] != "'":
            raise ValueError(f"{path}:{number}: expected KEY='value'; rerun scripts/kafka up")
        values[key] = quoted[1:-1]
    return values


def bootstrap_from_env_file(path: Path) -> str:
    """LAGSCALE_BOOTSTRAP from the env file ("" when it is absent or unreadable)."""
    try:
        return parse_env_file(path).get("LAGSCALE_BOOTSTRAP", "")
    except (OSError, ValueError):
        return ""


def broker_answers(bootstrap: str) -> bool:
    try:
        require_listening(bootstrap, timeout=2.0)
    except BrokerUnreachableError:
        return False
    return True


def _run_script(script: Path, verb: str) -> int:
    # Its log lines go to stderr as they come; stdout (the addresses) is not needed here.
    completed = subprocess.run(
        [str(script), verb], stdout=subprocess.DEVNULL, timeout=SCRIPT_TIMEOUT_SECONDS, check=False
    )
    return completed.returncode


@contextlib.contextmanager
def local_broker(
    *,
    start: bool,
    notify: Callable[[str], None],
    script: Path = KAFKA_SCRIPT,
    answers: Callable[[str], bool] = broker_answers,
) -> Iterator[str]:
    """The bootstrap address of the local broker (from scripts/kafka's env file). When none
    answers and `start` is set, runs `scripts/kafka up`, and `scripts/kafka down` on exit, also
    after Ctrl+C; a broker that was already running is left alone."""
    env_file = kafka_env_file()
    bootstrap = bootstrap_from_env_file(env_file)
    if bootstrap and answers(bootstrap):
        yield bootstrap
        return
    if not start:
        where = f" at {bootstrap}" if bootstrap else ""
        raise LocalBrokerError(
            f"no broker answers{where}: run scripts/kafka up (writes {env_file}),"
            " pass --bootstrap host:port, or leave out --no-start-broker"
        )
    if not (script.is_file() and os.access(script, os.X_OK)):
        raise LocalBrokerError(
            f"no broker answers, and {script} is not there to start one (lagscale is installed without"
            " the repository's scripts): run scripts/kafka up in a checkout, or pass --bootstrap host:port"
        )
    notify("no broker answers: starting the local one (scripts/kafka up); it is stopped again at the end")
    try:
        code = _run_script(script, "up")
        bootstrap = bootstrap_from_env_file(env_file)
        if code != 0 or not bootstrap:
            raise LocalBrokerError(
                f"scripts/kafka up failed (exit {code}): see its log lines above, or scripts/kafka logs"
            )
        yield bootstrap
    finally:
        if _run_script(script, "down") != 0:
            notify("warning: scripts/kafka down failed; stop the broker with scripts/kafka down")
