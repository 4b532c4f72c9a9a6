"""Generate the Python code for proto/authenticator/v1/*.proto into authenticator/grpc/v1/,
and for gRPC's reflection v1 (proto/grpc/reflection/v1, upstream's file, see UPSTREAM
there) into authenticator/grpc/reflection_v1/.

The generated code is committed (no build step, and the Docker image needs no protoc);
tests/grpc/test_codegen.py regenerates it into a temporary directory and requires the
committed files to match byte for byte, so an edited proto can't ship with stale code.

    python -m authenticator.grpc.codegen           # rewrite the committed files

protoc is run with ``-I proto`` so that the descriptors carry the canonical file name
``authenticator/v1/authenticator.proto`` (what reflection and grpcurl show); the one
absolute import that gives the generated gRPC module is rewritten to a relative one,
since ``authenticator.v1`` would collide with this Django app's package (and
``grpc.reflection.v1`` with grpcio's).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
PROTO_PACKAGE = "authenticator/v1"
OUT_DIR = Path(__file__).resolve().parent / "v1"
REFLECTION_PACKAGE = "grpc/reflection/v1"
REFLECTION_OUT_DIR = Path(__file__).resolve().parent / "reflection_v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
TARGETS = {PROTO_PACKAGE: OUT_DIR, REFLECTION_PACKAGE: REFLECTION_OUT_DIR}


def proto_files(package: str = PROTO_PACKAGE) -> list[Path]:
    return sorted((PROTO_ROOT / package).glob("*.proto"))


def generate(out_dir: Path, package: str = PROTO_PACKAGE) -> list[Path]:
    """Write the generated modules of ``package`` into ``out_dir``; returns the files written."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(path.relative_to(PROTO_ROOT)) for path in proto_files(package)],
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed: " + " ".join(args))
        module = package.replace("/", ".")
        for path in sorted((Path(tmp) / package).iterdir()):
            if not path.name.endswith(GENERATED_SUFFIXES):
                continue
            text = path.read_text()
            for proto in proto_files(package):
                stem = proto.stem + "_pb2"
                text = text.replace(f"from {module} import {stem} ", f"from . import {stem} ")
            target = out_dir / path.name
            target.write_text(text)
            written.append(target)
    return written


def main() -> int:
    for package, out_dir in TARGETS.items():
        for path in generate(out_dir, package):
            print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
