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
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from authenticator.conf import app_settings
from authenticator.ids import next_id
from authenticator.errors import InvalidOtp, OtpExpired, TooManyAttempts

from .models import Otp

ACCOUNT_WINDOW = timedelta(days=1)


def otp_generate() -> str:
    length = int(app_settings.OTP_LENGTH)
    return f"{secrets.randbelow(10**length):0{length}d}"


def otp_hash(*, code: str, purpose: str, sent_to: str) -> str:
    key = str(app_settings.OTP_HMAC_KEY).encode()
    return hmac.new(key, f"{purpose}\x1f{sent_to}\x1f{code}".encode(), hashlib.sha256).hexdigest()


# One statement, so a sign-in code costs one round trip. The new code's tries start where
# the user's latest code for the purpose stood, if that one is still live (a resend does
# not reset the count); the latest code is the only one verify looks at, so older ones
# need no UPDATE to die. ``inherited_attempts`` keeps the carried tries apart, so the
# daily account count (tries made, minus carried ones, minus the right try of each used
# code) counts every wrong guess once. Over the daily cap, the code is born locked.
_ISSUE_SQL = """
INSERT INTO otps (id, user_id, otp, purpose, channel, sent_to, attempts, inherited_attempts,
                  created_at, expired_at, consumed_at)
SELECT %(id)s, %(user_id)s, %(hash)s, %(purpose)s, %(channel)s, %(sent_to)s, born.attempts, born.attempts,
       %(now)s, %(expires)s, NULL
FROM (
  SELECT CASE WHEN day.failures >= %(daily_cap)s THEN %(max_attempts)s ELSE COALESCE(prev.carry, 0) END AS attempts
  FROM (SELECT COALESCE(SUM(attempts - inherited_attempts), 0) - COUNT(consumed_at) AS failures
        FROM otps WHERE user_id = %(user_id)s AND created_at >= %(since)s) AS day
  LEFT JOIN (SELECT CASE WHEN consumed_at IS NULL AND expired_at > %(now)s THEN attempts ELSE 0 END AS carry
             FROM otps WHERE user_id = %(user_id)s AND purpose = %(purpose)s
             ORDER BY created_at DESC, id DESC LIMIT 1) AS prev ON 1 = 1
) AS born
RETURNING attempts
"""


def otp_issue(*, user_id: int, purpose: str, channel: str, sent_to: str) -> tuple[Otp, str]:
    """Create a new code for the user and ``purpose``; the previous code stops working."""
    now = timezone.now()
    expires = now + timedelta(seconds=int(app_settings.OTP_TTL))
    code = otp_generate()
    otp = Otp(id=next_id(), user_id=user_id, otp=otp_hash(code=code, purpose=purpose, sent_to=sent_to), purpose=purpose,
              channel=channel, sent_to=sent_to, created_at=now, expired_at=expires)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_ISSUE_SQL, {
            "id": otp.pk, "user_id": user_id, "hash": otp.otp, "purpose": purpose, "channel": channel,
            "sent_to": sent_to, "now": adapt(now), "expires": adapt(expires), "since": adapt(now - ACCOUNT_WINDOW),
            "daily_cap": int(app_settings.OTP_ACCOUNT_MAX_FAILURES), "max_attempts": int(app_settings.OTP_MAX_ATTEMPTS),
        })
        otp.attempts = otp.inherited_attempts = cursor.fetchone()[0]
    otp._state.adding = False
    return otp, code


@dataclass(frozen=True)
class CheckedOtp:
    id: int
    sent_to: str
    channel: str


def otp_check(*, user_id: int, purpose: str, code: str) -> CheckedOtp:
    """Count one try against the user's live code and compare; does not consume it.

    The try must stay counted whatever happens after: run it in autocommit, or in a
    transaction that commits even when the code is refused (``sign_in_complete``).
    Call ``otp_consume`` inside the transaction that acts on the success.
    """
    now = timezone.now()
    max_attempts = int(app_settings.OTP_MAX_ATTEMPTS)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE otps SET attempts = attempts + 1 WHERE id = ("
            "  SELECT id FROM otps WHERE user_id = %s AND purpose = %s"
            "  ORDER BY created_at DESC, id DESC LIMIT 1"
            ") AND consumed_at IS NULL AND attempts < %s AND expired_at > %s RETURNING id, otp, sent_to, channel",
            [user_id, purpose, max_attempts, connection.ops.adapt_datetimefield_value(now)],
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
        Otp.objects.filter(user_id=user_id, purpose=purpose)
        .order_by("-created_at", "-id")
        .only("attempts", "created_at", "expired_at", "consumed_at")
        .first()
    )
    if latest is None or latest.consumed_at is not None:
        raise InvalidOtp()
    if latest.attempts >= max_attempts:
        # A new code is the way on: it may be asked for once the resend cooldown is over.
        resend_at = latest.created_at + timedelta(seconds=int(app_settings.OTP_RESEND_COOLDOWN))
        raise TooManyAttempts(retry_after=math.ceil((resend_at - now).total_seconds()))
    if latest.expired_at <= now:
        raise OtpExpired()
    raise InvalidOtp()


def otp_consume(*, checked: CheckedOtp) -> None:
    """Mark the code used. Exactly one of concurrent redeemers gets past this."""
    with connection.cursor() as cursor:  # on every sign-in: SQL written once, not compiled per call
        cursor.execute("UPDATE otps SET consumed_at = %s WHERE id = %s AND consumed_at IS NULL",
                       [connection.ops.adapt_datetimefield_value(timezone.now()), checked.id])
        used = cursor.rowcount
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
