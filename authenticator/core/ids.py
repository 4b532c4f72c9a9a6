"""Sonyflake ids: 63-bit, time-ordered, unique across processes and hosts.

Layout (most significant first): 39 bits of time in 10 ms units since EPOCH, 8 bits of
sequence within that 10 ms, 16 bits of machine id. A process mints at most 256 ids per
10 ms (25,600/s) and waits for the next tick beyond that.

The machine id must be unique per *process*: two processes with the same one mint the
same ids. It is chosen, in order:

1. ``AUTHENTICATOR["SONYFLAKE_MACHINE_ID"]`` when set — for single-process runs only;
2. on PostgreSQL, a lease: ``pg_try_advisory_lock(LOCK_CLASS, n)`` on a dedicated
   connection the process keeps open. The server releases the lock when the process
   (or its connection) dies, so ids are reused only once nobody holds them;
3. on SQLite (necessarily one host), an exclusive ``flock`` on ``<dir>/<n>.lock``,
   released by the kernel when the process dies.

The lease is taken lazily at the first id and dropped in a forked child (gunicorn
workers), which leases its own. The PostgreSQL lease is re-checked at most once a second;
if its connection was lost the process leases again before minting.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from django.db import models

EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
EPOCH_MS = int(EPOCH.timestamp() * 1000)
TIME_BITS, SEQUENCE_BITS, MACHINE_BITS = 39, 8, 16
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_MACHINE_ID = (1 << MACHINE_BITS) - 1
LOCK_CLASS = 0x50F1  # advisory-lock namespace for machine ids
LEASE_CHECK_INTERVAL = 1.0


class MachineIdUnavailable(RuntimeError):
    pass


class Lease(Protocol):
    machine_id: int

    def alive(self) -> bool: ...


class FixedLease:
    def __init__(self, machine_id: int) -> None:
        if not 0 <= machine_id <= MAX_MACHINE_ID:
            raise MachineIdUnavailable(f"SONYFLAKE_MACHINE_ID must be 0..{MAX_MACHINE_ID}")
        self.machine_id = machine_id

    def alive(self) -> bool:
        return True


class PostgresLease:
    """Holds ``pg_try_advisory_lock(LOCK_CLASS, machine_id)`` on its own connection."""

    def __init__(self, conninfo: dict) -> None:
        import psycopg

        self.conn = psycopg.connect(autocommit=True, application_name="authenticator-sonyflake", **conninfo)
        start = random.randrange(MAX_MACHINE_ID + 1)
        for offset in range(MAX_MACHINE_ID + 1):
            candidate = (start + offset) % (MAX_MACHINE_ID + 1)
            got = self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, candidate)).fetchone()[0]
            if got:
                self.machine_id = candidate
                return
        self.conn.close()
        raise MachineIdUnavailable("all Sonyflake machine ids are leased")

    def alive(self) -> bool:
        try:
            self.conn.execute("SELECT 1")
            return True
        except Exception:
            return False

    def release(self) -> None:
        self.conn.close()


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

    def alive(self) -> bool:
        return True


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
        params.pop("prepare_threshold", None)
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
        self._checked_at = 0.0
        self._elapsed = 0
        self._sequence = MAX_SEQUENCE

    def after_fork(self) -> None:
        # The parent's lease (its socket or file descriptor) must not be used or closed
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
            return self._ensure_lease().machine_id

    def _ensure_lease(self) -> Lease:
        now = time.monotonic()
        if self._lease is None:
            self._lease = self._lease_factory()
            self._checked_at = now
        elif now - self._checked_at > LEASE_CHECK_INTERVAL:
            if not self._lease.alive():
                self._lease = self._lease_factory()
            self._checked_at = now
        return self._lease

    def next_id(self) -> int:
        with self._lock:
            machine_id = self._ensure_lease().machine_id
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
