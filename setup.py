"""Build hook (everything else is in pyproject.toml): while building, generate the external
scaler's gRPC code (`scaler.grpc.gen`), and copy the local broker's script (scripts/kafka, its
lib.sh and pom) into `lagscale/demo/broker/`, so a wheel carries both: `lagscale demo` can then
start a broker outside the checkout. Neither is committed twice."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# scripts/kafka sources lib.sh and reads the pom from its own directory.
BROKER_FILES = ("kafka", "lib.sh", "kafka-broker.pom.xml")


def _proto_generator() -> ModuleType:
    # Loaded by path: the project is not importable (nor installed) while it is being built.
    path = ROOT / "scaler" / "grpc" / "proto" / "generate.py"
    spec = importlib.util.spec_from_file_location("lagscale_proto_generate", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithProto(build_py):
    def run(self) -> None:
        super().run()
        # An editable install imports from the source tree, so the code goes there.
        output = ROOT if self.editable_mode else Path(self.build_lib)
        generator = _proto_generator()
        try:
            generator.generate(output, with_stubs=False)
        except generator.ProtoGenerationError:
            if not (output / generator.GENERATED_PACKAGE / "externalscaler_pb2.py").exists():
                raise
        if not self.editable_mode:  # an editable install runs scripts/kafka of the checkout itself
            _copy_broker_script(output / "lagscale" / "demo" / "broker")


def _copy_broker_script(target: Path) -> None:
    """Only from a full tree: the images build from the packages alone and never run the demo
    (without the script, `lagscale demo` says to pass --bootstrap)."""
    sources = [ROOT / "scripts" / name for name in BROKER_FILES]
    if not all(source.is_file() for source in sources):
        return
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildPyWithProto})
