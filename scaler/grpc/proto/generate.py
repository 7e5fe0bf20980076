"""Generate `scaler.grpc.gen` from externalscaler.proto with grpc_tools.protoc (a build-time tool).

Used by scripts/gen-proto (source tree) and by setup.py (wheel builds); kept free of other imports
from this project so setup.py can load it by file path before the package is installed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

PROTO_FILE = Path(__file__).resolve().parent / "externalscaler.proto"
# The proto is mapped onto this virtual path so protoc writes `from scaler.grpc.gen import ...`
# in the generated service module instead of a top-level import that would not resolve.
GENERATED_PACKAGE = "scaler/grpc/gen"
_INIT_TEXT = (
    '"""Generated from scaler/grpc/proto/externalscaler.proto by scaler/grpc/proto/generate.py.'
    ' Do not edit."""\n'
)


class ProtoGenerationError(RuntimeError):
    """protoc is missing or rejected the proto."""


def _mypy_plugins() -> list[str]:
    """protoc flags for typed stubs, when mypy-protobuf is installed next to this interpreter."""
    flags = []
    for plugin in ("protoc-gen-mypy", "protoc-gen-mypy_grpc"):
        beside_python = Path(sys.executable).parent / plugin
        found = str(beside_python) if beside_python.exists() else shutil.which(plugin)
        if found is None:
            return []
        flags.append(f"--plugin={plugin}={found}")
    return flags


def generate(output_root: Path, *, with_stubs: bool = True) -> Path:
    """Write the generated package under `output_root`; returns its directory."""
    try:
        from grpc_tools import protoc  # noqa: PLC0415 (build-time dependency only)
    except ImportError:
        raise ProtoGenerationError(
            "grpcio-tools is not installed: pip install 'grpcio-tools==1.85.1' (the dev extra has it)"
        ) from None
    target = output_root / GENERATED_PACKAGE
    target.mkdir(parents=True, exist_ok=True)
    arguments = [
        "grpc_tools.protoc",
        f"--proto_path={GENERATED_PACKAGE}={PROTO_FILE.parent}",
        f"--python_out={output_root}",
        f"--grpc_python_out={output_root}",
    ]
    stub_plugins = _mypy_plugins() if with_stubs else []
    if stub_plugins:
        arguments += [*stub_plugins, f"--mypy_out={output_root}", f"--mypy_grpc_out={output_root}"]
    arguments.append(str(PROTO_FILE))
    if protoc.main(arguments) != 0:
        raise ProtoGenerationError(f"protoc failed on {PROTO_FILE} (see its message above)")
    (target / "__init__.py").write_text(_INIT_TEXT)
    if stub_plugins:  # typed only when the .pyi stubs are there
        (target / "py.typed").write_text("")
    return target


if __name__ == "__main__":
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3]
    try:
        print(f"gen-proto: wrote {generate(output)}")
    except ProtoGenerationError as error:
        sys.exit(f"gen-proto: {error}")
