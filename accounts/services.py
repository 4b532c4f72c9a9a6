"""Functions that change accounts. Nothing else writes ``users.status`` (``user_set_status``,
by the table in ``accounts.status``) or the status history (through ``StatusHistory.objects.record``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from authenticator.core.errors import (
    EmailTaken,
    InvalidInput,
    PhoneNumberTaken,
    StaffNotAllowed,
)

from .models import (
    LEVEL_MAX,
    LEVEL_MIN,
    StaffChange,
    StatusHistory,
    User,
    UserStatus,
    UserType,
)
from .selectors import group_has_staff, permissions_not_held, staff_may_act_on
from .status import By, status_change_refusal
from .validation import normalise_email, normalise_phone_for_country


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
    """A new account (validated and normalised here) with its first status-history row."""
    phone, country = phone_and_country(phone_number=phone_number, country_id=country_id)
    if email:
        try:
            email = normalise_email(email)
        except ValidationError as exc:
            raise validation_to_input_error(exc, "email") from None
    try:
        with transaction.atomic():
            return User.objects.create_user(
                phone, country, name.strip(), password=password, salutation=salutation or None, email=email or None,
                type=type, status=status, actor=actor, actor_label=actor_label, **extra,
            )
    except IntegrityError as exc:
        raise _integrity_to_conflict(exc) from exc


def user_set_status(
    *,
    user: User,
    status: str,
    by: By = By.USER,
    reason: str = "",
    actor: User | None = None,
    actor_label: str = "system",
    **also: Any,
) -> User:
    """Change a user's status, if ``by`` may (``accounts.status``), and write its history row,
    atomically. ``by`` is the user's own flow (sign-up) unless said otherwise.

    The row is locked so two concurrent changes serialise, the change is decided on the
    account as it is then, and each history row's ``previous_status`` is the status it
    really replaced. ``also`` are other columns set by the same UPDATE (e.g.
    ``phone_verified_at`` when sign-up activates the account). No savepoint (a sign-up
    calls this inside its transaction on every activation); a refused change is raised
    after the block, so it never spoils a caller's transaction.
    """
    with transaction.atomic(savepoint=False):
        current = User.objects.select_for_update().only("id", "status", "phone_verified_at", "is_staff").get(pk=user.pk)
        previous = current.status
        refused = status_change_refusal(user=current, status=status, by=by)
        if refused is None and status != previous:
            now = timezone.now()
            User.objects.filter(pk=user.pk).update(status=status, updated_at=now, **also)
            StatusHistory.objects.record(user=user, status=status, previous_status=previous, reason=reason,
                                         actor=actor, actor_label=actor_label)
            if actor is not None:  # a person did it: the staff audit trail has it too
                staff_change_record(user=user, actor=actor, field="status", old=previous, new=status, reason=reason)
            user.status, user.updated_at = status, now
            for name, value in also.items():
                setattr(user, name, value)
    if refused is not None:
        raise refused
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


def levels_check(*, level: int | None, tier: int | None = None) -> None:
    """InvalidInput (``out_of_range``) unless each given value is in LEVEL_MIN..LEVEL_MAX."""
    for name, value in (("level", level), ("tier", tier)):
        if value is not None and not LEVEL_MIN <= value <= LEVEL_MAX:
            raise InvalidInput(extra={"errors": {name: [
                {"code": "out_of_range", "message": f"Must be between {LEVEL_MIN} and {LEVEL_MAX}."}]}})


@transaction.atomic
def user_set_level(*, user: User, level: int, tier: int | None = None, actor: User | None = None, reason: str = "") -> User:
    """Set the level (and optionally the tier); a change by a staff member is audited."""
    levels_check(level=level, tier=tier)
    current = User.objects.select_for_update().only("id", "tier", "level").get(pk=user.pk)
    fields: dict[str, Any] = {"level": level, "updated_at": timezone.now()}
    if tier is not None:
        fields["tier"] = tier
    User.objects.filter(pk=user.pk).update(**fields)
    if actor is not None:
        for name in ("tier", "level"):
            if name in fields and fields[name] != getattr(current, name):
                staff_change_record(user=user, actor=actor, field=name, old=getattr(current, name), new=fields[name], reason=reason)
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


# -- changes by staff (the admin) -----------------------------------------------------------

# Never written to the audit trail with a value, old or new.
SECRET_FIELDS = frozenset({"password"})
# What the admin's change form may set. Staff who are not superusers get only the first
# three: the phone number is where sign-in codes go, and the rest are a role.
SUPPORT_FIELDS = frozenset({"name", "salutation", "email"})
USER_FIELDS = SUPPORT_FIELDS | {"phone_number", "country_id", "is_staff", "is_superuser", "groups", "user_permissions"}
_M2M = ("groups", "user_permissions")


def staff_change_record(*, user: User, actor: User | None, field: str, old: Any = None, new: Any = None, reason: str = "") -> StaffChange:
    """One audit row; call it inside the transaction of the change it records."""
    if field in SECRET_FIELDS:
        old = new = None
    return StaffChange.objects.create(
        user_id=user.pk, actor=actor, field=field, reason=reason[:500],
        old_value=None if old is None else str(old), new_value=None if new is None else str(new),
    )


def staff_assert_may_change(*, actor: User, user: User, fields: Iterable[str]) -> None:
    """Refuse (StaffNotAllowed) what ``actor``'s role does not allow on ``user``."""
    if actor.is_superuser:
        return
    if not actor.is_staff or not staff_may_act_on(actor=actor, user=user):
        raise StaffNotAllowed("Only a superuser can change a staff account, or your own.")
    beyond = sorted(set(fields) - SUPPORT_FIELDS)
    if beyond:
        raise StaffNotAllowed(f"Only a superuser can change {', '.join(beyond)}.")


def _names(items: Iterable[Group | Permission]) -> str:
    # Groups by name, permissions as "app_label.codename" (what has_perm takes).
    return ", ".join(sorted(f"{i.content_type.app_label}.{i.codename}" if isinstance(i, Permission) else i.name for i in items))


@transaction.atomic
def user_update_by_staff(*, user: User, actor: User, changes: Mapping[str, Any]) -> list[StaffChange]:
    """A staff member's edit of ``user`` (the admin's change form): one audit row per field
    that really changed, in the same transaction.

    An email set by staff is unverified until its owner verifies it: else a staff member
    could point a verified address at their own inbox and sign in by email code. A new
    phone number is unverified for the same reason. ``groups`` / ``user_permissions`` may
    add only permissions ``actor`` holds.
    """
    unknown = set(changes) - USER_FIELDS
    if unknown:
        raise ValueError(f"not editable by staff: {sorted(unknown)}")
    staff_assert_may_change(actor=actor, user=user, fields=changes)
    current = User.objects.select_for_update().get(pk=user.pk)
    values = dict(changes)
    if "phone_number" in values or "country_id" in values:
        values["phone_number"], values["country_id"] = phone_and_country(
            phone_number=values.get("phone_number", current.phone_number), country_id=values.get("country_id", current.country_id))
    if values.get("email"):
        try:
            values["email"] = normalise_email(values["email"])
        except ValidationError as exc:
            raise validation_to_input_error(exc, "email") from None
    for name in ("email", "salutation"):
        if name in values:
            values[name] = values[name] or None
    if "name" in values:
        values["name"] = values["name"].strip()

    rows: list[StaffChange] = []
    updated: list[str] = []
    for field in [f for f in values if f not in _M2M]:
        old, new = getattr(current, field), values[field]
        if old != new:
            setattr(current, field, new)
            updated.append(field)
            rows.append(staff_change_record(user=current, actor=actor, field=field, old=old, new=new))
    if "email" in updated:
        current.email_verified_at = None
        updated.append("email_verified_at")
    if "phone_number" in updated:
        current.phone_verified_at = None
        updated.append("phone_verified_at")
    if updated:
        try:
            with transaction.atomic():
                current.save(update_fields=[*updated, "updated_at"])
        except IntegrityError as exc:
            raise _integrity_to_conflict(exc) from exc
    for field in [f for f in _M2M if f in values]:
        related = getattr(current, field)
        before, after = set(related.select_related("content_type") if field == "user_permissions" else related.all()), set(values[field])
        if before == after:
            continue
        added = after - before
        granted = Permission.objects.filter(group__in=added).select_related("content_type") if field == "groups" else added
        refused = permissions_not_held(actor=actor, permissions=granted)
        if refused:
            raise StaffNotAllowed(f"You cannot grant permissions you do not hold: {', '.join(refused)}.")
        related.set(after)
        rows.append(staff_change_record(user=current, actor=actor, field=field, old=_names(before), new=_names(after)))
    for field in [*updated, "updated_at"]:
        setattr(user, field, getattr(current, field))
    return rows


@transaction.atomic
def user_set_password_by_staff(*, user: User, actor: User, password: str | None) -> StaffChange:
    """Set (or, with None, disable) a password; audited without any value."""
    staff_assert_may_change(actor=actor, user=user, fields=["password"])
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save(update_fields=["password", "updated_at"])
    return staff_change_record(user=user, actor=actor, field="password",
                               reason="password changed" if password else "password sign-in disabled")


@transaction.atomic
def user_create_by_staff(*, actor: User, phone_number: str, country_id: str, name: str, password: str | None) -> User:
    """An account added in the admin: ``user_create`` (its first history row) plus the audit."""
    user = user_create(phone_number=phone_number, country_id=country_id, name=name, password=password,
                       actor=actor, actor_label="admin")
    for field in ("phone_number", "country_id", "name"):
        staff_change_record(user=user, actor=actor, field=field, new=getattr(user, field), reason="created in the admin")
    if password:
        staff_change_record(user=user, actor=actor, field="password", reason="password set")
    return user


@transaction.atomic
def group_save_by_staff(*, group: Group, actor: User, permissions: Iterable[Permission]) -> Group:
    """A group added or changed in the admin (``group`` with its new name set).

    Only a superuser changes a group a staff member is in (that would change the staff
    member's role, or one's own); nobody adds a permission they do not hold.
    """
    permissions = set(permissions)
    before = set(group.permissions.select_related("content_type")) if group.pk else set()
    if not actor.is_superuser and group.pk and group_has_staff(group=group):
        raise StaffNotAllowed("Only a superuser can change a group a staff member is in.")
    refused = permissions_not_held(actor=actor, permissions=permissions - before)
    if refused:
        raise StaffNotAllowed(f"You cannot grant permissions you do not hold: {', '.join(refused)}.")
    group.save()
    group.permissions.set(permissions)
    return group


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
