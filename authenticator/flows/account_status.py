"""Change an account's status (support staff, operators). Leaving `active` signs out."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User, UserStatus
from accounts.services import ALLOWED_TRANSITIONS, user_set_status
from authenticator.core.errors import InvalidStatusTransition
from sessions_log.models import EndedReason

from .tokens import sessions_revoke_all

ENDS_SESSIONS = {UserStatus.BLOCKED, UserStatus.SUSPENDED, UserStatus.DELETED}


def account_set_status(*, user: User, status: str, reason: str = "", actor: User | None = None, actor_label: str = "") -> User:
    """Set the status (history row in the same transaction); blocking etc. revokes sessions.

    The Tokenizer is told first: if it is down nothing changes (503), so a blocked user
    never keeps working tokens.
    """
    # Decide on the account as it is now, not as loaded.
    user.refresh_from_db(fields=["status", "phone_verified_at", "is_staff"])
    never_verified = user.status == UserStatus.UNVERIFIED or user.phone_verified_at is None
    if status == UserStatus.ACTIVE and user.status != UserStatus.ACTIVE and never_verified:
        # Only verifying the phone at sign-up makes an account active — also by way of
        # blocked (unverified → blocked → active would squat a number nobody verified).
        # Staff sign in by password and second factor, not by phone: a superuser or an
        # operator (no actor: the CLI) may activate a staff account.
        if not (user.is_staff and (actor is None or actor.is_superuser)):
            raise InvalidStatusTransition("An account becomes active only once its phone number is verified.")
    if status != user.status and status not in ALLOWED_TRANSITIONS.get(user.status, set()):
        raise InvalidStatusTransition(f"Cannot change status from {user.status} to {status}.")
    if status in ENDS_SESSIONS and user.status != status:
        sessions_revoke_all(user_id=user.pk, reason=EndedReason.STATUS_CHANGED)
    with transaction.atomic():
        user_set_status(user=user, status=status, reason=reason, actor=actor, actor_label=actor_label or "system")
    return user
