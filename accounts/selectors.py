"""Functions that read accounts."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.db.models import Count, Q, QuerySet

from authenticator.core.db import first

from .models import StaffChange, User, UserStatus


def user_made_by_staff(*, user: User) -> bool:
    """Whether staff made or changed the account in the admin (a staff account, one with an
    admin password, or one with a staff change on record)."""
    return bool(user.is_staff or user.is_superuser or user.has_usable_password()
                or StaffChange.objects.filter(user_id=user.pk).exists())


def user_get_by_phone(*, phone_number: str) -> User | None:
    """``phone_number`` must already be E.164 (unique)."""
    return first(User, "{m.phone_number} = %s", [phone_number])  # every sign-in: see core.db.first


def user_get_by_email(*, email: str) -> User | None:
    """The account whose *verified* email this is; an unverified one is only a claim
    (several accounts may hold it) and names nobody."""
    # Matches the partial unique index on lower(email) WHERE email_verified_at IS NOT NULL.
    return first(User, "LOWER({m.email}) = %s AND {m.email_verified_at} IS NOT NULL", [email.lower()])


def user_counts_by_status() -> dict[str, int]:
    """How many users are in each status; every status is present, zero if none."""
    counts = {status.value: 0 for status in UserStatus}
    for row in User.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def staff_may_act_on(*, actor: User, user: User) -> bool:
    """Whether ``actor`` may change ``user`` at all: superusers may; other staff only plain
    accounts, never their own (a role is granted by someone else)."""
    if actor.is_superuser:
        return True
    return not (user.is_staff or user.is_superuser) and user.pk != actor.pk


def permissions_not_held(*, actor: User, permissions: Iterable[Permission]) -> list[str]:
    """The ``app_label.codename`` of each of ``permissions`` (Permission rows) that ``actor``
    does not hold: what they would be granting beyond their own role."""
    wanted = {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
    return sorted(wanted - actor.get_all_permissions())  # a superuser's is every permission


def group_has_staff(*, group: Group) -> bool:
    return group.user_set.filter(Q(is_staff=True) | Q(is_superuser=True)).exists()


def permissions_held(*, actor: User) -> QuerySet[Permission]:
    """The Permission rows ``actor`` holds (directly, by a group, or as a superuser)."""
    held = Q(pk__in=[])
    for name in actor.get_all_permissions():
        app_label, codename = name.split(".", 1)
        held |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(held)
