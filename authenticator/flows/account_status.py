"""Change an account's status (support staff, operators). Leaving `active` signs out."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User, UserStatus
from accounts.services import user_set_status
from accounts.status import By, status_change_refusal
from sessions_log.models import EndedReason

from .tokens import sessions_revoke_all

ENDS_SESSIONS = {UserStatus.BLOCKED, UserStatus.SUSPENDED, UserStatus.DELETED}


def account_set_status(*, user: User, status: str, reason: str = "", actor: User | None = None, actor_label: str = "") -> User:
    """Set the status (history row in the same transaction); blocking etc. revokes sessions.

    ``actor`` is the staff member who asks (a superuser or support staff), or None for an
    operator (the CLI); what each may do is the table in ``accounts.status``. The
    Tokenizer is told first: if it is down nothing changes (503), so a blocked user never
    keeps working tokens.
    """
    by = By.of(actor)
    # Decide on the account as it is now, not as loaded (and again under the row lock).
    user.refresh_from_db(fields=["status", "phone_verified_at", "is_staff"])
    refused = status_change_refusal(user=user, status=status, by=by)
    if refused is not None:
        raise refused
    if status in ENDS_SESSIONS and user.status != status:
        sessions_revoke_all(user_id=user.pk, reason=EndedReason.STATUS_CHANGED)
    with transaction.atomic():
        user_set_status(user=user, status=status, by=by, reason=reason, actor=actor, actor_label=actor_label or "system")
    return user
