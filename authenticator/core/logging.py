"""Structured logs: one JSON object per line, a request id on every line, secrets masked.

- ``RequestIdMiddleware`` gives each request an id (the client's ``X-Request-ID`` when it
  is sane, else a new one), keeps it in a context variable for every log line made while
  the request runs, echoes it in the response's ``X-Request-ID``, writes one access line
  (method, path, status, duration) and counts the request in the metrics.
- ``RequestIdFilter`` puts that id on each record; ``RedactingFilter`` masks phone
  numbers, email addresses, bearer tokens, JWTs, long opaque secrets and six-digit
  codes in the message *and its arguments* before any handler formats them.
- ``JsonFormatter`` writes the line; it redacts once more what it adds itself (the
  exception text, extra string fields), so a traceback quoting a token stays clean.

The filters belong on the handler (see config/settings.py LOGGING): a handler's filters
see every record that reaches it, whichever logger made it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

access_log = logging.getLogger("authenticator.access")

# A client's id is kept if it is short and plain; anything else is replaced, so a log line
# can't be forged or bloated through the header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

# -- redaction ----------------------------------------------------------------------------

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
# key=value / "key": "value" pairs whose value is a credential, whatever its shape.
_SECRET_PAIR = re.compile(
    r"""(?ix)
    (\b(?:api[_-]?key|access[_-]?token|refresh[_-]?token|id[_-]?token|token|secret|password|passwd|otp|authorization)
      ["']?\s*[:=]\s*["']?)
    (?!bearer\s)([^\s"',&}]+)
    """
)
# Opaque tokens: refresh tokens are token_urlsafe(32) (43 chars); API keys are long too.
# Only runs mixing letters and digits count, so long names (tables, modules) stay.
_LONG_SECRET = re.compile(r"(?<![A-Za-z0-9_/-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_/-])")


def _mask_secret(match: re.Match[str]) -> str:
    text = match.group(0)
    if any(c.isdigit() for c in text) and any(c.isalpha() for c in text):
        return "[secret]"
    return text
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\b")
# International numbers (+ and 8-15 digits, spaces/dots/dashes/brackets allowed between).
_PHONE_INTL = re.compile(r"\+\d(?:[ ().-]{0,2}\d){6,14}")
# Bare runs of 8-15 digits: local or E.164-without-plus numbers. Ids (Sonyflake, 16+
# digits in practice) and timestamps (separated) are left alone.
_PHONE_BARE = re.compile(r"(?<![\w.:-])\d{8,15}(?![\w])")
# National formats with a trunk 0 and spaces/dashes: "07400 123456", "030-1234 5678".
_PHONE_LOCAL = re.compile(r"(?<![\w+])0\d{1,4}(?:[ -]\d{2,8}){1,3}(?![\w])")
_CODE = re.compile(r"(?<![\w.:-])\d{6}(?![\w])")


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = [c for c in text if c.isdigit()]
    keep = "".join(digits[-3:])
    return ("+" if text.startswith("+") else "") + "*" * max(len(digits) - 3, 0) + keep


def redact(text: str) -> str:
    """``text`` with every credential, phone number, email and code masked."""
    if not text:
        return text
    text = _JWT.sub("[jwt]", text)
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = _SECRET_PAIR.sub(r"\1[redacted]", text)
    text = _LONG_SECRET.sub(_mask_secret, text)
    text = _EMAIL.sub(r"\1***@\2", text)
    text = _PHONE_INTL.sub(_mask_phone, text)
    text = _PHONE_LOCAL.sub(_mask_phone, text)
    text = _PHONE_BARE.sub(_mask_phone, text)
    text = _CODE.sub("******", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks the message with its arguments merged in; the record then has no arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        record._redacted = True
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


# -- formatting -----------------------------------------------------------------------------

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id", "_redacted"}


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, then any ``extra=`` fields, then exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()) if not getattr(record, "_redacted", False) else record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key in _RESERVED or key.startswith("_"):
                continue
            entry[key] = _redact_value(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _redact_value(value: Any) -> Any:
    """``extra=`` values (e.g. the SQL parameters Django logs at DEBUG), masked all the way down."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(v) for v in value]
    return redact(str(value))


class PlainFormatter(logging.Formatter):
    """For a terminal (LOG_FORMAT=plain): the same fields, one readable line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return redact(super().format(record))


# -- the middleware ---------------------------------------------------------------------------


def request_id_from(header: str | None) -> str:
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Outermost middleware: request id, access log line, request metrics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            response["X-Request-ID"] = request_id
            route = _route(request)
            from . import metrics

            metrics.request_observed(method=request.method, route=route, status=response.status_code, duration=duration)
            level = logging.ERROR if response.status_code >= 500 else logging.INFO
            access_log.log(
                level,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                    "client_ip": request.META.get("REMOTE_ADDR"),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


def _route(request) -> str:
    """The URL pattern, not the path: ids and tokens in paths must not become labels."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + match.route if match.route else (match.view_name or "unknown")
