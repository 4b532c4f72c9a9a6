"""Issue and verify one-time passwords, and the decoys that stand in for them.

Rules (all settings in authenticator.core.conf): codes come from ``secrets``; only an HMAC of
the code, bound to its purpose and destination, is stored; comparison is constant time;
a code is used once. Wrong tries are counted in PostgreSQL, *before* the code is
compared (an atomic ``attempts = attempts + 1 ... WHERE attempts < max``), so a burst of
parallel guesses gets at most OTP_MAX_ATTEMPTS comparisons, and losing Redis never lifts
the limit. A new code starts with no tries: guesses made against earlier codes (by
anyone, from anywhere) never make the owner's next code fail. What bounds a guesser
across codes is the account's ceiling: OTP_ACCOUNT_MAX_FAILURES wrong tries per
OTP_FAILURE_WINDOW, half of it per channel (sms, email), so an attack on one leaves the
other working. A code is born with only the tries left under its channel's ceiling (none
once it is reached), so the ceiling is never passed. Support lifts it with
``otp_lockout_reset``. And a code's last try belongs to the address that asked for it:
guesses from anywhere else stop one short, so a guesser racing the owner for the
owner's own fresh code cannot make it fail.

An identifier that gets no real code (no account, or one that is not active) gets a
*decoy*: a row in ``otp_decoys`` keyed by an HMAC of the identifier, issued and checked
by statements of the same shape, with the same expiry, tries and ceiling, so that
verifying against it answers exactly what a real code would.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Expression,
    F,
    IntegerField,
    Q,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.db.models.sql import Query
from django.utils import timezone

from authenticator.core.conf import app_settings
from authenticator.core.db import sql
from authenticator.core.errors import (
    InvalidInput,
    InvalidOtp,
    OtpExpired,
    TooManyAttempts,
)
from authenticator.core.ids import next_id
from sessions_log.models import LoginState
from sessions_log.services import KNOWN_ADDRESS_WINDOW

from .delivery import deliveries_purge
from .models import Otp, OtpChannel, OtpDecoy, OtpLockoutReset

CHANNELS = (OtpChannel.SMS, OtpChannel.EMAIL)


def otp_generate() -> str:
    length = int(app_settings.OTP_LENGTH)
    return f"{secrets.randbelow(10**length):0{length}d}"


def otp_hash(*, code: str, purpose: str, sent_to: str) -> str:
    key = str(app_settings.OTP_HMAC_KEY).encode()
    return hmac.new(key, f"{purpose}\x1f{sent_to}\x1f{code}".encode(), hashlib.sha256).hexdigest()


def address_tag(ip: str | None) -> str:
    """A short keyed hash of a client address (None: not over the network), not the address."""
    if not ip:
        return ""
    key = str(app_settings.OTP_HMAC_KEY).encode()
    return hmac.new(key, f"asker\x1f{ip}".encode(), hashlib.sha256).hexdigest()[:16]


def decoy_key(identifier: str) -> str:
    """The decoys' key for a normalised identifier; emails differ only in case for one inbox."""
    key = str(app_settings.OTP_HMAC_KEY).encode()
    return hmac.new(key, f"decoy\x1f{identifier.lower()}".encode(), hashlib.sha256).hexdigest()


def channel_ceiling() -> int:
    return int(app_settings.OTP_ACCOUNT_MAX_FAILURES) // len(CHANNELS)


def failure_window() -> timedelta:
    return timedelta(seconds=int(app_settings.OTP_FAILURE_WINDOW))


# --- the account ceiling: the tries a new code is born without ------------------------------
def born_without(*, failures: Expression, known_address: Expression, most: int, ceiling: int) -> Case:
    """The ceiling's rule: how many of its ``most`` (OTP_MAX_ATTEMPTS) tries a new code
    is born without, given its channel's wrong tries in the window (``failures``): none
    while ``most`` or more are left under the ``ceiling``; past that, the ones it may not
    use; at the ceiling, all of them — but one try, kept for the asking address, when
    that is an address the account signed in from within KNOWN_ADDRESS_WINDOW
    (``known_address``): the owner's way back that guessers elsewhere can't use (NIST
    SP 800-63B §5.2.2 names exactly this).

    An expression, so the INSERT that makes the code evaluates it: one round trip."""
    return Case(
        When(LessThanOrEqual(failures + most, ceiling), then=Value(0)),
        When(GreaterThanOrEqual(failures, ceiling),
             then=Case(When(known_address, then=Value(most - 1)), default=Value(most))),
        default=failures + most - ceiling,
        output_field=IntegerField(),
    )


@functools.cache
def _born_sql(vendor: str, most: int, ceiling: int) -> tuple[str, tuple]:
    """``born_without`` over the columns ``f.failures`` and ``f.known`` of the statements
    below, compiled once per setting: compiling the expression on every code cost 2–3 ms
    of CPU (and compiled its data subqueries three times over)."""
    rule = born_without(failures=RawSQL("f.failures", (), output_field=IntegerField()),
                        known_address=RawSQL("f.known", (), output_field=BooleanField()), most=most, ceiling=ceiling)
    query = Query(Otp)
    compiled, params = query.get_compiler(connection.alias).compile(rule.resolve_expression(query, allow_joins=False))
    return compiled, tuple(params)


# The data the rule is applied to, per code: the channel's wrong tries in the window —
# every try made (not those a code was born without), minus the right try of each used
# code, support's latest reset starting the count afresh — and whether the asking
# address is one the account signed in from within KNOWN_ADDRESS_WINDOW.
# Each an aggregate over the rows, so PostgreSQL computes it once as it is (a plain
# subquery would be pulled up into the rule, which names it three times).
_CODE_FACTS_SQL = """
SELECT COALESCE(SUM({o.attempts} - {o.born_attempts}), 0) - COUNT({o.consumed_at}) AS failures,
       EXISTS (SELECT 1 FROM {s} WHERE {s.user} = %s AND {s.logged_in_ip} = %s AND {s.logged_in_at} >= %s) AS known
FROM {o} WHERE {o.user} = %s AND {o.channel} = %s AND {o.created_at} >= %s
  AND {o.created_at} >= COALESCE((SELECT MAX({r.reset_at}) FROM {r} WHERE {r.user} = %s AND {r.channel} = %s), %s)
"""
# The same for a decoy: its key is the identifier, so its channel; a decoy is never used
# and no address is the owner's.
_DECOY_FACTS_SQL = """
SELECT COALESCE(SUM({d.attempts} - {d.born_attempts}), 0) AS failures, FALSE AS known
FROM {d} WHERE {d.key} = %s AND {d.purpose} = %s AND {d.created_at} >= %s
"""


def _valid_ip(ip: str | None) -> str | None:
    # Compared with an inet column on PostgreSQL: anything else would be an error there.
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


def _insert_born(row: Otp | OtpDecoy, facts: str, facts_params: list) -> int:
    """INSERT ``row`` with its ``attempts`` and ``born_attempts`` both what ``born_without``
    makes of ``facts`` (a SELECT of ``failures`` and ``known``), in the same statement
    (INSERT ... SELECT); returns their value. The ORM's ``create()`` takes expressions
    too, but cannot return the value without a second statement."""
    model = type(row)
    rule, rule_params = _born_sql(connection.vendor, int(app_settings.OTP_MAX_ATTEMPTS), channel_ceiling())
    meta, qn = model._meta, connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if f.attname not in ("attempts", "born_attempts")]
    attempts, born_attempts = (qn(meta.get_field(name).column) for name in ("attempts", "born_attempts"))
    values = [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
    statement = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}, {attempts}, {born_attempts}) "  # nosec B608 - names from _meta
                 f"SELECT {', '.join(['%s'] * len(values))}, born.n, born.n "
                 f"FROM (SELECT {rule} AS n FROM ({facts}) AS f) AS born RETURNING {attempts}")
    with connection.cursor() as cursor:
        cursor.execute(statement, [*values, *rule_params, *facts_params])
        attempts = cursor.fetchone()[0]
    row.attempts = row.born_attempts = attempts
    row._state.adding = False  # as after save(): the row exists
    return attempts


def otp_issue(*, user_id: int, purpose: str, channel: str, sent_to: str, ip: str | None = None) -> tuple[Otp, str]:
    """Create a new code for the user, ``purpose`` and ``channel``, asked for from client
    address ``ip``; the previous one stops working (verify looks only at the latest)."""
    now = timezone.now()
    code = otp_generate()
    otp = Otp(id=next_id(), user_id=user_id, otp=otp_hash(code=code, purpose=purpose, sent_to=sent_to), purpose=purpose,
              channel=channel, sent_to=sent_to, asked_from=address_tag(ip), created_at=now,
              expired_at=now + timedelta(seconds=int(app_settings.OTP_TTL)))
    since = connection.ops.adapt_datetimefield_value(now - failure_window())
    known_since = connection.ops.adapt_datetimefield_value(now - KNOWN_ADDRESS_WINDOW)
    _insert_born(otp, sql(_CODE_FACTS_SQL, o=Otp, r=OtpLockoutReset, s=LoginState),
                 [user_id, _valid_ip(ip), known_since, user_id, channel, since, user_id, channel, since])
    return otp, code


def otp_decoy_issue(*, identifier: str, purpose: str, ip: str | None = None) -> None:
    """Record a decoy for ``identifier`` (normalised), which gets no real code."""
    now = timezone.now()
    decoy = OtpDecoy(id=next_id(), key=decoy_key(identifier), purpose=purpose, asked_from=address_tag(ip), created_at=now,
                     expired_at=now + timedelta(seconds=int(app_settings.OTP_TTL)))
    _insert_born(decoy, sql(_DECOY_FACTS_SQL, d=OtpDecoy),
                 [decoy.key, purpose, connection.ops.adapt_datetimefield_value(now - failure_window())])


@dataclass(frozen=True)
class CheckedOtp:
    id: int
    sent_to: str
    channel: str


# A try from anywhere but the asking address may not take the code's last try.
# The code a try is against: the newest live code asked for from the trying address, else
# the newest. So a code asked for elsewhere afterwards (a guesser's) does not kill the
# owner's, which would keep the owner out with one request per code.
_CHECK_SQL = (
    "UPDATE {o} SET {o.attempts} = {o.attempts} + 1 WHERE {o.id} = ("
    "  SELECT {o.id} FROM {o} WHERE {o.user} = %s AND {o.purpose} = %s AND {o.channel} = %s"
    "  ORDER BY CASE WHEN {o.asked_from} = %s AND {o.consumed_at} IS NULL AND {o.expired_at} > %s THEN 0 ELSE 1 END,"
    "  {o.created_at} DESC, {o.id} DESC LIMIT 1"
    ") AND {o.consumed_at} IS NULL AND {o.attempts} < %s AND {o.expired_at} > %s"
    " AND ({o.asked_from} = %s OR {o.attempts} < %s - 1)"
    " RETURNING {o.id}, {o.otp}, {o.sent_to}, {o.channel}"
)
_CHECK_DECOY_SQL = (
    "UPDATE {d} SET {d.attempts} = {d.attempts} + 1 WHERE {d.id} = ("
    "  SELECT {d.id} FROM {d} WHERE {d.key} = %s AND {d.purpose} = %s"
    "  ORDER BY CASE WHEN {d.asked_from} = %s AND {d.expired_at} > %s THEN 0 ELSE 1 END, {d.created_at} DESC, {d.id} DESC"
    "  LIMIT 1"
    ") AND {d.attempts} < %s AND {d.expired_at} > %s AND ({d.asked_from} = %s OR {d.attempts} < %s - 1)"
    " RETURNING {d.id}, {d.key}"
)


def otp_check(*, user_id: int, purpose: str, channel: str, code: str, ip: str | None = None) -> CheckedOtp:
    """Count one try (from client address ``ip``) against the user's live code for
    ``purpose`` on ``channel`` and compare; does not consume it.

    The try must stay counted whatever happens after: run it outside a transaction (in
    autocommit, as ``sign_in_complete`` does), never in one a refusal rolls back. Call
    ``otp_consume`` inside the transaction that acts on the success.
    """
    now, asker = timezone.now(), address_tag(ip)
    max_attempts = int(app_settings.OTP_MAX_ATTEMPTS)
    with connection.cursor() as cursor:
        when = connection.ops.adapt_datetimefield_value(now)
        cursor.execute(sql(_CHECK_SQL, o=Otp), [user_id, purpose, channel, asker, when, max_attempts, when, asker, max_attempts])
        row = cursor.fetchone()
    if row is None:
        mine = Case(When(asked_from=asker, consumed_at__isnull=True, expired_at__gt=now, then=Value(0)), default=Value(1))
        latest = (Otp.objects.filter(user_id=user_id, purpose=purpose, channel=channel).annotate(mine=mine)
                  .order_by("mine", "-created_at", "-id")
                  .only("attempts", "asked_from", "created_at", "expired_at", "consumed_at").first())
        _raise_why_unusable(latest, now=now, max_attempts=max_attempts, asker=asker)
    otp_id, stored, sent_to, channel = row
    expected = otp_hash(code=code, purpose=purpose, sent_to=sent_to)
    if not hmac.compare_digest(stored, expected):
        raise InvalidOtp()
    return CheckedOtp(id=otp_id, sent_to=sent_to, channel=channel)


def otp_check_decoy(*, identifier: str, purpose: str, code: str, ip: str | None = None) -> NoReturn:
    """``otp_check`` for an identifier that gets no real code: the same statements and
    answers (the try counted against its decoy), except that no code is ever right."""
    now, asker = timezone.now(), address_tag(ip)
    max_attempts = int(app_settings.OTP_MAX_ATTEMPTS)
    key = decoy_key(identifier)
    with connection.cursor() as cursor:
        when = connection.ops.adapt_datetimefield_value(now)
        cursor.execute(sql(_CHECK_DECOY_SQL, d=OtpDecoy), [key, purpose, asker, when, max_attempts, when, asker, max_attempts])
        row = cursor.fetchone()
    if row is None:
        mine = Case(When(asked_from=asker, expired_at__gt=now, then=Value(0)), default=Value(1))
        latest = (OtpDecoy.objects.filter(key=key, purpose=purpose).annotate(mine=mine)
                  .order_by("mine", "-created_at", "-id")
                  .only("attempts", "asked_from", "created_at", "expired_at").first())
        _raise_why_unusable(latest, now=now, max_attempts=max_attempts, asker=asker)
    hmac.compare_digest(row[1], otp_hash(code=code, purpose=purpose, sent_to=identifier))  # a real check's work
    raise InvalidOtp()


def _raise_why_unusable(latest: Otp | OtpDecoy | None, *, now: datetime, max_attempts: int, asker: str) -> None:
    # A code dead for longer than its own lifetime says "invalid", as no code at all
    # does: how long ago an owner last asked for a code is nobody else's business.
    if latest is None or getattr(latest, "consumed_at", None) is not None:
        raise InvalidOtp()
    if latest.expired_at <= now - timedelta(seconds=int(app_settings.OTP_TTL)):
        raise InvalidOtp()
    if latest.attempts >= max_attempts or (latest.asked_from != asker and latest.attempts >= max_attempts - 1):
        # A new code is the way on: it may be asked for once the resend cooldown is over
        # (decoys carry their creation time too, so the hint is alike for every state).
        resend_at = latest.created_at + timedelta(seconds=int(app_settings.OTP_RESEND_COOLDOWN))
        raise TooManyAttempts(retry_after=math.ceil((resend_at - now).total_seconds()))
    if latest.expired_at <= now:
        raise OtpExpired()
    raise InvalidOtp()


def otp_consume(*, checked: CheckedOtp) -> None:
    """Mark the code used. Exactly one of concurrent redeemers gets past this: the others
    wait on the row's lock, then find it consumed."""
    with connection.cursor() as cursor:  # consumption: the one statement, written once (0.53 → 0.10 ms CPU)
        cursor.execute(sql("UPDATE {o} SET {o.consumed_at} = %s WHERE {o.id} = %s AND {o.consumed_at} IS NULL", o=Otp),
                       [connection.ops.adapt_datetimefield_value(timezone.now()), checked.id])
        used = cursor.rowcount
    if used != 1:
        raise InvalidOtp()


def otps_purge_expired(
    *, older_than: timedelta, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> int:
    """Delete codes and decoys that expired before now - older_than, in batches; returns
    the count. Those with wrong tries are kept while they count towards the account
    ceiling (OTP_FAILURE_WINDOW), so purging never lifts it. A code's delivery records
    go with it, and records of messages with no code (sign-up notices) once as old.

    ``progress`` (a CLI progress bar) is called with the number deleted by each batch.
    """
    now = timezone.now()
    cutoff = now - older_than
    window_start = now - failure_window()
    no_failures = Q(attempts__lte=F("born_attempts")) | Q(created_at__lt=window_start)
    used = Q(consumed_at__isnull=False, attempts__lte=F("born_attempts") + 1)
    total = 0
    for model, done in ((Otp, no_failures | used), (OtpDecoy, no_failures)):
        rows = model.objects.filter(done, expired_at__lt=cutoff)
        while ids := list(rows.values_list("id", flat=True)[:batch_size]):
            # The count is of codes and decoys; their delivery records go in the same delete.
            deleted = model.objects.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
            total += deleted
            if progress is not None:
                progress(deleted)
    deliveries_purge(older_than=older_than, batch_size=batch_size)
    return total


# --- the account ceiling, for support -----------------------------------------------------
@dataclass(frozen=True)
class Lockout:
    """How far an account's channel is towards its ceiling, and until when it is locked."""

    channel: str
    failures: int
    ceiling: int
    locked_until: datetime | None

    def __str__(self) -> str:
        text = f"{self.failures}/{self.ceiling} wrong {self.channel} codes in {failure_window().days} days"
        return f"{text}, locked until {self.locked_until:%Y-%m-%d %H:%M} UTC" if self.locked_until else text


def otp_lockout_status(*, user_id: int, channel: str) -> Lockout:
    now = timezone.now()
    since = now - failure_window()
    reset = (OtpLockoutReset.objects.filter(user_id=user_id, channel=channel).order_by("-reset_at")
             .values_list("reset_at", flat=True).first())
    if reset is not None and reset > since:
        since = reset
    rows = (Otp.objects.filter(user_id=user_id, channel=channel, created_at__gte=since).order_by("created_at")
            .values_list("created_at", "attempts", "born_attempts", "consumed_at"))
    counted = [(created, attempts - born - (consumed is not None)) for created, attempts, born, consumed in rows]
    failures, ceiling = sum(n for _c, n in counted), channel_ceiling()
    locked_until = None
    if failures >= ceiling:
        left = failures  # the oldest codes leave the window first; the lock ends when enough have
        for created, n in counted:
            left -= n
            if left < ceiling:
                locked_until = created + failure_window()
                break
    return Lockout(channel=channel, failures=failures, ceiling=ceiling, locked_until=locked_until)


@transaction.atomic
def otp_lockout_reset(*, user_id: int, channel: str, reason: str, actor_id: int | None = None,
                      actor_label: str = "") -> OtpLockoutReset:
    """Support's way back for an owner locked out by guessers: wrong tries so far no
    longer count on ``channel``; the reset is the audit (who, why, when)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("A reset needs a reason.")
    if channel not in CHANNELS:
        raise InvalidInput(f"No such channel: {channel!r}.")
    return OtpLockoutReset.objects.create(user_id=user_id, channel=channel, reason=reason[:255], actor_id=actor_id,
                                          actor_label=actor_label[:64], reset_at=timezone.now())
