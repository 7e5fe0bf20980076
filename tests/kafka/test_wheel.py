"""The distribution as users get it: the wheel is built, installed into a fresh virtualenv outside
the checkout from a local wheelhouse (no network: scripts/setup made it), and every command runs
from there: --help of each, render (templates are package data), simulate with a plot (the README's
first example), produce and lag against the real broker, and the local broker's script that
`lagscale demo` starts ships in the package and runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lagscale.demo.local_broker import kafka_state_dir

pytestmark = pytest.mark.kafka

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

REPO_ROOT = Path(__file__).resolve().parents[2]
# What a build needs from the checkout (the generated gRPC code is made again by the build).
SOURCES = (
    *("pyproject.toml", "setup.py", "README.md", "MANIFEST.in"),
    *("kafkakit", "producer", "consumer", "scaler", "lagscale"),
    *("scripts/kafka", "scripts/lib.sh", "scripts/kafka-broker.pom.xml"),
)
COMMANDS = ("produce", "consume", "lag", "scale", "serve-grpc", "render", "demo", "simulate")


def wheelhouse() -> Path:
    """Where scripts/setup put the runtime dependencies as wheels (keyed by their pinned list)."""
    script, pyproject = REPO_ROOT / "scripts" / "image_requirements.py", REPO_ROOT / "pyproject.toml"
    listed = subprocess.run(
        [sys.executable, str(script), str(pyproject)], capture_output=True, text=True, check=True
    ).stdout
    cache = Path(os.environ.get("LAGSCALE_CACHE") or Path.home() / ".cache" / "lagscale")
    found = cache / "wheelhouse" / hashlib.sha256(listed.encode()).hexdigest()[:16]
    if not (found / ".complete").exists():
        pytest.fail(f"no wheelhouse at {found}: run scripts/setup (make setup) while PyPI is reachable")
    return found


@dataclass(frozen=True)
class Installed:
    """A virtualenv with only the wheel and its dependencies, and a working directory outside the
    checkout to run it from."""

    venv: Path
    workdir: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "lagscale"), *args],
            cwd=self.workdir,
            env=env if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def env(self, **extra: str) -> dict[str, str]:
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KAFKA_EVENTHUB_", "LAGSCALE_", "PYTHON"))
        }
        return {**clean, "PATH": f"{self.venv / 'bin'}:{os.environ['PATH']}", **extra}

    def package(self, name: str) -> Path:
        return next((self.venv / "lib").glob(f"python3*/site-packages/{name}"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    for name in SOURCES:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "gen"))
        else:
            shutil.copy2(REPO_ROOT / name, target)
    # The dev virtualenv has the build requirements, so nothing is downloaded.
    offline = ["--no-deps", "--no-build-isolation", "--no-index"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "--wheel-dir", str(root / "dist"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (root / "dist").glob("lagscale-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    from_wheelhouse = ["--no-index", "--find-links", str(wheelhouse())]
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", *from_wheelhouse, str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    workdir = root / "elsewhere"
    workdir.mkdir()
    return Installed(venv, workdir)


def test_the_wheel_runs_from_its_own_files_not_the_checkout(installed: Installed) -> None:
    where = installed.run("--version")
    assert where.returncode == 0, where.stderr
    package = installed.package("lagscale")
    assert REPO_ROOT not in package.parents
    assert (package / "render" / "templates" / "values.yaml").is_file()
    assert (package / "demo" / "broker" / "kafka").is_file()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(installed: Installed, command: str) -> None:
    result = installed.run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "env var: LAGSCALE_" in result.stdout
    assert result.stderr == ""


def test_render_from_the_packaged_templates_matches_deploy(installed: Installed) -> None:
    result = installed.run("render", "--ignore-env", "--profile", "kafka", "-o", "manifests")
    assert result.returncode == 0, result.stderr
    rendered = sorted((installed.workdir / "manifests").iterdir())
    expected = sorted((REPO_ROOT / "deploy" / "kafka").iterdir())
    assert [path.name for path in rendered] == [path.name for path in expected]
    assert all(a.read_text() == b.read_text() for a, b in zip(rendered, expected, strict=True))


def test_the_readme_simulate_example_writes_its_plot(installed: Installed) -> None:
    result = installed.run("simulate", "--compare", "--plot", "simulate-compare.png")
    assert result.returncode == 0, result.stderr
    assert "keda+fixes" in result.stdout
    assert (installed.workdir / "simulate-compare.png").read_bytes().startswith(b"\x89PNG")


def test_produce_and_lag_against_the_broker(
    installed: Installed,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    topic, group = make_topic("wheel", partitions=2), unique_name("wheel")
    produced = installed.run("produce", "--bootstrap", kafka.bootstrap, "--topic", topic, "--count", "7")
    assert produced.returncode == 0, produced.stderr
    lag = installed.run("lag", "--bootstrap", kafka.bootstrap, "--group", group, "--topic", topic,
                        "--offset-reset-policy", "earliest", "--json")  # fmt: skip
    assert lag.returncode == 0, lag.stderr
    assert '"total_lag": 7' in lag.stdout


def test_the_packaged_broker_script_runs(installed: Installed, kafka: KafkaEndpoints) -> None:
    # `lagscale demo` starts the local broker with this copy of scripts/kafka when none answers;
    # asking it about the running test broker (same state directory) proves it finds its lib.sh.
    script = installed.package("lagscale") / "demo" / "broker" / "kafka"
    env = installed.env(LAGSCALE_STATE=str(kafka_state_dir().parent))
    env.update({name: value for name, value in os.environ.items() if name.startswith("LAGSCALE_KAFKA_")})
    status = subprocess.run(
        ["bash", str(script), "status"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert status.returncode == 0, status.stderr[-2000:]


def test_demo_without_java_says_what_to_install(installed: Installed, tmp_path: Path) -> None:
    env = installed.env(LAGSCALE_STATE=str(tmp_path), LAGSCALE_CACHE=str(tmp_path / "cache"))
    env["PATH"] = str(installed.venv / "bin")  # no java, no mvn, no openssl, not even bash
    result = installed.run("demo", "--out", "demo-out", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no broker answers, and starting the local one needs")
    for tool in ("java", "mvn", "openssl"):
        assert tool in result.stderr
    assert "Traceback" not in result.stderr
