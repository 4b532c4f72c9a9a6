"""An account's statuses and the one table of who may change which to which.

Every change of ``users.status`` is decided here (``status_change_refusal``) and made by
``accounts.services.user_set_status``; the flows, the CLI and the admin ask nothing else.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db import models

from authenticator.core.errors import InvalidStatusTransition


class UserStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    BLOCKED = "blocked", "Blocked"
    DELETED = "deleted", "Deleted"


class By(StrEnum):
    """Who asks for a change of status."""

    USER = "user"  # the user's own flows: verifying the phone number at sign-up
    SUPPORT = "support"  # a staff member who is not a superuser (the admin)
    SUPERUSER = "superuser"  # a superuser (the admin)
    OPERATOR = "operator"  # whoever runs manage.py at the server (block, unblock, suspend, delete_user)

    @classmethod
    def of(cls, actor: Any | None) -> By:
        """A staff change's ``By``: no person is an operator (the CLI), else by the role."""
        if actor is None:
            return cls.OPERATOR
        return cls.SUPERUSER if actor.is_superuser else cls.SUPPORT


S = UserStatus
STAFF = frozenset({By.SUPPORT, By.SUPERUSER, By.OPERATOR})

# (from, to) -> who may. A pair that is not here is refused to everyone: nothing goes back
# to unverified, deleted is final, blocked is not suspended (unblock first). Accounts are
# deleted only at the server (the admin has no delete: `manage.py delete_user`).
TRANSITIONS: dict[tuple[str, str], frozenset[By]] = {
    # Only verifying the phone makes an account active; a superuser may activate a staff
    # account (see ACTIVATES_STAFF below), an operator only by way of blocked/suspended.
    (S.UNVERIFIED, S.ACTIVE): frozenset({By.USER, By.SUPERUSER}),
    (S.UNVERIFIED, S.BLOCKED): STAFF,
    (S.UNVERIFIED, S.DELETED): frozenset({By.OPERATOR}),
    (S.ACTIVE, S.SUSPENDED): STAFF,
    (S.ACTIVE, S.BLOCKED): STAFF,
    (S.ACTIVE, S.DELETED): frozenset({By.OPERATOR}),
    (S.SUSPENDED, S.ACTIVE): STAFF,
    (S.SUSPENDED, S.BLOCKED): STAFF,
    (S.SUSPENDED, S.DELETED): frozenset({By.OPERATOR}),
    (S.BLOCKED, S.ACTIVE): STAFF,
    (S.BLOCKED, S.DELETED): frozenset({By.OPERATOR}),
}

# On top of the table: nothing makes an account active whose phone number was never
# verified — also not by way of blocked (unverified → blocked → active would hand a
# squatter a number nobody verified) — except the user's own sign-up, which verifies it,
# and, for a staff account (staff sign in by password and second factor, not by phone),
# a superuser or an operator.
ACTIVATES_STAFF = frozenset({By.SUPERUSER, By.OPERATOR})


def status_change_refusal(*, user: Any, status: str, by: By) -> InvalidStatusTransition | None:
    """Why ``by`` may not move ``user`` (its ``status``, ``phone_verified_at`` and
    ``is_staff`` as they are now) to ``status``, or None if it may. The same status is no
    change and always allowed."""
    previous = user.status
    if status == previous:
        return None
    verified = previous != S.UNVERIFIED and user.phone_verified_at is not None
    if status == S.ACTIVE and not verified and by is not By.USER and not (user.is_staff and by in ACTIVATES_STAFF):
        return InvalidStatusTransition("An account becomes active only once its phone number is verified.")
    if by not in TRANSITIONS.get((previous, status), ()):
        return InvalidStatusTransition(f"Cannot change status from {previous} to {status}.")
    return None
