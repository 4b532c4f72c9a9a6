"""The Sonyflake machine-id lease through a real PgBouncer in transaction pooling.

Every client connection here goes through PgBouncer (``pool_mode = transaction``, four
server connections per database), so consecutive statements of one client may run on
different server sessions and one server session serves many clients — what a session
advisory lock does not survive (the first test shows it). The lease row is claimed,
renewed and released by single statements, each its own transaction.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from authenticator.core import ids
from authenticator.core.errors import DatabaseUnavailable

from .conftest import PINNED, POOL_SIZE

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db  # for the test database's name; the tests connect on their own


def _through(pgbouncer):
    """A connection for the test's own checks, through PgBouncer (no server slot of its own)."""
    return psycopg.connect(autocommit=True, **pgbouncer.conninfo())


def _upstream(pgbouncer):
    """Straight to PostgreSQL, for when PgBouncer is down."""
    return psycopg.connect(autocommit=True, **pgbouncer.upstream)


def _live_rows(conn) -> dict[int, uuid.UUID]:
    rows = conn.execute(f"SELECT machine_id, holder FROM {ids.LEASE_TABLE} WHERE expires_at >= now()").fetchall()
    return dict(rows)


def _machine(value: int) -> int:
    return ids.id_parts(value)["machine_id"]


def test_a_session_advisory_lock_does_not_survive_transaction_pooling(pgbouncer):
    """Why the lease is a row: the old ``pg_try_advisory_lock`` through PgBouncer. Two
    processes' connections share the one server session of the ``pinned`` pool, so both
    "hold" machine id 7; and the lock outlives the client that took it."""
    key = (0x50F1, 7)
    with psycopg.connect(autocommit=True, **pgbouncer.conninfo(PINNED)) as first, \
            psycopg.connect(autocommit=True, **pgbouncer.conninfo(PINNED)) as second:
        assert first.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0] is True
        assert second.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0] is True  # a duplicate holder
    with _through(pgbouncer) as conn:  # both clients gone: the server session still holds it
        held = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s",
                            key).fetchone()[0]
        assert held == 1
        with psycopg.connect(autocommit=True, **pgbouncer.conninfo(PINNED)) as third:
            third.execute("SELECT pg_advisory_unlock_all()")


def test_prepared_statements_collide_through_transaction_pooling_and_stay_off(pgbouncer):
    """Why prepare_threshold stays None (Django's default, and the lease's): psycopg names
    its prepared statements per client connection (_pg3_0, ...), but they live in the
    server session, which PgBouncer 1.18 gives to whichever client comes next."""
    query = "SELECT %s::int"
    with psycopg.connect(autocommit=True, prepare_threshold=0, **pgbouncer.conninfo(PINNED)) as first, \
            psycopg.connect(autocommit=True, prepare_threshold=0, **pgbouncer.conninfo(PINNED)) as second:
        assert first.execute(query, (1,)).fetchone() == (1,)
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            second.execute(query, (2,))
    with psycopg.connect(autocommit=True, prepare_threshold=None, **pgbouncer.conninfo(PINNED)) as first, \
            psycopg.connect(autocommit=True, prepare_threshold=None, **pgbouncer.conninfo(PINNED)) as second:
        for n in range(10):
            assert first.execute(query, (n,)).fetchone() == (n,)
            assert second.execute(query, (n,)).fetchone() == (n,)


SETTINGS = """
import json, django
django.setup()
from django.db import connection
params = connection.get_connection_params()
print(json.dumps([connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"], params["prepare_threshold"]]))
"""


@pytest.mark.parametrize(("flag", "cursors_off"), [("", False), ("1", True)])
def test_db_pgbouncer_turns_server_side_cursors_off_and_prepared_statements_stay_off(flag, cursors_off):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DB_PGBOUNCER": flag,
           "DATABASE_URL": "postgres://postgres@127.0.0.1:6432/authn"}
    out = subprocess.run([sys.executable, "-c", SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) == [cursors_off, None]


@pytest.mark.slow
def test_claims_racing_through_pgbouncer_for_the_last_free_ids_each_get_one_holder(pgbouncer):
    """All ids but two leased: twelve claimers start at once, five rounds. The two free ids
    are won, each by one claimer; the others are told none is free."""
    filler = uuid.uuid4()
    with _through(pgbouncer) as conn:
        conn.execute(
            f"INSERT INTO {ids.LEASE_TABLE} AS lease SELECT n, %(filler)s, now() + interval '1 hour'"
            f" FROM generate_series(0, {ids.MAX_MACHINE_ID}) AS n ON CONFLICT (machine_id)"
            " DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at WHERE lease.expires_at < now()",
            {"filler": filler})
        try:
            for _ in range(5):
                free = {row[0] for row in conn.execute(
                    f"DELETE FROM {ids.LEASE_TABLE} WHERE machine_id IN (SELECT machine_id FROM {ids.LEASE_TABLE}"
                    " WHERE holder = %s ORDER BY random() LIMIT 2) RETURNING machine_id", (filler,))}
                barrier = threading.Barrier(12)

                def claim():
                    barrier.wait()
                    try:
                        return ids.PostgresLease(pgbouncer.conninfo())
                    except ids.MachineIdUnavailable:
                        return None

                with ThreadPoolExecutor(12) as pool:
                    leases = [lease for lease in pool.map(lambda _: claim(), range(12)) if lease is not None]
                try:
                    claimed = [lease.machine_id for lease in leases]
                    assert len(claimed) == len(set(claimed))  # never one id to two claimers
                    # Both free ids are won; an id another process of the suite gave back
                    # meanwhile (a server stopping) may be won too, but only by one.
                    assert set(free) <= set(claimed), (claimed, free)
                    live = _live_rows(conn)
                    assert {live[lease.machine_id] for lease in leases} == {lease.holder for lease in leases}
                finally:
                    for lease in leases:
                        lease.release()
                conn.execute(f"INSERT INTO {ids.LEASE_TABLE} SELECT n, %s, now() + interval '1 hour'"
                             " FROM unnest(%s::int[]) AS n ON CONFLICT DO NOTHING", (filler, list(free)))
        finally:
            conn.execute(f"DELETE FROM {ids.LEASE_TABLE} WHERE holder = %s", (filler,))


MINT = """
import json, sys, threading, time, django
django.setup()
from authenticator.core.ids import generator
count, threads, start = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
generator.machine_id  # take the lease before the start line
out = [None] * threads
def mint(i):
    while time.time() < start:
        time.sleep(0.001)
    out[i] = [generator.next_id() for _ in range(count)]
workers = [threading.Thread(target=mint, args=(i,)) for i in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
sys.stdout.write(json.dumps({"machine_id": generator.machine_id, "holder": str(generator._lease.holder), "ids": out}))
"""


@pytest.mark.slow
def test_processes_minting_through_pgbouncer_hold_distinct_ids_and_mint_unique_ids(pgbouncer):
    """Six processes (more than PgBouncer's four server connections) of four threads,
    20,000 ids each thread, all at once; the leases are given back at exit."""
    processes, threads, count = 6, 4, 20_000
    env = {**os.environ, "DATABASE_URL": pgbouncer.url(), "DB_PGBOUNCER": "1",
           "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    start = time.time() + 4
    procs = [subprocess.Popen([sys.executable, "-c", MINT, str(count), str(threads), str(start)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(processes)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert len({r["machine_id"] for r in results}) == processes
    minted = [value for r in results for per_thread in r["ids"] for value in per_thread]
    assert len(minted) == processes * threads * count
    assert len(set(minted)) == len(minted)
    for r in results:
        assert {_machine(value) for per_thread in r["ids"] for value in per_thread} == {r["machine_id"]}
        for per_thread in r["ids"]:
            assert per_thread == sorted(per_thread), "one thread's ids grow"
    with _through(pgbouncer) as conn:
        holders = {str(h) for (h,) in conn.execute(f"SELECT holder FROM {ids.LEASE_TABLE}").fetchall()}
    assert not holders & {r["holder"] for r in results}, "released at exit"


STALL = """
import sys, time, django
django.setup()
from authenticator.core import ids
from authenticator.core.errors import DatabaseUnavailable
from authenticator.core.errors import DatabaseUnavailable
conninfo, ttl, until = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
gen = ids.Sonyflake(lease_factory=lambda: ids.PostgresLease(conninfo, ttl=ttl))
while time.time() < until:
    try:
        print(gen.next_id(), flush=True)
    except DatabaseUnavailable:
        print("unavailable", flush=True)
    time.sleep(0.005)
""".replace("import sys", "import json, sys")


@pytest.mark.slow
def test_a_stalled_process_whose_lease_was_taken_over_never_mints_with_it_again(pgbouncer):
    """A process minting through PgBouncer is stopped (SIGSTOP: a long GC pause, a frozen
    VM) past its lease; another takes the expired id over. Resumed, the process mints on —
    with a new id: every id it minted with the old one is older than the takeover."""
    ttl = 2.0
    proc = subprocess.Popen([sys.executable, "-c", STALL, json.dumps(pgbouncer.conninfo()), str(ttl),
                             str(time.time() + 8)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"})
    try:
        first = int(proc.stdout.readline())
        stolen = _machine(first)
        time.sleep(0.5)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(ttl + 0.5)
        with _through(pgbouncer) as conn:
            taken = conn.execute(
                f"UPDATE {ids.LEASE_TABLE} SET holder = gen_random_uuid(), expires_at = now() + interval '1 hour'"
                " WHERE machine_id = %s AND expires_at < now() RETURNING (extract(epoch FROM now()) * 1000)::bigint",
                (stolen,)).fetchone()
            assert taken is not None, "the stalled lease had expired"
            proc.send_signal(signal.SIGCONT)
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
            conn.execute(f"DELETE FROM {ids.LEASE_TABLE} WHERE machine_id = %s", (stolen,))
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = out.split()
    assert "unavailable" in lines, "minting stopped until the lease was replaced"
    minted = [first] + [int(line) for line in lines if line != "unavailable"]
    with_stolen = [ids.id_parts(v)["time_ms"] for v in minted if _machine(v) == stolen]
    after = [v for v in minted if _machine(v) != stolen]
    assert max(with_stolen) < taken[0]
    assert len(after) > 100, "it minted on after the takeover, with another id"
    assert len({_machine(v) for v in after}) == 1
    assert len(set(minted)) == len(minted)


@pytest.mark.slow
@pytest.mark.parametrize("taken_over", [False, True])
def test_no_id_is_minted_past_the_lease_while_the_database_is_unreachable(pgbouncer, taken_over):
    """PgBouncer goes away: renewals fail, the lease runs out and minting stops (the call
    answers DatabaseUnavailable rather than mint) until the heartbeat renews it — the same
    id if nobody took it over meanwhile, a new one if somebody did."""
    gen = ids.Sonyflake(lease_factory=lambda: ids.PostgresLease(pgbouncer.conninfo(), ttl=2.0))
    try:
        first = gen.next_id()
        held = _machine(first)
        pgbouncer.stop()
        time.sleep(2.2)  # past the lease's deadline (0.9 of its 2 s)
        with pytest.raises(DatabaseUnavailable):
            gen.next_id()
        if taken_over:
            with _upstream(pgbouncer) as conn:
                assert conn.execute(
                    f"UPDATE {ids.LEASE_TABLE} SET holder = gen_random_uuid() WHERE machine_id = %s"
                    " AND expires_at < now() RETURNING machine_id", (held,)).fetchone() is not None
        pgbouncer.start()
        deadline = time.monotonic() + 5
        while True:  # until the heartbeat has renewed it, or leased another
            try:
                after = gen.next_id()
                break
            except DatabaseUnavailable:
                assert time.monotonic() < deadline, "minting never resumed"
                time.sleep(0.05)
        assert after > first
        assert (_machine(after) != held) is taken_over
    finally:
        gen.release()
        with _upstream(pgbouncer) as conn:
            conn.execute(f"DELETE FROM {ids.LEASE_TABLE} WHERE machine_id = %s", (held,))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_service_through_pgbouncer_signs_up_and_in_over_rest_and_grpc(pgbouncer):
    """gunicorn (3 workers × 4 threads) and the gRPC server (8 threads) with DATABASE_URL
    at PgBouncer and DB_PGBOUNCER=1: concurrent sign-ups and sign-ins all succeed, each
    process mints with its own leased id, and PostgreSQL sees no more than the pool's
    four server connections."""
    from scripts.prove.harness import running, transport, unique_phone
    from tests.prove.conftest import PROOF_ENV

    with running(pgbouncer.url(), os.environ["REDIS_URL"], env={"DB_PGBOUNCER": "1", **PROOF_ENV}, workers=3, threads=4,
                 grpc_workers=8) as (server, gateway):
        def journey(n: int) -> list[bool]:
            client = transport("rest" if n % 2 else "grpc", server)
            phone = unique_phone(7_300_000 + n)
            try:
                steps = [client.signup(phone_number=phone, country_id="GB", name=f"Scaling {n}").ok,
                         client.signup_verify(phone_number=phone, otp=gateway.code_for(phone)).ok,
                         client.otp_request(phone_number=phone).ok,
                         client.otp_verify(phone_number=phone, otp=gateway.code_for(phone, after=1)).ok]
            finally:
                client.close()
            return steps

        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(journey, range(48)))
        clients = pgbouncer.show("CLIENTS")
        servers = [s for s in pgbouncer.show("SERVERS") if s["database"] == pgbouncer.upstream["dbname"]]
        with _through(pgbouncer) as conn:
            live = _live_rows(conn)
            minted_by = {_machine(v) for (v,) in conn.execute(
                "WITH mine AS (SELECT id FROM users WHERE phone_number LIKE '+447407%%')"
                " SELECT id FROM mine UNION ALL SELECT id FROM login_states WHERE user_id IN (SELECT id FROM mine)").fetchall()}
        assert not server.server_errors_logged(), server.log_tail()
        assert not server.grpc.server_errors_logged(), server.grpc.log_tail()
    assert answers == [[True] * 4] * 48
    print(f"\nthrough PgBouncer: {len(clients)} client connections, {len(servers)} server connections")
    assert len(servers) <= POOL_SIZE < len(clients)
    assert minted_by <= set(live), "only leased ids were minted with"
    assert len(minted_by) >= 2, "gunicorn's workers and the gRPC server lease their own"
