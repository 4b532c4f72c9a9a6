"""Functions that change accounts. Nothing else writes ``users.status``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from authenticator.errors import EmailTaken, InvalidInput, InvalidStatusTransition, PhoneNumberTaken

from .models import StatusHistory, User, UserStatus, UserType
from .validation import normalise_email, normalise_phone_for_country

S = UserStatus
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    S.UNVERIFIED: {S.ACTIVE, S.BLOCKED, S.DELETED},
    S.ACTIVE: {S.SUSPENDED, S.BLOCKED, S.DELETED},
    S.SUSPENDED: {S.ACTIVE, S.BLOCKED, S.DELETED},
    S.BLOCKED: {S.ACTIVE, S.DELETED},
    S.DELETED: set(),
}


def validation_to_input_error(exc: ValidationError, field: str) -> InvalidInput:
    code = getattr(exc, "code", None) or "invalid"
    return InvalidInput(extra={"errors": {field: [{"code": code, "message": str(exc.messages[0])}]}})


def phone_and_country(*, phone_number: str, country_id: str) -> tuple[str, str]:
    """E.164 number and ISO country, consistent with each other, or field errors."""
    try:
        return normalise_phone_for_country(phone_number, country_id)
    except ValidationError as exc:
        raise validation_to_input_error(exc, "country_id" if exc.code == "invalid_country" else "phone_number") from None


def _integrity_to_conflict(exc: IntegrityError) -> Exception:
    text = str(exc).lower()
    if "email" in text:
        return EmailTaken()
    if "phone" in text:
        return PhoneNumberTaken()
    return exc


@transaction.atomic
def user_create(
    *,
    phone_number: str,
    country_id: str,
    name: str,
    salutation: str | None = None,
    email: str | None = None,
    type: str = UserType.PHONE,
    status: str = UserStatus.UNVERIFIED,
    password: str | None = None,
    actor: User | None = None,
    actor_label: str = "signup",
    **extra: Any,
) -> User:
    phone, country = phone_and_country(phone_number=phone_number, country_id=country_id)
    if email:
        try:
            email = normalise_email(email)
        except ValidationError as exc:
            raise validation_to_input_error(exc, "email") from None
    user = User(
        phone_number=phone,
        country_id=country,
        name=name.strip(),
        salutation=(salutation or None),
        email=email or None,
        type=type,
        status=status,
        **extra,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError as exc:
        raise _integrity_to_conflict(exc) from exc
    StatusHistory.objects.create(
        user=user, status=status, previous_status=None, reason="created", actor=actor, actor_label=actor_label
    )
    return user


def user_set_status(
    *,
    user: User,
    status: str,
    reason: str = "",
    actor: User | None = None,
    actor_label: str = "system",
    **also: Any,
) -> User:
    """Change a user's status and write its history row, atomically.

    The row is locked so two concurrent changes serialise and each history row's
    ``previous_status`` is the status it really replaced. ``also`` are other columns set
    by the same UPDATE (e.g. ``phone_verified_at`` when sign-up activates the account).
    No savepoint (a sign-up calls this inside its transaction on every activation); a
    refused change is raised after the block, so it never spoils a caller's transaction.
    """
    with transaction.atomic(savepoint=False):
        previous = User.objects.select_for_update().only("id", "status").get(pk=user.pk).status
        allowed = status == previous or status in ALLOWED_TRANSITIONS.get(previous, set())
        if allowed and status != previous:
            now = timezone.now()
            User.objects.filter(pk=user.pk).update(status=status, updated_at=now, **also)
            StatusHistory.objects.create(
                user_id=user.pk,
                status=status,
                previous_status=previous,
                reason=reason[:500],
                actor=actor,
                actor_label=actor_label if actor is None else (actor_label or "staff"),
            )
            user.status, user.updated_at = status, now
            for name, value in also.items():
                setattr(user, name, value)
    if not allowed:
        raise InvalidStatusTransition(f"Cannot change status from {previous} to {status}.")
    return user


def user_update_unverified(*, user: User, name: str, salutation: str | None, email: str | None, type: str) -> User:
    """Replace the sign-up details of an account whose phone is not verified yet."""
    user.name, user.salutation, user.type = name.strip(), salutation or None, type
    if email:
        try:
            user.email = normalise_email(email)
        except ValidationError as exc:
            raise validation_to_input_error(exc, "email") from None
    else:
        user.email = None
    user.email_verified_at = None
    # An unverified email is a claim, unique nowhere: nothing here can conflict.
    user.save(update_fields=["name", "salutation", "type", "email", "email_verified_at", "updated_at"])
    return user


@transaction.atomic
def user_set_level(*, user: User, level: int, tier: int | None = None) -> User:
    fields = {"level": level, "updated_at": timezone.now()}
    if tier is not None:
        fields["tier"] = tier
    User.objects.filter(pk=user.pk).update(**fields)
    for key, value in fields.items():
        setattr(user, key, value)
    return user


def user_update_profile(*, user: User, name: str | None = None, salutation: str | None = None, clear_salutation: bool = False) -> User:
    fields: list[str] = []
    if name is not None:
        user.name = name.strip()
        fields.append("name")
    if salutation is not None or clear_salutation:
        user.salutation = salutation or None
        fields.append("salutation")
    if fields:
        user.save(update_fields=[*fields, "updated_at"])
    return user


def user_set_email(*, user: User, email: str, verified_at=None) -> User:
    """Make ``email`` the user's verified address; EmailTaken if another account has verified it.

    Whoever verifies an address first owns it: the unverified claims other accounts
    hold on it are cleared in the same transaction (they could never be verified now).
    """
    user.email = normalise_email(email)
    user.email_verified_at = verified_at or timezone.now()
    try:
        with transaction.atomic():
            user.save(update_fields=["email", "email_verified_at", "updated_at"])
            (User.objects.alias(email_lower=Lower("email"))
             .filter(email_lower=user.email.lower(), email_verified_at__isnull=True).exclude(pk=user.pk)
             .update(email=None, updated_at=user.updated_at))
    except IntegrityError as exc:
        raise EmailTaken() from exc
    return user


def user_email_claims_purge(*, older_than: timedelta, batch_size: int = 5000,
                            progress: Callable[[int], None] | None = None) -> int:
    """Drop unverified emails from accounts not changed for ``older_than``; verified ones stay.

    An unverified email blocks nobody, but it is still an address somebody typed about
    somebody else: it is not kept for ever. Accounts keep no time of the claim itself;
    ``updated_at`` (the last change of the account) stands for it.
    """
    cutoff = timezone.now() - older_than
    claims = User.objects.filter(email__isnull=False, email_verified_at__isnull=True, updated_at__lt=cutoff)
    total = 0
    while ids := list(claims.values_list("id", flat=True)[:batch_size]):
        cleared = User.objects.filter(pk__in=ids).update(email=None)  # updated_at kept: nothing the user did
        total += cleared
        if progress is not None:
            progress(cleared)
    return total
