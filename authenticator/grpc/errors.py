"""The one place where errors become gRPC statuses (the gRPC column of authenticator.core.errors).

A domain error ends the call with ``StatusCode[err.grpc_status]`` and ``err.detail``; its
stable ``code`` goes in the trailing metadata key ``code`` (and ``retry-after`` where the
client should wait), plus the same facts as a google.rpc.Status in
``grpc-status-details-bin`` for clients that read rich errors. Anything else is a bug:
logged with its trace here, answered INTERNAL / ``server_error`` with no trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import grpc
from django.db import DatabaseError, close_old_connections, connections
from google.protobuf import duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from authenticator.core.errors import (
    ApplicationError,
    MalformedRequest,
    as_application_error,
)

log = logging.getLogger(__name__)

ERROR_DOMAIN = "authenticator"
SERVER_ERROR_CODE = "server_error"
SERVER_ERROR_DETAIL = "Something went wrong on our side."


def error_status(err: ApplicationError) -> grpc.Status:
    """The gRPC status (code, details, trailing metadata) that answers ``err``."""
    code = grpc.StatusCode[err.grpc_status]
    retry_after = getattr(err, "retry_after", None)
    metadata: list[tuple[str, str]] = [("code", err.code)]
    rich = status_pb2.Status(code=code.value[0], message=err.detail)
    rich.details.add().Pack(error_details_pb2.ErrorInfo(reason=err.code, domain=ERROR_DOMAIN))
    if retry_after:
        metadata.append(("retry-after", str(int(retry_after))))
        rich.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=int(retry_after))))
    field_errors = err.extra.get("errors")
    if isinstance(field_errors, dict):
        # ASCII JSON: metadata values must be printable ASCII.
        metadata.append(("errors", json.dumps(field_errors, ensure_ascii=True, separators=(",", ":"))))
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=field, description=str(item.get("message", "")))
            for field, items in field_errors.items()
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict)
        ]
        rich.details.add().Pack(error_details_pb2.BadRequest(field_violations=violations))
    return _with_metadata(rpc_status.to_status(rich), metadata)


def server_error_status() -> grpc.Status:
    rich = status_pb2.Status(code=code_pb2.INTERNAL, message=SERVER_ERROR_DETAIL)
    rich.details.add().Pack(error_details_pb2.ErrorInfo(reason=SERVER_ERROR_CODE, domain=ERROR_DOMAIN))
    return _with_metadata(rpc_status.to_status(rich), [("code", SERVER_ERROR_CODE)])


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def _with_metadata(status: grpc.Status, metadata: list[tuple[str, str]]) -> grpc.Status:
    return _Status(status.code, status.details, tuple(metadata) + tuple(status.trailing_metadata))


def live_connection(alias: str = "default") -> None:
    """Give this thread a working database connection before the handler runs.

    After a PostgreSQL restart (or failover) every idle connection in the pool is dead.
    Each one found dead is handed back — the pool discards it and opens a replacement —
    and the next is tried, so the call runs on a live one instead of failing, and
    without the pool's own check, which sleeps with backoff between dead connections.
    Costs one round trip per call. If the database is really down, the handler's first
    query reports it.
    """
    conn = connections[alias]
    pool_options = conn.settings_dict.get("OPTIONS", {}).get("pool")
    attempts = int(pool_options.get("max_size") or 10) + 1 if isinstance(pool_options, dict) else 2
    for _attempt in range(attempts):
        try:
            conn.ensure_connection()
        except DatabaseError:
            return
        if conn.is_usable():
            return
        conn.close()


def _aborted(context: grpc.ServicerContext) -> bool:
    # context.abort() raises a bare Exception after setting the status: let it through.
    code = context.code()
    return code is not None and code != grpc.StatusCode.OK


def guarded(behavior: Callable[[Any, grpc.ServicerContext], Any], method: str, *,
            uses_database: bool = True) -> Callable[[Any, grpc.ServicerContext], Any]:
    """Wrap one unary handler: fresh database connections, and errors mapped as above.

    Handlers run on the server's worker threads, which never see Django's request
    signals: a connection left broken (PostgreSQL restarted) or past its age would
    otherwise stay with the thread for ever, so it is dropped before and after each call,
    and checked before a handler that uses the database runs.
    """

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        close_old_connections()
        try:
            if uses_database:
                live_connection()
            return behavior(request, context)
        except ApplicationError as err:
            context.abort_with_status(error_status(err))
        except Exception as exc:
            if _aborted(context):
                raise
            mapped = as_application_error(exc)
            if mapped is not None:
                log.warning("gRPC %s: dependency failure answered %s", method, mapped.grpc_status)
                context.abort_with_status(error_status(mapped))
            log.exception("gRPC %s failed", method)
            context.abort_with_status(server_error_status())
        finally:
            close_old_connections()

    return handler


def _parsing(behavior: Callable[[Any, grpc.ServicerContext], Any],
             deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes, grpc.ServicerContext], Any]:
    def parse_then_call(raw: bytes, context: grpc.ServicerContext) -> Any:
        try:
            request = deserialize(raw) if deserialize is not None else raw
        except (DecodeError, RecursionError, ValueError):
            raise MalformedRequest() from None
        return behavior(request, context)

    return parse_then_call


class ErrorInterceptor(grpc.ServerInterceptor):
    """Applies ``guarded`` to every unary-unary method of every service on the server.

    Only methods under ``database_prefixes`` get the connection check: a health probe
    every few seconds should not cost a database round trip.
    """

    def __init__(self, database_prefixes: tuple[str, ...] = ("/authenticator.",)) -> None:
        self.database_prefixes = database_prefixes

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or handler.request_streaming or handler.response_streaming:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            guarded(_parsing(handler.unary_unary, handler.request_deserializer), handler_call_details.method,
                    uses_database=handler_call_details.method.startswith(self.database_prefixes)),
            # The bytes come to us: grpc would answer a message it can't parse (say,
            # groups nested past protobuf's recursion limit) INTERNAL, with no code.
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )
