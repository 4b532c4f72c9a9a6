"""The one error table: every domain error answers the same on REST, gRPC and the CLI.

Each concrete class in ``authenticator.core.errors`` carries its HTTP status + code, its gRPC
status and its exit status; here every one of them goes through each transport's single
mapping — the REST exception handler, a real gRPC server with the service's interceptor,
and the commands' ``error_exit`` — and must come out exactly as the table says. The
table clients read (docs/clients/errors.md) must be the code's, row for row.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import authenticator.flows
from authenticator.api.errors import exception_handler
from authenticator.core.errors import (
    ApplicationError,
    InvalidInput,
    RateLimited,
    all_errors,
)
from authenticator.grpc.errors import ErrorInterceptor
from authenticator.management.base import error_exit

# Flows may define their own errors (flows.google): load them all, so none escapes the table.
for _module in pkgutil.iter_modules(authenticator.flows.__path__):
    importlib.import_module(f"authenticator.flows.{_module.name}")

ERRORS = {cls.__name__: cls for cls in all_errors()}
SECRET = "connection to db-7.internal:5432 password=hunter2"

# What each HTTP status may be on gRPC (https://google.aip.dev/193 / code.proto).
GRPC_FOR_HTTP = {
    400: {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"},
    401: {"UNAUTHENTICATED"},
    403: {"PERMISSION_DENIED"},
    404: {"NOT_FOUND"},
    409: {"ALREADY_EXISTS", "ABORTED", "FAILED_PRECONDITION"},
    429: {"RESOURCE_EXHAUSTED"},
    503: {"UNAVAILABLE"},
}


def make(cls: type[ApplicationError]) -> ApplicationError:
    return cls(retry_after=30) if issubclass(cls, RateLimited) else cls()


# --- gRPC: a tiny service that raises what it is told, behind the real interceptor -------
def _raise(request: bytes, context: grpc.ServicerContext) -> bytes:
    name = request.decode()
    if name == "bug":
        raise RuntimeError(SECRET)
    raise make(ERRORS[name])


@pytest.fixture(scope="module")
def raiser() -> Iterator[grpc.UnaryUnaryMultiCallable]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2), interceptors=[ErrorInterceptor()])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Raiser", {
        "Raise": grpc.unary_unary_rpc_method_handler(_raise),
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel.unary_unary("/test.Raiser/Raise")
    finally:
        channel.close()
        server.stop(0)


def _grpc_failure(raiser, name: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        raiser(name.encode(), timeout=10)
    return info.value


@pytest.mark.parametrize("cls", all_errors(), ids=lambda cls: cls.__name__)
def test_every_error_maps_the_same_on_rest_grpc_and_cli(cls, raiser):
    err = make(cls)
    retry_after = getattr(err, "retry_after", None)

    # REST
    response = exception_handler(err, {})
    assert response.status_code == cls.http_status
    assert response.data["code"] == cls.code and response.data["detail"] == cls.detail
    assert response.get("Retry-After") == (str(retry_after) if retry_after else None)

    # gRPC
    failed = _grpc_failure(raiser, cls.__name__)
    metadata = {item.key: item.value for item in failed.trailing_metadata()}
    assert failed.code() == grpc.StatusCode[cls.grpc_status]
    assert failed.details() == cls.detail
    assert metadata["code"] == cls.code
    assert metadata.get("retry-after") == (str(retry_after) if retry_after else None)
    rich = rpc_status.from_call(failed)
    info = error_details_pb2.ErrorInfo()
    assert rich.details[0].Unpack(info) and info.reason == cls.code

    # CLI
    status, line = error_exit(err)
    assert status == cls.exit_code
    assert line.startswith(f"error: {cls.code}: {cls.detail}")


def test_a_bug_is_internal_server_error_on_grpc_with_no_trace(raiser, caplog):
    failed = _grpc_failure(raiser, "bug")
    assert failed.code() == grpc.StatusCode.INTERNAL
    assert failed.details() == "Something went wrong on our side."
    assert {item.key: item.value for item in failed.trailing_metadata()}["code"] == "server_error"
    assert SECRET not in str(failed.debug_error_string()) and "Traceback" not in failed.details()
    assert any(SECRET in record.getMessage() or (record.exc_info and SECRET in str(record.exc_info[1]))
               for record in caplog.records)  # the trace is in the server's log instead


def test_every_429_says_when_to_retry():
    """Retry-After on REST, retry-after in gRPC's trailing metadata: both come from it."""
    too_many = [cls for cls in ERRORS.values() if cls.http_status == 429]
    assert too_many
    for cls in too_many:
        assert getattr(make(cls), "retry_after", None), cls.__name__


def test_the_table_is_consistent():
    classes = all_errors()
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes)), "each error needs its own code"
    assert "server_error" not in codes  # reserved for bugs on every transport
    for cls in classes:
        assert cls.grpc_status in grpc.StatusCode.__members__ and cls.grpc_status != "OK", cls
        assert cls.grpc_status in GRPC_FOR_HTTP[cls.http_status], cls
        assert 1 <= cls.exit_code <= 125, cls  # 126+ mean "not runnable" / signals to a shell
        # 2 is argparse's "bad usage": only bad input may share it.
        assert (cls.exit_code == 2) == issubclass(cls, InvalidInput), cls
        assert cls.code.isascii() and cls.code == cls.code.lower() and " " not in cls.code, cls


ERRORS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "clients" / "errors.md"
DOCS_ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}) \| `([A-Z_]+)` \| (\d+) \| (.+?) \|$", re.MULTILINE)


def test_the_documented_table_is_the_codes_row_for_row():
    """Every error's code, HTTP status, gRPC status, exit status and detail, as clients read them."""
    documented = DOCS_ROW.findall(ERRORS_PAGE.read_text())
    assert len(documented) == len({row[0] for row in documented}), "a code documented twice"
    in_code = {(cls.code, str(cls.http_status), cls.grpc_status, str(cls.exit_code), cls.detail) for cls in all_errors()}
    assert set(documented) == in_code, {
        "documented, not in the code": sorted(set(documented) - in_code),
        "in the code, not documented": sorted(in_code - set(documented)),
    }
