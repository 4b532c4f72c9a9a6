"""A real PgBouncer (Debian's package) in transaction pooling in front of the test
PostgreSQL, on a free port of its own; `make test` installs /usr/sbin/pgbouncer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PGBOUNCER = "/usr/sbin/pgbouncer"
PORTS = range(18500, 18600)  # this checkout's share of the machine's ports
POOL_SIZE = 4  # server connections per database and user: fewer than the clients below
PINNED = "pinned"  # an alias of the test database with ONE server connection


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


class PgBouncer:
    """``pgbouncer`` as a subprocess; ``stop()``/``start()`` keep its port (an outage)."""

    def __init__(self, upstream: dict) -> None:
        self.upstream = upstream
        self.port = _free_port()
        # Its own directory, readable by the unprivileged user it runs as under root.
        self.dir = Path(tempfile.mkdtemp(prefix="authn-pgbouncer-"))
        self.dir.chmod(0o755)
        host, port, user, name = upstream["host"], upstream["port"], upstream["user"], upstream["dbname"]
        (self.dir / "userlist.txt").write_text(f'"{user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(f"""\
[databases]
{PINNED} = host={host} port={port} dbname={name} pool_size=1
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir / "userlist.txt"}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = 500
admin_users = {user}
logfile = {self.dir / "pgbouncer.log"}
pidfile =
""")
        for path in self.dir.iterdir():
            path.chmod(0o644)
        (self.dir / "pgbouncer.log").touch(mode=0o666)
        (self.dir / "pgbouncer.log").chmod(0o666)
        self.process: subprocess.Popen | None = None

    def conninfo(self, dbname: str | None = None) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": self.upstream["user"],
                "dbname": dbname or self.upstream["dbname"]}

    def url(self, dbname: str | None = None) -> str:
        return f"postgres://{self.upstream['user']}@127.0.0.1:{self.port}/{dbname or self.upstream['dbname']}"

    def start(self, timeout: float = 10.0) -> PgBouncer:
        command = [PGBOUNCER, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "nobody"]  # it refuses to run as root
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.process.stderr.read().decode()}\n{self.log()}")
            try:
                with psycopg.connect(**self.conninfo(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return self
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not answer within {timeout}s\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def show(self, what: str) -> list[dict]:
        """``SHOW <what>`` on the admin console (simple query protocol only)."""
        with psycopg.connect(**self.conninfo("pgbouncer"), autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
            cursor = conn.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def upstream_conninfo() -> dict:
    from django.db import connection

    s = connection.settings_dict
    return {"host": s["HOST"] or "127.0.0.1", "port": s["PORT"] or 5432, "user": s["USER"], "dbname": s["NAME"]}


@pytest.fixture
def pgbouncer(django_db_setup) -> Iterator[PgBouncer]:
    """A fresh PgBouncer per test (tests stop and start it), on the test database."""
    if not os.path.exists(PGBOUNCER):
        pytest.fail(f"{PGBOUNCER} is missing: `make test` installs it (apt-get install pgbouncer)")
    bouncer = PgBouncer(upstream_conninfo())
    try:
        yield bouncer.start()
    finally:
        bouncer.stop()
        shutil.rmtree(bouncer.dir, ignore_errors=True)
