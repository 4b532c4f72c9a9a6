"""Record sign-in, sign-out and revocation of login states."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from authenticator.geolocation import locate
from authenticator.sql import insert

from .models import LoginState, LoginStatus


@dataclass(frozen=True)
class Device:
    """What the client tells about where it signs in."""

    platform: str = ""  # the `device` field: e.g. "ios 18.1 / iPhone 15"
    ip: str | None = None  # the client IP (see authenticator.middleware)
    user_agent: str = ""


def login_state_open(*, user, device: Device, method: str) -> LoginState:
    state = LoginState(
        user=user,
        logged_in_on=device.platform[:128],
        logged_in_from=locate(device.ip).label()[:128],
        logged_in_ip=device.ip,
        user_agent=device.user_agent[:512],
        method=method,
        status=LoginStatus.ACTIVE,
    )
    insert(state)  # on every sign-in: one INSERT written once (authenticator.sql)
    return state


def login_states_close(*, user_id: int, status: str, session_id: int | None = None, except_session_id: int | None = None) -> int:
    """End the user's active login states (one, all but one, or all); returns how many."""
    states = LoginState.objects.filter(user_id=user_id, status=LoginStatus.ACTIVE)
    if session_id is not None:
        states = states.filter(pk=session_id)
    if except_session_id is not None:
        states = states.exclude(pk=except_session_id)
    return states.update(status=status, logged_out_at=timezone.now())


class RefreshedState(NamedTuple):
    status: str
    user_id: int
    user_status: str


def login_state_refreshed(*, session_id: int) -> RefreshedState | None:
    """Note that the session's tokens were just refreshed; returns its status, its user's
    id and the user's status (None if there is no such login state). One statement: the
    refresh flow reads these anyway, so recording the refresh costs no round trip."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE login_states SET last_refreshed_at = %s WHERE id = %s "
            "RETURNING status, user_id, (SELECT status FROM users WHERE users.id = login_states.user_id)",
            [now, session_id],
        )
        row = cursor.fetchone()
    return None if row is None else RefreshedState(*row)


def _lapsed(refresh_ttl: float) -> Q:
    """Sessions whose last refresh (or sign-in, if never refreshed) is older than
    ``refresh_ttl`` seconds: their refresh token has expired, nothing can renew them."""
    horizon = timezone.now() - timedelta(seconds=refresh_ttl)
    return Q(last_refreshed_at__lt=horizon) | Q(last_refreshed_at__isnull=True, logged_in_at__lt=horizon)


def login_states_live(states, *, refresh_ttl: float):
    """``states`` (active ones) without those that have lapsed but are not marked yet."""
    return states.exclude(_lapsed(refresh_ttl))


def login_states_expire(*, refresh_ttl: float) -> int:
    """Mark active login states expired once their tokens can no longer be refreshed: the
    last refresh (or the sign-in, if never refreshed) is older than ``refresh_ttl``
    seconds. ``logged_out_at`` is when that happened. Returns how many."""
    lapsed = LoginState.objects.filter(_lapsed(refresh_ttl), status=LoginStatus.ACTIVE)
    return lapsed.update(
        status=LoginStatus.EXPIRED,
        logged_out_at=Coalesce("last_refreshed_at", "logged_in_at") + timedelta(seconds=refresh_ttl),
    )


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
