"""The committed generated code is exactly what the proto generates today."""

from __future__ import annotations

from pathlib import Path

from authenticator.grpc import codegen


def test_committed_generated_code_matches_the_proto(tmp_path: Path):
    written = codegen.generate(tmp_path)
    names = sorted(path.name for path in written)
    assert names == ["authenticator_pb2.py", "authenticator_pb2.pyi", "authenticator_pb2_grpc.py"]
    committed = sorted(p.name for p in codegen.OUT_DIR.iterdir() if p.name.endswith(codegen.GENERATED_SUFFIXES))
    assert committed == names, "stale or missing generated files: run python -m authenticator.grpc.codegen"
    for name in names:
        assert (codegen.OUT_DIR / name).read_bytes() == (tmp_path / name).read_bytes(), (
            f"{name} differs from the proto: run python -m authenticator.grpc.codegen"
        )


def test_the_check_notices_an_edited_proto(tmp_path: Path, monkeypatch):
    edited = tmp_path / "proto"
    (edited / codegen.PROTO_PACKAGE).mkdir(parents=True)
    for proto in codegen.proto_files():
        text = proto.read_text().replace("message SignOutRequest {\n  bool all = 1;\n}",
                                         "message SignOutRequest {\n  bool all = 1;\n  string reason = 2;\n}")
        (edited / codegen.PROTO_PACKAGE / proto.name).write_text(text)
    monkeypatch.setattr(codegen, "PROTO_ROOT", edited)
    codegen.generate(tmp_path / "out")
    assert (tmp_path / "out" / "authenticator_pb2.py").read_bytes() != (codegen.OUT_DIR / "authenticator_pb2.py").read_bytes()


def test_generated_modules_import_each_other_relatively():
    grpc_module = (codegen.OUT_DIR / "authenticator_pb2_grpc.py").read_text()
    assert "from . import authenticator_pb2 as" in grpc_module
    assert "from authenticator.v1" not in grpc_module


def test_committed_reflection_v1_code_matches_upstreams_proto(tmp_path: Path):
    written = codegen.generate(tmp_path, codegen.REFLECTION_PACKAGE)
    names = sorted(path.name for path in written)
    assert names == ["reflection_pb2.py", "reflection_pb2.pyi", "reflection_pb2_grpc.py"]
    for name in names:
        assert (codegen.REFLECTION_OUT_DIR / name).read_bytes() == (tmp_path / name).read_bytes(), (
            f"{name} differs from the proto: run python -m authenticator.grpc.codegen"
        )
    grpc_module = (codegen.REFLECTION_OUT_DIR / "reflection_pb2_grpc.py").read_text()
    assert "from . import reflection_pb2 as" in grpc_module  # not grpc.reflection.v1: grpcio's namespace
