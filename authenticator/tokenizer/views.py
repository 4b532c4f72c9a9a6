"""The Tokenizer contract served over HTTP, backed by the in-process Tokenizer.

Plain Django views, JSON in and out. They answer 404 unless ``TOKENIZER_SERVE`` is on,
and 401 ``unauthorized_client`` unless the caller presents ``TOKENIZER_API_KEY`` as a
bearer token (with no key configured, nobody is let in). Errors are
``{"error", "error_description"}``; whatever a caller sends, the answer is JSON and
never a stack trace.

They always serve ``LocalTokenizer`` — never ``tokenizer()``, which with
``TOKENIZER_URL`` set would be an HTTP client, possibly pointed back at this server.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from authenticator.core import jsonsafe
from authenticator.core.conf import app_settings
from authenticator.core.errors import InvalidInput, InvalidToken, TokenizerUnavailable

from .local import LocalTokenizer

log = logging.getLogger(__name__)

_local = LocalTokenizer()

Handler = Callable[[dict[str, Any]], JsonResponse]


def _answer(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(data, status=status, headers=headers)
    # RFC 6749 §5.1: token answers must not be cached by anything in between.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JsonResponse:
    return _answer({"error": error, "error_description": description}, status, headers)


def _authorized(request: HttpRequest) -> bool:
    expected = app_settings.TOKENIZER_API_KEY
    if not expected:
        log.error("TOKENIZER_SERVE is on but TOKENIZER_API_KEY is empty: refusing every call")
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), str(expected).encode())


def endpoint(method: str) -> Callable[[Callable[..., JsonResponse]], Callable[[HttpRequest], JsonResponse]]:
    def decorate(handler: Callable[..., JsonResponse]) -> Callable[[HttpRequest], JsonResponse]:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest) -> JsonResponse:
            if not app_settings.TOKENIZER_SERVE:
                return _error(404, "not_found", "Not found.")
            if not _authorized(request):
                return _error(401, "unauthorized_client", "Missing or wrong API key.", {"WWW-Authenticate": 'Bearer realm="tokenizer"'})
            if request.method != method:
                return _error(405, "invalid_request", f"Use {method}.", {"Allow": method})
            try:
                if method == "POST":
                    try:
                        body = jsonsafe.loads(request.body or b"null")
                    except RequestDataTooBig:
                        return _error(413, "invalid_request", "The request body is too large.")
                    except ValueError:
                        return _error(400, "invalid_request", "The body must be a JSON object.")
                    if not isinstance(body, dict):
                        return _error(400, "invalid_request", "The body must be a JSON object.")
                    return handler(request, body)
                return handler(request)
            except InvalidToken as exc:
                return _error(401, "invalid_token", exc.detail)
            except InvalidInput as exc:
                return _error(400, "invalid_request", _describe(exc))
            except (TokenizerUnavailable, DatabaseError):
                log.exception("tokenizer endpoint %s failed", request.path)
                return _error(503, "temporarily_unavailable", "Try again shortly.", {"Retry-After": "5"})
            except Exception:
                log.exception("tokenizer endpoint %s crashed", request.path)
                return _error(500, "server_error", "Internal error.")

        return view

    return decorate


def _describe(exc: InvalidInput) -> str:
    errors = exc.extra.get("errors") or {}
    if not errors:
        return exc.detail
    return exc.detail + " " + "; ".join(f"{field}: {problems[0]['message']}" for field, problems in errors.items())


def _string(body: dict[str, Any], field: str, *, required: bool, allow_empty: bool = False) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not (value or allow_empty):
        raise InvalidInput(f"'{field}' must be a non-empty string.")
    return value


@endpoint("POST")
def issue(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        raise InvalidInput("The Idempotency-Key header is required.")
    pair = _local.issue(
        subject=body.get("subject"),  # type: ignore[arg-type] - LocalTokenizer validates every field
        session_id=body.get("session_id"),  # type: ignore[arg-type]
        amr=body.get("amr"),  # type: ignore[arg-type]
        level=body.get("level"),  # type: ignore[arg-type]
        ip=body.get("ip"),
        user_agent=body.get("user_agent") or "",
        idempotency_key=key,
    )
    return _answer(pair.as_dict(), 201)


@endpoint("POST")
def refresh(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    token = _string(body, "refresh_token", required=True)
    return _answer(_local.refresh(refresh_token=token).as_dict())  # type: ignore[arg-type]


@endpoint("POST")
def revoke_token(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    token = _string(body, "token", required=True, allow_empty=True)
    hint = _string(body, "token_type_hint", required=False)
    _local.revoke_token(token=token, token_type_hint=hint)  # type: ignore[arg-type]
    return _answer({})


@endpoint("POST")
def revoke_sessions(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    subject = _string(body, "subject", required=True)
    revoked = _local.revoke_sessions(
        subject=subject,  # type: ignore[arg-type]
        session_id=_string(body, "session_id", required=False),
        except_session_id=_string(body, "except_session_id", required=False),
    )
    return _answer({"revoked": revoked})


@endpoint("POST")
def introspect(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    token = _string(body, "token", required=True, allow_empty=True)
    return _answer(_local.introspect(token=token).as_dict())  # type: ignore[arg-type]


@endpoint("GET")
def jwks(request: HttpRequest) -> JsonResponse:
    return _answer(_local.jwks())
