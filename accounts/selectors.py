"""Functions that read accounts."""

from __future__ import annotations

from django.db.models.functions import Lower

from authenticator.sql import fetch_one

from .models import User

# Both run on every sign-in: written once (authenticator.sql), not compiled per call.


def user_get_by_phone(*, phone_number: str) -> User | None:
    """``phone_number`` must already be E.164 (unique)."""
    return fetch_one(User, "phone_number = %s", [phone_number])


def user_get_by_email(*, email: str) -> User | None:
    # Matches the functional unique index on lower(email).
    return fetch_one(User, "LOWER(email) = %s", [email.lower()])


def user_email_taken(*, email: str, exclude_user_id: int | None = None) -> bool:
    users = User.objects.alias(email_lower=Lower("email")).filter(email_lower=email.lower())
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return users.exists()


def user_counts_by_status() -> dict[str, int]:
    """How many users are in each status; every status is present, zero if none."""
    from django.db.models import Count

    from .models import UserStatus

    counts = {status.value: 0 for status in UserStatus}
    for row in User.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts
