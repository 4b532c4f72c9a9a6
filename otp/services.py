"""Issue and verify one-time passwords.

Rules (all settings in authenticator.conf): codes come from ``secrets``; only an HMAC of
the code, bound to its purpose and destination, is stored; comparison is constant time;
a code is used once. Wrong tries are counted in PostgreSQL, *before* the code is
compared (an atomic ``attempts = attempts + 1 ... WHERE attempts < max``), so a burst of
parallel guesses gets at most OTP_MAX_ATTEMPTS comparisons, and losing Redis never lifts
the limit. A new code inherits the wrong tries of the code it replaces, so a resend does
not reset the count; and once an account has had OTP_ACCOUNT_MAX_FAILURES wrong tries in
a day, its new codes are born locked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from authenticator.conf import app_settings
from authenticator.errors import InvalidOtp, OtpExpired, TooManyAttempts

from .models import Otp

ACCOUNT_WINDOW = timedelta(days=1)


def otp_generate() -> str:
    length = int(app_settings.OTP_LENGTH)
    return f"{secrets.randbelow(10**length):0{length}d}"


def otp_hash(*, code: str, purpose: str, sent_to: str) -> str:
    key = str(app_settings.OTP_HMAC_KEY).encode()
    return hmac.new(key, f"{purpose}\x1f{sent_to}\x1f{code}".encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def otp_issue(*, user, purpose: str, channel: str, sent_to: str) -> tuple[Otp, str]:
    """Create a new code for ``user`` and ``purpose``; the previous live code stops working."""
    now = timezone.now()
    max_attempts = int(app_settings.OTP_MAX_ATTEMPTS)
    live = (
        Otp.objects.select_for_update()
        .filter(user=user, purpose=purpose, consumed_at__isnull=True, expired_at__gt=now)
        .order_by("-created_at")
        .only("id", "attempts")
        .first()
    )
    attempts = live.attempts if live else 0
    if live:
        Otp.objects.filter(pk=live.pk).update(expired_at=now)
    if attempts < max_attempts:
        # A used code's last try was the right one: it is not a wrong try.
        totals = Otp.objects.filter(user=user, created_at__gte=now - ACCOUNT_WINDOW).aggregate(
            tries=Sum("attempts"), used=Count("id", filter=Q(consumed_at__isnull=False))
        )
        failures = (totals["tries"] or 0) - totals["used"]
        if failures >= int(app_settings.OTP_ACCOUNT_MAX_FAILURES):
            attempts = max_attempts
    code = otp_generate()
    otp = Otp.objects.create(
        user=user,
        otp=otp_hash(code=code, purpose=purpose, sent_to=sent_to),
        purpose=purpose,
        channel=channel,
        sent_to=sent_to,
        attempts=attempts,
        expired_at=now + timedelta(seconds=int(app_settings.OTP_TTL)),
    )
    return otp, code


@dataclass(frozen=True)
class CheckedOtp:
    id: int
    sent_to: str
    channel: str


def otp_check(*, user_id: int, purpose: str, code: str) -> CheckedOtp:
    """Count one try against the user's live code and compare; does not consume it.

    Runs in autocommit on purpose: the try must stay counted whatever happens after.
    Call ``otp_consume`` inside the transaction that acts on the success.
    """
    now = timezone.now()
    max_attempts = int(app_settings.OTP_MAX_ATTEMPTS)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE otps SET attempts = attempts + 1 WHERE id = ("
            "  SELECT id FROM otps WHERE user_id = %s AND purpose = %s AND consumed_at IS NULL"
            "  ORDER BY created_at DESC, id DESC LIMIT 1"
            ") AND attempts < %s AND expired_at > %s RETURNING id, otp, sent_to, channel",
            [user_id, purpose, max_attempts, now],
        )
        row = cursor.fetchone()
    if row is None:
        _raise_why_unusable(user_id=user_id, purpose=purpose, now=now, max_attempts=max_attempts)
    otp_id, stored, sent_to, channel = row
    expected = otp_hash(code=code, purpose=purpose, sent_to=sent_to)
    if not hmac.compare_digest(stored, expected):
        raise InvalidOtp()
    return CheckedOtp(id=otp_id, sent_to=sent_to, channel=channel)


def _raise_why_unusable(*, user_id: int, purpose: str, now, max_attempts: int) -> None:
    latest = (
        Otp.objects.filter(user_id=user_id, purpose=purpose, consumed_at__isnull=True)
        .order_by("-created_at", "-id")
        .only("attempts", "expired_at")
        .first()
    )
    if latest is None:
        raise InvalidOtp()
    if latest.attempts >= max_attempts:
        raise TooManyAttempts()
    if latest.expired_at <= now:
        raise OtpExpired()
    raise InvalidOtp()


def otp_consume(*, checked: CheckedOtp) -> None:
    """Mark the code used. Exactly one of concurrent redeemers gets past this."""
    used = Otp.objects.filter(pk=checked.id, consumed_at__isnull=True).update(consumed_at=timezone.now())
    if used != 1:
        raise InvalidOtp()


def otps_purge_expired(
    *, older_than: timedelta, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> int:
    """Delete codes that expired before now - older_than, in batches; returns the count.

    ``progress`` (a CLI progress bar) is called with the number deleted by each batch.
    """
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        ids = list(Otp.objects.filter(expired_at__lt=cutoff).values_list("id", flat=True)[:batch_size])
        if not ids:
            return total
        deleted = Otp.objects.filter(pk__in=ids).delete()[0]
        total += deleted
        if progress is not None:
            progress(deleted)
