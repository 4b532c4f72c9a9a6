"""Record sign-in, sign-out and revocation of login states."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from authenticator.core.db import exists, sql
from authenticator.geolocation import locate

from .models import (
    ENDED_STATUS,
    EndedReason,
    LoginState,
    LoginStateRefreshToken,
    LoginStatus,
)


@dataclass(frozen=True)
class Requester:
    """Who asks for a sign-in: the device the client reports, its address, its user agent."""

    platform: str = ""  # the `device` field: e.g. "ios 18.1 / iPhone 15"
    ip: str | None = None  # the client IP (see authenticator.edge.client)
    user_agent: str = ""


# An address the account signed in from this recently is the owner's, as far as limits go:
# past the wrong-code ceiling its codes keep one try (otp.services), and its code requests
# are not counted against the number's hourly cap — guessers elsewhere can use neither.
KNOWN_ADDRESS_WINDOW = timedelta(days=90)


NO_CLIENT = "::"  # the unspecified address: no client has it, so no login state matches


def login_state_seen_from(*, user_id: int | None, ip: str | None) -> bool:
    """Whether the account signed in from ``ip`` within KNOWN_ADDRESS_WINDOW. The query runs
    for unknown identifiers too (no account: user 0), so its cost tells nobody anything."""
    try:
        address = str(ipaddress.ip_address(ip)) if ip else NO_CLIENT
    except ValueError:
        address = NO_CLIENT
    since = connection.ops.adapt_datetimefield_value(timezone.now() - KNOWN_ADDRESS_WINDOW)
    return exists(LoginState, "{m.user} = %s AND {m.logged_in_ip} = %s AND {m.logged_in_at} >= %s",
                  [user_id or 0, address, since])  # every code request: see core.db.first


def login_state_open(*, user, requester: Requester, method: str) -> LoginState:
    return LoginState.objects.create(
        user=user,
        logged_in_on=requester.platform[:128],
        logged_in_from=locate(requester.ip).label()[:128],
        logged_in_ip=requester.ip,
        user_agent=requester.user_agent[:512],
        method=method,
        status=LoginStatus.ACTIVE,
    )


def login_states_close(*, user_id: int, reason: EndedReason, session_id: int | None = None) -> int:
    """End the user's active login states (one or all) for ``reason``;
    returns how many."""
    states = LoginState.objects.filter(user_id=user_id, status=LoginStatus.ACTIVE)
    if session_id is not None:
        states = states.filter(pk=session_id)
    return states.update(status=ENDED_STATUS[reason], ended_reason=reason, logged_out_at=timezone.now())


def refresh_token_digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def login_state_tokens_issued(*, state: LoginState, refresh_token: str) -> None:
    """Remember the first refresh token handed out for ``state`` (see LoginStateRefreshToken)."""
    LoginStateRefreshToken.objects.create(digest=refresh_token_digest(refresh_token), login_state_id=state.pk,
                                          created_at=state.logged_in_at)


class RefreshedState(NamedTuple):
    status: str
    user_id: int
    user_status: str


# PostgreSQL records the refresh and its new token in one statement (a data-modifying
# CTE); other databases (the embedded SQLite) take two.
_REFRESHED_SQL = """
WITH s AS (UPDATE {s} SET {s.last_refreshed_at} = %(now)s WHERE {s.id} = %(id)s RETURNING {s.id}, {s.status}, {s.user}),
     d AS (INSERT INTO {t} ({t.digest}, {t.login_state}, {t.created_at})
           SELECT %(digest)s, s.{s.id}, %(now)s FROM s ON CONFLICT DO NOTHING)
SELECT s.{s.status}, s.{s.user}, (SELECT {u.status} FROM {u} WHERE {u}.{u.id} = s.{s.user}) FROM s
"""
_REFRESHED_SQL_ELSEWHERE = (
    "UPDATE {s} SET {s.last_refreshed_at} = %(now)s WHERE {s.id} = %(id)s "
    "RETURNING {s.status}, {s.user}, (SELECT {u.status} FROM {u} WHERE {u}.{u.id} = {s}.{s.user})",
    "INSERT INTO {t} ({t.digest}, {t.login_state}, {t.created_at}) VALUES (%(digest)s, %(id)s, %(now)s) ON CONFLICT DO NOTHING",
)


def login_state_refreshed(*, session_id: int, refresh_token: str) -> RefreshedState | None:
    """Note that the session's tokens were just refreshed and which refresh token it now
    holds; returns its status, its user's id and the user's status (None if there is no
    such login state). One statement: the refresh flow reads these anyway, so recording
    the refresh costs no round trip."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = {"now": now, "id": session_id, "digest": refresh_token_digest(refresh_token)}
    tables = {"s": LoginState, "t": LoginStateRefreshToken, "u": LoginState._meta.get_field("user").related_model}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql(_REFRESHED_SQL, **tables), params)
            row = cursor.fetchone()
        else:
            update, insert = _REFRESHED_SQL_ELSEWHERE
            cursor.execute(sql(update, **tables), params)
            row = cursor.fetchone()
            if row is not None:
                cursor.execute(sql(insert, **tables), params)
    return None if row is None else RefreshedState(*row)


class ReusedRefreshToken(NamedTuple):
    session_id: int
    user_id: int


def login_state_of_rotated_token(*, refresh_token: str) -> ReusedRefreshToken | None:
    """The still-active login state a *rotated* refresh token belonged to, or None.

    Rotated: a later refresh of its session happened (each refresh sets
    ``last_refreshed_at`` to its new token's ``created_at``). The latest token coming
    back refused is no reuse — it expired, or its session ended already."""
    row = (LoginStateRefreshToken.objects
           .filter(digest=refresh_token_digest(refresh_token), login_state__status=LoginStatus.ACTIVE,
                   login_state__last_refreshed_at__gt=F("created_at"))
           .values_list("login_state_id", "login_state__user_id").first())
    return None if row is None else ReusedRefreshToken(*row)


def _lapsed(refresh_ttl: float) -> Q:
    """Sessions whose last refresh (or sign-in, if never refreshed) is older than
    ``refresh_ttl`` seconds: their refresh token has expired, nothing can renew them."""
    horizon = timezone.now() - timedelta(seconds=refresh_ttl)
    return Q(last_refreshed_at__lt=horizon) | Q(last_refreshed_at__isnull=True, logged_in_at__lt=horizon)


def login_states_live(states, *, refresh_ttl: float):
    """``states`` (active ones) without those that have lapsed but are not marked yet."""
    return states.exclude(_lapsed(refresh_ttl))


def login_states_expire(*, refresh_ttl: float, revoke: Callable[[int, int], None] | None = None, batch_size: int = 1000) -> int:
    """Mark active login states expired once their tokens can no longer be refreshed: the
    last refresh (or the sign-in, if never refreshed) is older than ``refresh_ttl``
    seconds. ``logged_out_at`` is when that happened. ``revoke(session_id, user_id)``
    runs for each before it is marked (the flow stops its tokens). Returns how many."""
    total = 0
    while True:
        rows = list(LoginState.objects.filter(_lapsed(refresh_ttl), status=LoginStatus.ACTIVE)
                    .values_list("id", "user_id")[:batch_size])
        if not rows:
            return total
        if revoke is not None:
            for session_id, user_id in rows:
                revoke(session_id, user_id)
        total += LoginState.objects.filter(pk__in=[pk for pk, _ in rows], status=LoginStatus.ACTIVE).update(
            status=LoginStatus.EXPIRED,
            ended_reason=EndedReason.EXPIRED,
            logged_out_at=Coalesce("last_refreshed_at", "logged_in_at") + timedelta(seconds=refresh_ttl),
        )


def login_state_refresh_tokens_purge(*, refresh_ttl: float) -> int:
    """Forget refresh tokens handed out longer ago than their lifetime: none can refresh."""
    horizon = timezone.now() - timedelta(seconds=refresh_ttl)
    return LoginStateRefreshToken.objects.filter(created_at__lt=horizon).delete()[0]


def login_states_purge(*, older_than, batch_size: int = 5000, progress: Callable[[int], None] | None = None) -> int:
    """Delete ended login states that ended before now - older_than, in batches.

    ``progress`` (a CLI progress bar) is called with the number deleted by each batch.
    """
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        ids = list(
            LoginState.objects.exclude(status=LoginStatus.ACTIVE)
            .filter(logged_out_at__lt=cutoff)
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return total
        deleted = LoginState.objects.filter(pk__in=ids).delete()[0]
        total += deleted
        if progress is not None:
            progress(deleted)
