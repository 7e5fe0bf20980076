"""The local Kafka broker that `scripts/kafka` runs: where it writes its env file, how to read it,
and, for `lagscale demo`, starting it when none answers (and stopping it again only then).

The script comes from the checkout (scripts/kafka), or, in an installed wheel, from the copy the
build ships in this package (`broker/`: the script, its lib.sh and the broker's pom). It needs java
(17 or later), mvn for the broker's jars on first use, and openssl for its certificates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from kafkakit.errors import BrokerError, SetupError
from lagscale.demo.effects import require_listening

_PACKAGE = Path(__file__).resolve().parent
CHECKOUT_SCRIPT = _PACKAGE.parents[1] / "scripts" / "kafka"
PACKAGED_SCRIPT = _PACKAGE / "broker" / "kafka"  # written there by setup.py when a wheel is built
KAFKA_VERSION = "4.1.1"  # as in scripts/kafka, for the jar cache it fills
SCRIPT_TIMEOUT_SECONDS = 600.0  # a first `up` resolves the broker's jars from Maven Central
INSTALL_HINT = "Debian/Ubuntu: apt-get install openjdk-17-jre-headless maven openssl"


def kafka_script() -> Path | None:
    """scripts/kafka of the checkout, else the copy in the package, else None."""
    return next((script for script in (CHECKOUT_SCRIPT, PACKAGED_SCRIPT) if script.is_file()), None)


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
    except BrokerError:
        return False
    return True


def missing_tools() -> list[str]:
    """What scripts/kafka up needs and this machine lacks (mvn only while the jars are not cached)."""
    cache = Path(os.environ.get("LAGSCALE_CACHE") or Path.home() / ".cache" / "lagscale")
    jars_cached = (cache / f"kafka-{KAFKA_VERSION}" / "libs" / ".manifest").is_file()
    needed = ["bash", "java", "openssl", *([] if jars_cached else ["mvn"])]
    return [tool for tool in needed if shutil.which(tool) is None]


def _run_script(script: Path, verb: str) -> int:
    # Through bash: a wheel need not keep the executable bit. Its log lines go to stderr as they
    # come; stdout (the addresses) is not needed here.
    completed = subprocess.run(
        ["bash", str(script), verb], stdout=subprocess.DEVNULL, timeout=SCRIPT_TIMEOUT_SECONDS, check=False
    )
    return completed.returncode


def _startable(script: Path | None) -> Path:
    """The script to start a broker with, or SetupError saying what is missing."""
    if script is None or not script.is_file():
        raise SetupError(
            "no broker answers, and this installation has no scripts/kafka to start one: "
            "pass --bootstrap host:port (or set LAGSCALE_BOOTSTRAP)"
        )
    missing = missing_tools()
    if missing:
        raise SetupError(
            f"no broker answers, and starting the local one needs {', '.join(missing)}: install "
            f"{'it' if len(missing) == 1 else 'them'} ({INSTALL_HINT}), or pass --bootstrap host:port"
        )
    return script


@contextlib.contextmanager
def local_broker(
    *,
    start: bool,
    notify: Callable[[str], None],
    script: Path | None = None,
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
        raise BrokerError(
            f"no broker answers{where}: run scripts/kafka up (writes {env_file}),"
            " pass --bootstrap host:port, or leave out --no-start-broker",
            retriable=False,
        )
    runnable = _startable(script or kafka_script())
    notify("no broker answers: starting the local one (scripts/kafka up); it is stopped again at the end")
    try:
        code = _run_script(runnable, "up")
        bootstrap = bootstrap_from_env_file(env_file)
        if code != 0 or not bootstrap:
            raise SetupError(
                f"scripts/kafka up failed (exit {code}): see its log lines above, or run bash {runnable} logs"
            )
        yield bootstrap
    finally:
        if _run_script(runnable, "down") != 0:
            notify(f"warning: scripts/kafka down failed; stop the broker with bash {runnable} down")
