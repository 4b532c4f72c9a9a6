from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from authenticator.core import ids

ROOT = Path(__file__).resolve().parents[2]

MINT = """
import json, sys, time, django
django.setup()
from authenticator.core.ids import generator
generator.machine_id  # take the lease before the start line
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
out = [generator.next_id() for _ in range(int(sys.argv[1]))]
sys.stdout.write(json.dumps({"machine_id": generator.machine_id, "ids": out}))
"""


def _env_for_test_database() -> dict[str, str]:
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings_test"}


@pytest.mark.django_db
@pytest.mark.slow
def test_two_processes_minting_100k_each_at_once_never_collide():
    count = 100_000
    start = time.time() + 3
    env = _env_for_test_database()
    procs = [
        subprocess.Popen([sys.executable, "-c", MINT, str(count), str(start)], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    a, b = results
    assert a["machine_id"] != b["machine_id"]
    all_ids = a["ids"] + b["ids"]
    assert len(all_ids) == 2 * count
    assert len(set(all_ids)) == 2 * count
    for result in results:
        assert result["ids"] == sorted(result["ids"]), "ids of one process grow"
        assert all(0 < value < 2**63 for value in result["ids"])


def test_ids_grow_with_time_and_encode_it():
    gen = ids.Sonyflake(lease_factory=lambda: ids.FixedLease(7))
    first = gen.next_id()
    time.sleep(0.03)
    second = gen.next_id()
    assert second > first
    parts = ids.id_parts(second)
    assert parts["machine_id"] == 7
    assert abs(parts["time_ms"] - time.time() * 1000) < 1000


def test_sequence_overflow_waits_for_next_tick_instead_of_repeating():
    gen = ids.Sonyflake(lease_factory=lambda: ids.FixedLease(1))
    minted = [gen.next_id() for _ in range(2000)]  # > 256 per tick
    assert len(set(minted)) == len(minted)
    assert minted == sorted(minted)


def _conninfo() -> dict:
    s = connection.settings_dict
    return {"host": s["HOST"] or "127.0.0.1", "user": s["USER"], "dbname": s["NAME"], "port": s["PORT"] or 5432}


def _row(conn, machine_id):
    return conn.execute(f"SELECT holder, expires_at - now() FROM {ids.LEASE_TABLE} WHERE machine_id = %s",
                        (machine_id,)).fetchone()


@pytest.mark.django_db
def test_postgres_lease_is_a_row_others_cannot_claim_until_released(caplog):
    lease = ids.PostgresLease(_conninfo())
    other = ids.PostgresLease(_conninfo())
    try:
        assert other.machine_id != lease.machine_id
        with psycopg.connect(autocommit=True, **_conninfo()) as conn:
            holder, left = _row(conn, lease.machine_id)
            assert holder == lease.holder
            assert timedelta(seconds=ids.LEASE_TTL - 5) < left <= timedelta(seconds=ids.LEASE_TTL)
            # The claim's own condition refuses a live row.
            stolen = conn.execute(
                f"INSERT INTO {ids.LEASE_TABLE} AS lease VALUES (%s, gen_random_uuid(), now()) ON CONFLICT (machine_id)"
                " DO UPDATE SET holder = EXCLUDED.holder WHERE lease.expires_at < now() RETURNING machine_id",
                (lease.machine_id,)).fetchone()
            assert stolen is None
            assert lease.current() == lease.machine_id and lease.renew()
            with caplog.at_level(logging.WARNING, logger="authenticator.core.ids"):
                lease.release()
            assert not caplog.records, caplog.text
            assert lease.current() is None and not lease.renew()
            assert _row(conn, lease.machine_id) is None
            assert _row(conn, other.machine_id)[0] == other.holder
    finally:
        lease.release()
        other.release()


@pytest.mark.django_db
def test_postgres_lease_heartbeat_renews_before_expiry():
    lease = ids.PostgresLease(_conninfo(), ttl=1.5)
    try:
        with psycopg.connect(autocommit=True, **_conninfo()) as conn:
            time.sleep(4)  # well past the first expiry: the heartbeat kept it
            assert lease.current() == lease.machine_id
            holder, left = _row(conn, lease.machine_id)
            assert holder == lease.holder and left > timedelta(0)
    finally:
        lease.release()


def test_file_lease_gives_distinct_ids_per_holder(tmp_path):
    first = ids.FileLease(tmp_path)
    second = ids.FileLease(tmp_path)
    assert first.machine_id != second.machine_id


def _child_machine_id(gen: ids.Sonyflake, queue) -> None:
    queue.put(gen.machine_id)


def test_forked_child_leases_its_own_machine_id(tmp_path):
    gen = ids.Sonyflake(lease_factory=lambda: ids.FileLease(tmp_path))
    os.register_at_fork(after_in_child=gen.after_fork)
    parent_id = gen.machine_id
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_machine_id, args=(gen, queue))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert queue.get(timeout=1) != parent_id
