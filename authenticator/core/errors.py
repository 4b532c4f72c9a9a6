"""Domain errors: the one table that maps each to HTTP, gRPC and the command line.

Flows raise these; the REST exception handler, the gRPC interceptor and the management
commands each translate them with the attributes below and nothing else.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    http_status: int = 400
    code: str = "error"
    detail: str = "The request could not be completed."
    grpc_status: str = "INVALID_ARGUMENT"  # a grpc.StatusCode name
    exit_code: int = 1

    def __init__(self, detail: str | None = None, *, extra: dict[str, Any] | None = None) -> None:
        self.detail = detail or self.detail
        self.extra = extra or {}
        super().__init__(self.detail)

    def payload(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class InvalidInput(ApplicationError):
    """Field errors: ``extra={"errors": {field: [{"code", "message"}]}}``."""

    http_status, code, detail, grpc_status, exit_code = 400, "invalid_request", "The request is invalid.", "INVALID_ARGUMENT", 2


class MalformedRequest(InvalidInput):
    """A body that can't be read at all (not JSON, nested too deeply, not the message)."""

    code, detail = "malformed_request", "The request is malformed."


class InvalidOtp(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 400, "invalid_otp", "The code is not valid.", "INVALID_ARGUMENT", 3


class OtpExpired(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 400, "otp_expired", "The code has expired; request a new one.", "INVALID_ARGUMENT", 3


class TooManyAttempts(ApplicationError):
    """``retry_after``: seconds until a new code may be requested (every 429 says when)."""

    http_status, code, detail, grpc_status, exit_code = 429, "too_many_attempts", "Too many wrong codes; request a new code later.", "RESOURCE_EXHAUSTED", 4

    def __init__(self, retry_after: int = 60, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail, extra={"retry_after": self.retry_after})


class RateLimited(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 429, "rate_limited", "Too many requests; try again later.", "RESOURCE_EXHAUSTED", 4

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail, extra={"retry_after": self.retry_after})


class SmsBudgetExceeded(RateLimited):
    """Past an SMS budget (a country's or the global hour, or a tripped prefix range):
    the same for every number of it, known or not."""

    code, detail = "sms_budget_exceeded", "Too many codes are being sent to this destination; try again later."


class ChallengeRequired(ApplicationError):
    """This request needs a solved challenge (``challenge_token``) and came without one."""

    http_status, code, detail, grpc_status, exit_code = 400, "challenge_required", "Solve the challenge and send its token.", "FAILED_PRECONDITION", 11


class ChallengeFailed(ChallengeRequired):
    code, detail = "challenge_failed", "The challenge token is not valid; solve the challenge again."


class NotAuthenticated(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 401, "not_authenticated", "Authentication credentials were not provided.", "UNAUTHENTICATED", 5


class InvalidToken(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 401, "invalid_token", "The token is invalid, expired or revoked.", "UNAUTHENTICATED", 5


class InvalidIdToken(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 401, "invalid_id_token", "The Google ID token is invalid, expired or revoked.", "UNAUTHENTICATED", 5


class AccountInactive(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 403, "account_inactive", "This account cannot sign in.", "PERMISSION_DENIED", 6


class AccountBlocked(AccountInactive):
    code, detail = "account_blocked", "This account is blocked."


class AccountSuspended(AccountInactive):
    code, detail = "account_suspended", "This account is suspended."


class AccountDeleted(AccountInactive):
    code, detail = "account_deleted", "This account is deleted."


class AccountUnverified(AccountInactive):
    code, detail = "account_unverified", "Finish sign-up first."


class StaffNotAllowed(ApplicationError):
    """A staff member tried what their role does not allow (another staff account, a
    permission they do not hold, a field only superusers set)."""

    http_status, code, detail, grpc_status, exit_code = 403, "staff_not_allowed", "Your role does not allow this change.", "PERMISSION_DENIED", 10


class InvalidSignature(ApplicationError):
    """A provider's callback whose signature does not check out (Twilio's X-Twilio-Signature)."""

    http_status, code, detail, grpc_status, exit_code = 403, "invalid_signature", "The request signature is not valid.", "PERMISSION_DENIED", 6


class NotFound(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 404, "not_found", "Not found.", "NOT_FOUND", 7


class Conflict(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 409, "conflict", "The request conflicts with the current state.", "ALREADY_EXISTS", 8


class PhoneNumberTaken(Conflict):
    code, detail = "phone_number_taken", "This phone number belongs to another account."


class EmailTaken(Conflict):
    code, detail = "email_taken", "This email address belongs to another account."


class InvalidStatusTransition(Conflict):
    code, detail, grpc_status = "invalid_status_transition", "That status change is not allowed.", "FAILED_PRECONDITION"


class ServiceUnavailable(ApplicationError):
    http_status, code, detail, grpc_status, exit_code = 503, "service_unavailable", "A dependency is unavailable; try again shortly.", "UNAVAILABLE", 9
    retry_after = 5


class TokenizerUnavailable(ServiceUnavailable):
    code, detail = "tokenizer_unavailable", "The token service is unavailable; try again shortly."


class DeliveryUnavailable(ServiceUnavailable):
    """``reason`` (for delivery records and logs, never the client) says what failed;
    ``permanent``: the provider refused this message, so trying it again cannot help."""

    code, detail = "delivery_unavailable", "The code could not be sent; try again shortly."
    reason: str = "provider unavailable"
    permanent: bool = False


class IdentityProviderUnavailable(ServiceUnavailable):
    code, detail = "identity_provider_unavailable", "Google sign-in is unavailable; try again shortly."


class ChallengeUnavailable(ServiceUnavailable):
    """The challenge's verifier can't be reached: a request that needs it is refused (fail closed)."""

    code, detail = "challenge_unavailable", "The challenge can't be checked right now; try again shortly."


class DatabaseUnavailable(ServiceUnavailable):
    code, detail = "database_unavailable", "The service is briefly unavailable; try again shortly."


def as_application_error(exc: BaseException) -> ApplicationError | None:
    """The domain error an infrastructure failure means to a client, if any.

    Every transport asks this before treating an exception as a bug, so a database that
    is down or restarting answers 503 / UNAVAILABLE / exit 9 everywhere, never a 500.
    """
    if isinstance(exc, ApplicationError):
        return exc
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError)):
        return DatabaseUnavailable()
    try:
        import psycopg
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover - the pool is a dependency
        return None
    # psycopg's own errors reach here from connections Django doesn't wrap (the
    # Sonyflake machine-id lease opens its own when the database comes back).
    if isinstance(exc, (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError)):
        return DatabaseUnavailable()
    return None


def all_errors() -> list[type[ApplicationError]]:
    """Every concrete error class, for the table-driven transport tests."""
    seen: list[type[ApplicationError]] = []
    stack = [ApplicationError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
