"""Fast seeding with COPY: users, login states and OTP rows, with Sonyflake-shaped ids.

The ids use the app's layout (39 bits of 10 ms ticks since 2025-01-01, 8 bits of
sequence, 16 bits of machine id) with machine id 65535, which the app never leases
(it leases from 0 upwards), and ticks in the past: seeded ids can't collide with the
ids the running service mints.

    python -m scripts.bench.seed --database-url postgres://.../authn_bench --users 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import time
from datetime import UTC, datetime, timedelta

import psycopg

EPOCH_MS = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
SEED_MACHINE_ID = 65535
UNUSABLE_PASSWORD = "!seeded"  # Django's "unusable password" marker starts with "!"


class Ids:
    """Sonyflake-shaped ids, 256 per 10 ms tick, starting ``days_ago`` days back."""

    def __init__(self, days_ago: float = 30.0) -> None:
        self.tick = int((time.time() * 1000 - EPOCH_MS - days_ago * 86_400_000) // 10)
        self.sequence = 0

    def next(self) -> int:
        if self.sequence > 255:
            self.tick += 1
            self.sequence = 0
        value = (self.tick << 24) | (self.sequence << 16) | SEED_MACHINE_ID
        self.sequence += 1
        return value


SEED_PREFIX = "+1646"


def seed_phone(i: int) -> str:
    """Distinct valid US numbers, +1 646 200-0000 … +1 646 299-9999 (i < 1,000,000); the
    proofs use +44 numbers. (UK blocks have unallocated holes phonenumbers refuses.)"""
    return f"{SEED_PREFIX}{200 + i // 10_000:03d}{i % 10_000:04d}"


USER_COLUMNS = ("id", "password", "is_superuser", "type", "country_id", "phone_number", "name", "email", "status", "tier",
                "level", "is_staff", "phone_verified_at", "created_at", "updated_at")


def copy_users(db: psycopg.Connection, people: list[tuple[str, str | None]], ids: Ids | None = None,
               status: str = "active", country: str = "GB") -> list[int]:
    """Insert active users ``(phone, email)``; returns their ids. The caller commits."""
    ids = ids or Ids(days_ago=1)
    now = datetime.now(UTC)
    out = []
    with db.cursor().copy(f"COPY users ({', '.join(USER_COLUMNS)}) FROM STDIN") as copy:
        for phone, email in people:
            user_id = ids.next()
            out.append(user_id)
            copy.write_row((user_id, UNUSABLE_PASSWORD, False, "phone", country, phone, "Seeded", email, status, 1, 1,
                            False, now, now, now))
    return out


def seed(database_url: str, users: int, *, batch: int = 100_000, progress: bool = True) -> dict[str, float]:
    """``users`` users, one login state and one (expired, used) OTP row each."""
    if users > 1_000_000:
        raise ValueError("seed_phone numbers run out past 1,000,000 users")
    started = time.perf_counter()
    ids = Ids(days_ago=60)
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as db:
        done = db.execute("SELECT count(*) FROM users WHERE phone_number LIKE %s", [SEED_PREFIX + "%"]).fetchone()[0]
        # A column the OTP model gained later (tries a code was born without; once named
        # inherited_attempts); seed it when present.
        column = db.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'otps' "
                            "AND column_name IN ('born_attempts', 'inherited_attempts')").fetchone()
        inherited = column is not None
        asked_from = db.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'otps' "
                                "AND column_name = 'asked_from'").fetchone() is not None
        # And one the login states gained (why one ended), NOT NULL.
        ended = db.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'login_states' "
                           "AND column_name = 'ended_reason'").fetchone() is not None
        for start in range(done, users, batch):
            stop = min(users, start + batch)
            user_ids = copy_users(db, [(seed_phone(i), f"seed{i}@example.net") for i in range(start, stop)], ids, country="US")
            with db.cursor().copy(
                "COPY login_states (id, user_id, logged_in_on, logged_in_from, logged_in_ip, user_agent, method, status,"
                f" logged_in_at, logged_out_at{', ended_reason' if ended else ''}) FROM STDIN"
            ) as copy:
                for user_id in user_ids:
                    row = (ids.next(), user_id, "seed", "GB", "81.2.69.160", "seed/1.0", "otp_sms", "logged_out",
                           now - timedelta(days=2), now - timedelta(days=1))
                    copy.write_row((*row, "signed_out") if ended else row)
            extra = (f", {column[0]}" if inherited else "") + (", asked_from" if asked_from else "")
            with db.cursor().copy(
                f"COPY otps (id, user_id, otp, purpose, channel, sent_to, attempts, created_at, expired_at, consumed_at{extra})"
                " FROM STDIN"
            ) as copy:
                for user_id in user_ids:
                    digest = hashlib.sha256(str(user_id).encode()).hexdigest()
                    row = (ids.next(), user_id, digest, "signin", "sms", "seed", 1, now - timedelta(days=2),
                           now - timedelta(days=2) + timedelta(minutes=5), now - timedelta(days=2))
                    copy.write_row((*row, *((0,) if inherited else ()), *(("",) if asked_from else ())))
            db.commit()
            if progress:
                print(f"  seeded {stop:,}/{users:,} users (+ login states, OTP rows) in {time.perf_counter() - started:.1f}s",
                      flush=True)
        db.commit()
        # VACUUM, not only ANALYZE: freshly copied rows would otherwise get their hint bits
        # set (pages dirtied) by the benchmark's first reads, and autovacuum would start on
        # a million new rows in the middle of the run.
        db.autocommit = True
        for table in ("users", "login_states", "otps"):
            db.execute(f"VACUUM (ANALYZE) {table}")  # nosec B608 - fixed names
        db.autocommit = False
        counts = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # nosec B608 - fixed names
                  for table in ("users", "login_states", "otps")}
    return {"seconds": time.perf_counter() - started, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--users", type=int, default=10_000, help="at most 1,000,000")
    args = parser.parse_args()
    print(seed(args.database_url, args.users))


if __name__ == "__main__":
    main()
