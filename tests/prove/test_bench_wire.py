"""The benchmark's statement counter (scripts/bench/wire.py) against the real PostgreSQL:
it counts what the server is asked to run, prepared statements and implicit BEGINs too."""

from __future__ import annotations

import os

import psycopg

from scripts.bench.wire import CountingProxy
from scripts.prove.harness import database_url_for


def test_the_proxy_counts_every_statement_by_kind():
    url = database_url_for("postgres", os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    proxy = CountingProxy(url).start()
    try:
        with psycopg.connect(proxy.url) as db:  # psycopg prepares a statement run 5 times or more
            proxy.reset()
            for i in range(7):
                assert db.execute("SELECT %s::int", [i]).fetchone() == (i,)
            db.execute("SELECT 1")  # no parameters
            db.commit()
            with db.cursor() as cursor:
                cursor.execute("CREATE TEMP TABLE wire_probe (n int)")
                cursor.executemany("INSERT INTO wire_probe VALUES (%s)", [(1,), (2,)])
                cursor.execute("UPDATE wire_probe SET n = n + 1 WHERE n = %s", [1])
            db.rollback()
        # After DDL psycopg drops its prepared statements itself: one DEALLOCATE, counted too.
        assert proxy.snapshot() == {"SELECT": 8, "BEGIN": 2, "COMMIT": 1, "CREATE": 1, "INSERT": 2, "UPDATE": 1,
                                    "ROLLBACK": 1, "DEALLOCATE": 1}
    finally:
        proxy.stop()
