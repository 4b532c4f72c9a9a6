from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User, UserStatus
from accounts.selectors import user_get_by_email, user_get_by_phone
from accounts.services import validation_to_input_error
from accounts.validation import normalise_email, normalise_phone
from authenticator.core import metrics
from authenticator.core.errors import (
    AccountBlocked,
    AccountDeleted,
    AccountSuspended,
    AccountUnverified,
    InvalidInput,
)
from sessions_log.models import LoginState
from sessions_log.services import Requester, login_state_open, login_state_tokens_issued

from ..tokenizer import tokenizer
from ..tokenizer.base import TokenPair

log = logging.getLogger(__name__)

__all__ = ["Requester", "Identifier", "SignedIn", "OtpSent", "identifier_parse", "user_for_identifier", "user_assert_can_sign_in", "sign_in_complete"]


@dataclass(frozen=True)
class Identifier:
    """A normalised phone number (E.164) or email address."""

    kind: str  # "phone" or "email"
    value: str

    @property
    def channel(self) -> str:
        return "sms" if self.kind == "phone" else "email"


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: LoginState
    tokens: TokenPair


@dataclass(frozen=True)
class OtpSent:
    channel: str
    expires_in: int
    resend_after: int


def identifier_parse(*, phone_number: str | None = None, email: str | None = None, country_id: str | None = None) -> Identifier:
    if bool(phone_number) == bool(email):
        raise InvalidInput("Give either phone_number or email.", extra={"errors": {"non_field_errors": [
            {"code": "phone_or_email", "message": "Give either phone_number or email."}]}})
    try:
        if phone_number:
            return Identifier("phone", normalise_phone(phone_number, (country_id or "").upper() or None))
        return Identifier("email", normalise_email(email or ""))
    except ValidationError as exc:
        raise validation_to_input_error(exc, "phone_number" if phone_number else "email")


def user_for_identifier(identifier: Identifier) -> User | None:
    """The account an identifier signs into. An email counts only once it is verified:
    anyone can type any address at sign-up, and it must not become a way in."""
    if identifier.kind == "phone":
        return user_get_by_phone(phone_number=identifier.value)
    user = user_get_by_email(email=identifier.value)
    return user if user is not None and user.email_verified_at is not None else None


STATUS_ERRORS = {
    UserStatus.BLOCKED: AccountBlocked,
    UserStatus.SUSPENDED: AccountSuspended,
    UserStatus.DELETED: AccountDeleted,
    UserStatus.UNVERIFIED: AccountUnverified,
}


def user_assert_can_sign_in(*, user: User) -> None:
    error = STATUS_ERRORS.get(user.status)
    if error is not None:
        raise error()


def sign_in_complete(*, user: User | None, requester: Requester, method: str, check=None, before=None) -> SignedIn:
    """Check the code, then open a login state and get tokens for it in one transaction.

    ``check`` (count a try and compare the code) runs first, on its own: its one
    statement commits at once (autocommit), so the try stays counted whatever follows,
    and a refused code raises from here. ``user`` is None only with a ``check`` that
    always refuses (a decoy's), which takes the same path and statement as a wrong real
    code. ``before(checked)`` runs in the transaction (consume the code, activate the
    account). If the Tokenizer fails, the transaction rolls back — no login state
    without tokens, no code used up, no account half-activated; the try stays counted —
    and TokenizerUnavailable (503) goes to the caller. Concurrent redeemers of one code
    queue on its row lock when they consume it; the first to commit wins, the others
    then find it consumed.
    """
    checked = check() if check is not None else None
    issued: list[TokenPair] = []
    try:
        with transaction.atomic():
            if before is not None:
                before(checked)
            # Where and when a user signed in is the login state; users.last_login is
            # left to the admin's password logins (one UPDATE less per sign-in).
            state = login_state_open(user=user, requester=requester, method=method)
            tokens = tokenizer().issue(
                subject=str(user.pk),
                session_id=str(state.pk),
                amr=[method],
                level=user.level,
                ip=requester.ip,
                user_agent=requester.user_agent,
                idempotency_key=f"login-state-{state.pk}",
            )
            issued.append(tokens)
            login_state_tokens_issued(state=state, refresh_token=tokens.refresh_token)
    except Exception:
        if issued:  # tokens exist for a session we could not record: withdraw them
            try:
                tokenizer().revoke_sessions(subject=str(user.pk), session_id=issued[0].session_id)
            except Exception:  # noqa: BLE001
                log.warning("could not revoke tokens of an unrecorded session", exc_info=True)
        raise
    metrics.sign_in(method=method)
    return SignedIn(user=user, session=state, tokens=tokens)
