"""One mapping from errors to JSON answers: ``{"code", "detail", ...}`` and the status."""

from __future__ import annotations

import logging

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from authenticator.core.errors import ApplicationError, as_application_error

from ..edge.inputs import field_errors

log = logging.getLogger(__name__)

DRF_CODES = {
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "invalid_token",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "rate_limited",
}


def error_response(exc: ApplicationError) -> Response:
    response = Response(exc.payload(), status=exc.http_status)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    if exc.http_status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def exception_handler(exc, context):
    mapped = as_application_error(exc)
    if mapped is not None:
        if not isinstance(exc, ApplicationError):
            log.warning("dependency failure answered 503: %s", type(exc).__name__)
        return error_response(mapped)
    if isinstance(exc, drf.ValidationError):
        return Response(
            {"code": "invalid_request", "detail": "The request is invalid.", "errors": field_errors(exc.detail)},
            status=400,
        )
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait or 1) + (0 if float(exc.wait or 1).is_integer() else 1)
        response = Response({"code": "rate_limited", "detail": "Too many requests; try again later.", "retry_after": wait}, status=429)
        response["Retry-After"] = str(wait)
        return response
    if isinstance(exc, drf.APIException):
        code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
        response = Response({"code": code, "detail": str(exc.detail)}, status=exc.status_code)
        if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, (RequestDataTooBig, TooManyFieldsSent)):
        return Response({"code": "request_too_large", "detail": "The request body is too large."}, status=413)
    if isinstance(exc, SuspiciousOperation):
        return Response({"code": "malformed_request", "detail": "The request is malformed."}, status=400)
    if isinstance(exc, Http404):
        return Response({"code": "not_found", "detail": "Not found."}, status=404)
    if isinstance(exc, PermissionDenied):
        return Response({"code": "permission_denied", "detail": "Permission denied."}, status=403)
    return None  # a bug: Django's 500 handler answers (JSON, below), the log has the trace


def json_404(request, exception=None):
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def json_400(request, exception=None):
    return JsonResponse({"code": "malformed_request", "detail": "The request is malformed."}, status=400)


def json_403(request, exception=None):
    return JsonResponse({"code": "permission_denied", "detail": "Permission denied."}, status=403)


def json_500(request):
    return JsonResponse({"code": "server_error", "detail": "Something went wrong on our side."}, status=500)
