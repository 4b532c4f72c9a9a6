"""Sonyflake ids: 63-bit, time-ordered, unique across processes and hosts.

Layout (most significant first): 39 bits of time in 10 ms units since EPOCH, 8 bits of
sequence within that 10 ms, 16 bits of machine id. A process mints at most 256 ids per
10 ms (25,600/s) and waits for the next tick beyond that.

The machine id must be unique per *process*: two processes with the same one mint the
same ids. It is chosen, in order:

1. ``AUTHENTICATOR["SONYFLAKE_MACHINE_ID"]`` when set — for single-process runs only;
2. on PostgreSQL, a lease: a row of ``sonyflake_leases`` (``LEASE_TABLE``, made by the
   ``authenticator`` app's migration 0002) claimed with one atomic statement — a free or
   expired id, ``INSERT … ON CONFLICT DO UPDATE … WHERE expires_at < now()`` — under a
   random holder token, valid ``LEASE_TTL`` seconds by the database's clock. A heartbeat
   thread renews it every third of that; a renewal that finds the row no longer ours
   means the lease is lost. Each statement is its own transaction (autocommit) on one
   connection the lease keeps, so that renewals go on while the server refuses new
   connections; nothing lives in the session, so the lease works through PgBouncer in
   transaction pooling (a session advisory lock does not survive that);
3. on SQLite (necessarily one host), an exclusive ``flock`` on ``<dir>/<n>.lock``,
   released by the kernel when the process dies.

The process mints with a PostgreSQL lease only until its own deadline: the monotonic
time at which it *sent* the last successful claim or renewal, plus ``LEASE_TTL`` less
``LEASE_MARGIN`` — before the row expires for anyone else; the margin also covers the
wall-clock skew between hosts (the time bits). Past the deadline (renewals failing, the
process stalled) or once the row is lost, minting raises ``DatabaseUnavailable`` (503,
as for a database outage) until the heartbeat has renewed the row or claimed another
id: it never mints with a lost one, and never waits on the database itself.

Servers take the lease before they serve (``lease_before_serving``: config/wsgi.py,
config/asgi.py, the gRPC server); otherwise at the first id. A forked child (gunicorn
workers) drops the parent's lease without releasing it and leases its own; the lease is
released at exit, and a process that dies leaves its row to expire.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from django.db import models

from authenticator.core.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
EPOCH_MS = int(EPOCH.timestamp() * 1000)
TIME_BITS, SEQUENCE_BITS, MACHINE_BITS = 39, 8, 16
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_MACHINE_ID = (1 << MACHINE_BITS) - 1
LEASE_TABLE = "sonyflake_leases"  # created by authenticator/migrations/0002_sonyflake_leases.py
LEASE_TTL = 30.0  # seconds a lease lasts unrenewed, by the database's clock
LEASE_MARGIN = 0.1  # of LEASE_TTL: the holder stops minting this much before the row expires


class MachineIdUnavailable(RuntimeError):
    pass


class Lease(Protocol):
    def current(self) -> int | None:
        """The machine id ids may be minted with now, or None while there is none.
        Cheap (no I/O): called twice for every id."""


class FixedLease:
    def __init__(self, machine_id: int) -> None:
        if not 0 <= machine_id <= MAX_MACHINE_ID:
            raise MachineIdUnavailable(f"SONYFLAKE_MACHINE_ID must be 0..{MAX_MACHINE_ID}")
        self.machine_id = machine_id

    def current(self) -> int:
        return self.machine_id


# A random free (absent or expired) id, claimed in the same statement. Two claimers that
# pick the same id are ordered by its row lock: the second sees the first's fresh row,
# its ON CONFLICT condition fails, and it gets no ``claimed`` (and tries again).
CLAIM = f"""
WITH candidate AS (
    SELECT n FROM generate_series(0, {MAX_MACHINE_ID}) AS n
    WHERE NOT EXISTS (SELECT FROM {LEASE_TABLE} WHERE machine_id = n AND expires_at >= now())
    ORDER BY random() LIMIT 1
), claimed AS (
    INSERT INTO {LEASE_TABLE} AS lease (machine_id, holder, expires_at)
    SELECT n, %(holder)s, now() + make_interval(secs => %(ttl)s) FROM candidate
    ON CONFLICT (machine_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE lease.expires_at < now()
    RETURNING machine_id
)
SELECT (SELECT n FROM candidate), (SELECT machine_id FROM claimed)
"""  # nosec B608 - constants only; every value is a bound parameter
# Ours as long as the holder token is: nobody else can have held the id in between.
RENEW = f"""
UPDATE {LEASE_TABLE} SET expires_at = now() + make_interval(secs => %(ttl)s)
WHERE machine_id = %(machine_id)s AND holder = %(holder)s RETURNING machine_id
"""  # nosec B608 - as above
RELEASE = f"DELETE FROM {LEASE_TABLE} WHERE machine_id = %(machine_id)s AND holder = %(holder)s RETURNING machine_id"  # nosec B608


class PostgresLease:
    """A row of ``LEASE_TABLE``: claimed here, then renewed by a heartbeat thread, which
    also claims a new id when the row turns out to be lost. The minting path never waits
    on the database: it reads ``current()``, None while the lease is lapsed or lost.
    """

    def __init__(self, conninfo: dict, ttl: float = LEASE_TTL) -> None:
        self.conninfo = {"connect_timeout": 5, **conninfo, "autocommit": True, "prepare_threshold": None,
                         "application_name": "authenticator-sonyflake"}
        self.ttl = ttl
        self._stop = threading.Event()
        self._conn = None  # one connection, kept between statements and reopened after an error
        self._conn_lock = threading.Lock()
        # (machine id, holder token, monotonic deadline): replaced whole, read whole.
        self._state: tuple[int, uuid.UUID, float] = self._claim()
        self._heartbeat = threading.Thread(target=self._beat, name="sonyflake-lease", daemon=True)
        self._heartbeat.start()

    @property
    def machine_id(self) -> int:
        return self._state[0]

    @property
    def holder(self) -> uuid.UUID:
        return self._state[1]

    def _execute(self, sql: str, params: dict):
        import psycopg

        with self._conn_lock:
            if self._conn is None:
                self._conn = psycopg.connect(**self.conninfo)
            try:
                return self._conn.execute(sql, params).fetchone()
            except Exception:
                self._close()
                raise

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _deadline(self, sent: float) -> float:
        return sent + self.ttl * (1 - LEASE_MARGIN)

    def _claim(self) -> tuple[int, uuid.UUID, float]:
        holder = uuid.uuid4()
        while True:
            sent = time.monotonic()
            candidate, claimed = self._execute(CLAIM, {"holder": holder, "ttl": self.ttl})
            if candidate is None:
                raise MachineIdUnavailable("all Sonyflake machine ids are leased")
            if claimed is not None:
                return claimed, holder, self._deadline(sent)

    def current(self) -> int | None:
        machine_id, _, deadline = self._state
        return machine_id if time.monotonic() < deadline else None

    def renew(self) -> bool:
        """Extend the lease; False (and no id until a new claim) if the row is not ours."""
        machine_id, holder, _ = self._state
        sent = time.monotonic()
        if self._execute(RENEW, {"machine_id": machine_id, "holder": holder, "ttl": self.ttl}) is None:
            self._state = (machine_id, holder, 0.0)
            return False
        self._state = (machine_id, holder, self._deadline(sent))
        return True

    def _beat(self) -> None:
        pause = self.ttl / 3
        while not self._stop.wait(pause):
            try:
                if not self.renew():
                    logger.warning("Sonyflake machine id %s: lease lost, leasing another", self.machine_id)
                    self._state = self._claim()
                pause = self.ttl / 3
            except Exception as exc:  # the database unreachable: try again soon; current() runs out meanwhile
                logger.warning("Sonyflake machine id %s: lease renewal failed: %s", self.machine_id, exc)
                pause = min(1.0, self.ttl / 10)

    def release(self) -> None:
        """Stop renewing and free the id now (a process that dies leaves it to expire)."""
        self._stop.set()
        if self._heartbeat is not threading.current_thread():
            self._heartbeat.join(self.ttl)
        machine_id, holder, _ = self._state
        self._state = (machine_id, holder, 0.0)
        try:
            self._execute(RELEASE, {"machine_id": machine_id, "holder": holder})
        except Exception as exc:
            logger.warning("Sonyflake machine id %s: release failed (%s); it expires in %ss", machine_id, exc, self.ttl)
        with self._conn_lock:
            self._close()


class FileLease:
    """An exclusive flock on ``<dir>/<machine_id>.lock``; one host only (SQLite)."""

    def __init__(self, directory: Path) -> None:
        import fcntl

        directory.mkdir(parents=True, exist_ok=True)
        start = random.randrange(MAX_MACHINE_ID + 1)
        for offset in range(MAX_MACHINE_ID + 1):
            candidate = (start + offset) % (MAX_MACHINE_ID + 1)
            fd = os.open(directory / f"{candidate}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.fd, self.machine_id = fd, candidate
            return
        raise MachineIdUnavailable("all Sonyflake machine ids are leased")

    def current(self) -> int:
        return self.machine_id


def default_lease() -> Lease:
    from django.db import connections

    from authenticator.core.conf import app_settings

    if app_settings.SONYFLAKE_MACHINE_ID is not None:
        return FixedLease(int(app_settings.SONYFLAKE_MACHINE_ID))
    connection = connections["default"]
    if connection.vendor == "postgresql":
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        return PostgresLease(params)
    directory = app_settings.SONYFLAKE_LOCK_DIR or os.path.join(tempfile.gettempdir(), "authenticator-sonyflake")
    return FileLease(Path(directory))


class Sonyflake:
    def __init__(self, lease_factory=default_lease) -> None:
        self._lease_factory = lease_factory
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._lease: Lease | None = None
        self._elapsed = 0
        self._sequence = MAX_SEQUENCE

    def after_fork(self) -> None:
        # The parent's lease (its row, its file descriptor) must not be used or released
        # by the child: keep a reference so it is never finalised here.
        if self._lease is not None:
            _inherited.append(self._lease)
        self._lock = threading.Lock()
        self._reset()

    def release(self) -> None:
        """Give the machine id back now (tests dropping their database, clean shutdown)."""
        with self._lock:
            lease, self._lease = self._lease, None
            if lease is not None and hasattr(lease, "release"):
                lease.release()
            self._reset()

    @property
    def machine_id(self) -> int:
        with self._lock:
            return self._machine_id()

    def lease(self) -> None:
        """Take the lease now: servers call it before they serve, so that the first id is
        not leased inside a request's transaction (through a PgBouncer pool held by
        transactions waiting for that id, the claim would wait for them: a deadlock)."""
        with self._lock:
            if self._lease is None:
                self._lease = self._lease_factory()

    def _machine_id(self) -> int:
        if self._lease is None:
            self._lease = self._lease_factory()
        machine_id = self._lease.current()
        if machine_id is None:
            # Lapsed (renewals failing) or lost: never mint with it; the heartbeat renews
            # it or leases another, and the caller answers as for a database outage.
            raise DatabaseUnavailable("the Sonyflake machine-id lease has lapsed")
        return machine_id

    def next_id(self) -> int:
        with self._lock:
            while True:
                machine_id = self._machine_id()
                current = _now_ticks()
                if self._elapsed < current:
                    self._elapsed, self._sequence = current, 0
                else:
                    # Same tick, or the clock went back: stay on our own timeline.
                    self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                    if self._sequence == 0:
                        self._elapsed += 1
                        wait = self._elapsed - current
                        time.sleep(wait * 0.01)
                # Still ours after the clock was read (and any wait): the id's time lies
                # within the lease. Else this sequence number is skipped.
                if self._lease.current() == machine_id:
                    break
            if self._elapsed >= 1 << TIME_BITS:
                raise OverflowError("Sonyflake time bits exhausted")
            return (self._elapsed << (SEQUENCE_BITS + MACHINE_BITS)) | (self._sequence << MACHINE_BITS) | machine_id


def _now_ticks() -> int:
    return (time.time_ns() // 1_000_000 - EPOCH_MS) // 10


def id_parts(value: int) -> dict[str, int]:
    return {
        "time_ms": (value >> (SEQUENCE_BITS + MACHINE_BITS)) * 10 + EPOCH_MS,
        "sequence": (value >> MACHINE_BITS) & MAX_SEQUENCE,
        "machine_id": value & MAX_MACHINE_ID,
    }


_inherited: list[Lease] = []
generator = Sonyflake()
os.register_at_fork(after_in_child=generator.after_fork)
atexit.register(generator.release)


def lease_before_serving() -> None:
    """A server process takes its lease before it serves (see ``Sonyflake.lease``). If the
    database is unreachable it starts anyway, as without this, and leases at the first id."""
    try:
        generator.lease()
    except Exception:
        logger.warning("Sonyflake machine id not leased at start; leasing at the first id", exc_info=True)


def next_id() -> int:
    """Default for every model's primary key."""
    return generator.next_id()


class SonyflakeField(models.BigIntegerField):
    """A 64-bit primary key minted from ``next_id`` when the row is first saved.

    Not at instantiation: Django builds model instances that are never saved (system
    checks, empty forms), and minting an id leases a machine id, which needs the
    database. ``save()``, ``objects.create()`` and ``bulk_create()`` all ask
    ``get_pk_value_on_save``; code that needs the id before saving passes one.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        # A default keeps Django's "insert, don't try an UPDATE first" path for new rows.
        kwargs.setdefault("default", next_id)
        super().__init__(*args, **kwargs)

    def get_default(self):
        return None

    def get_pk_value_on_save(self, instance):
        return next_id()

