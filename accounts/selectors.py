"""Functions that read accounts."""

from __future__ import annotations

from authenticator.sql import fetch_one

from .models import User

# Both run on every sign-in: written once (authenticator.sql), not compiled per call.


def user_get_by_phone(*, phone_number: str) -> User | None:
    """``phone_number`` must already be E.164 (unique)."""
    return fetch_one(User, "phone_number = %s", [phone_number])


def user_get_by_email(*, email: str) -> User | None:
    """The account whose *verified* email this is; an unverified one is only a claim
    (several accounts may hold it) and names nobody."""
    # Matches the partial unique index on lower(email) WHERE email_verified_at IS NOT NULL.
    return fetch_one(User, "LOWER(email) = %s AND email_verified_at IS NOT NULL", [email.lower()])


def user_counts_by_status() -> dict[str, int]:
    """How many users are in each status; every status is present, zero if none."""
    from django.db.models import Count

    from .models import UserStatus

    counts = {status.value: 0 for status in UserStatus}
    for row in User.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts
