"""The database side of the limits: what counts when Redis can't.

Redis holds the send limits and the SMS budgets (one Lua script per check, see
``throttling`` and ``budgets``). When Redis is unreachable they are not lifted: the same
rules run here, against the tables of ``limit_models`` on the service's database, each
count one upsert-increment (``INSERT … ON CONFLICT … DO UPDATE … RETURNING``: atomic in
one statement on PostgreSQL, and on SQLite ≥ 3.35 for the embedded default). Slower
than Redis by a round trip to PostgreSQL, which is the price of an outage, not of the
normal path. A database that is down too raises (503 ``database_unavailable`` at the
transports): with neither store, no code is sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db import connection, transaction
from django.utils import timezone

from .db import sql
from .limit_models import LimitCounter, LimitMember


def digest(value: str) -> str:
    """What a key or a set holds instead of a number or an email."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)


_ADD = ("INSERT INTO {c} ({c.key}, {c.count}, {c.expires_at}) VALUES (%(key)s, 1, %(expires)s) "
        "ON CONFLICT ({c.key}) DO UPDATE SET {c.count} = {c}.{c.count} + 1 RETURNING {c.count}")
_ADD_UNDER_LIMIT = ("INSERT INTO {c} ({c.key}, {c.count}, {c.expires_at}) VALUES (%(key)s, 1, %(expires)s) "
                    "ON CONFLICT ({c.key}) DO UPDATE SET {c.count} = {c}.{c.count} + 1 "
                    "WHERE {c}.{c.count} < %(limit)s RETURNING {c.count}")


def counter_add(*, key: str, expires: float, limit: int | None = None) -> int | None:
    """Add one to ``key``'s counter (made, expiring at ``expires``, if new); its new count,
    or None when it already stood at ``limit`` (then it is left as it was)."""
    statement = sql(_ADD if limit is None else _ADD_UNDER_LIMIT, c=LimitCounter)
    with connection.cursor() as cursor:
        cursor.execute(statement, {"key": key, "expires": _at(expires), "limit": limit})
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def counter_get(*, key: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql("SELECT {c.count} FROM {c} WHERE {c.key} = %s", c=LimitCounter), [key])
        row = cursor.fetchone()
    return 0 if row is None else int(row[0])


def deadline_set(*, key: str, now: float, until: float) -> float | None:
    """Start a deadline (a cooldown) at ``key`` unless one is running; None when it was
    set, else the running one's end (seconds since the epoch)."""
    statement = sql(
        "INSERT INTO {c} ({c.key}, {c.count}, {c.expires_at}) VALUES (%(key)s, 1, %(until)s) "
        "ON CONFLICT ({c.key}) DO UPDATE SET {c.expires_at} = %(until)s WHERE {c}.{c.expires_at} <= %(now)s "
        "RETURNING {c.count}",
        c=LimitCounter,
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, {"key": key, "until": _at(until), "now": _at(now)})
        if cursor.fetchone() is not None:
            return None
        cursor.execute(sql("SELECT {c.expires_at} FROM {c} WHERE {c.key} = %s", c=LimitCounter), [key])
        row = cursor.fetchone()
    if row is None:  # purged between the two statements: it has just ended
        return None
    end = row[0]
    if isinstance(end, str):  # SQLite hands back text through a raw cursor
        end = dt.datetime.fromisoformat(end)
    if timezone.is_naive(end):
        end = end.replace(tzinfo=dt.timezone.utc)
    return end.timestamp()


def set_add(*, key: str, member: str, expires: float) -> int:
    """Add ``member`` to the set at ``key``; the set's size."""
    with connection.cursor() as cursor:
        cursor.execute(sql(
            "INSERT INTO {m} ({m.key}, {m.member}, {m.expires_at}) VALUES (%s, %s, %s) "
            "ON CONFLICT ({m.key}, {m.member}) DO NOTHING", m=LimitMember), [key, member, _at(expires)])
        cursor.execute(sql("SELECT count(*) FROM {m} WHERE {m.key} = %s", m=LimitMember), [key])
        return int(cursor.fetchone()[0])


class _Refused(Exception):
    pass


def counters_take(*, keys: list[tuple[str, int]], expires: float) -> bool:
    """Add one to every ``(key, limit)`` counter, or to none: False (nothing changed) when
    any already stood at its limit. Keys are taken in sorted order, so two requests
    counting the same keys wait for each other instead of deadlocking."""
    try:
        with transaction.atomic():
            for key, limit in sorted(keys):
                if counter_add(key=key, expires=expires, limit=limit) is None:
                    raise _Refused
    except _Refused:
        return False
    return True


def limits_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete counters, deadlines and set members whose window has ended."""
    now = now or timezone.now()
    counters, _ = LimitCounter.objects.filter(expires_at__lt=now).delete()
    members, _ = LimitMember.objects.filter(expires_at__lt=now).delete()
    return counters + members
