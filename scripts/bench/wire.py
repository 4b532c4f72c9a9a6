"""SQL statements counted where PostgreSQL sees them: a TCP proxy that reads the clients'
side of the wire protocol.

Every statement a client runs is one simple-protocol Query message ('Q') or one
extended-protocol Execute ('E' of a portal, which a Bind 'B' made from a statement a
Parse 'P' named: psycopg's prepared statements are bound again without a Parse), so the
proxy counts those, by their first keyword (SELECT, INSERT, UPDATE, BEGIN, COMMIT, ...).
Django's own count (CaptureQueriesContext, tests/api/test_budgets.py) sees what Django
sends; this sees everything — psycopg's implicit BEGIN, the pool's resets, the
background jobs — in the server under test, over its real connections.

The proxy forwards bytes untouched; PostgreSQL's answers are not parsed.
"""

from __future__ import annotations

import struct
import threading
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

from scripts.prove.fakes import TcpProxy

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


def _keyword(query: bytes) -> str:
    words = query.lstrip(b" \t\r\n(").split(None, 1)
    return words[0].decode(errors="replace").upper().rstrip(";") if words else "?"


class _ClientStream:
    """Parses one connection's client-to-server bytes, counting statements into ``counts``."""

    def __init__(self, counts: Counter, lock: threading.Lock) -> None:
        self.buffer = b""
        self.startup = True  # untyped packets (SSLRequest, StartupMessage) come first
        self.parsed: dict[bytes, str] = {}  # statement name -> keyword
        self.portals: dict[bytes, str] = {}  # portal name -> keyword
        self.counts = counts
        self.lock = lock

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.startup:
                if len(self.buffer) < 8:
                    return
                length, code = struct.unpack("!II", self.buffer[:8])
                if len(self.buffer) < length:
                    return
                self.buffer = self.buffer[length:]
                self.startup = code in (SSL_REQUEST, GSSENC_REQUEST)
                continue
            if len(self.buffer) < 5:
                return
            kind, length = self.buffer[:1], struct.unpack("!I", self.buffer[1:5])[0]
            if len(self.buffer) < 1 + length:
                return
            body, self.buffer = self.buffer[5:1 + length], self.buffer[1 + length:]
            if kind == b"Q":
                self._count(_keyword(body.rstrip(b"\0")))
            elif kind == b"P":  # Parse: statement name, query
                name, rest = body.split(b"\0", 1)
                self.parsed[name] = _keyword(rest.split(b"\0", 1)[0])
            elif kind == b"B":  # Bind: portal name, statement name (prepared ones are bound again and again)
                portal, statement = body.split(b"\0", 2)[:2]
                self.portals[portal] = self.parsed.get(statement, "?")
            elif kind == b"E":  # Execute: portal name
                self._count(self.portals.get(body.split(b"\0", 1)[0], "?"))

    def _count(self, keyword: str) -> None:
        with self.lock:
            self.counts[keyword] += 1


class CountingProxy:
    """Listens on a free local port and forwards to the PostgreSQL server of ``database_url``
    (the proofs' ``TcpProxy``), counting the statements its clients send."""

    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        self._parts = parts
        self.counts: Counter = Counter()
        self._lock = threading.Lock()
        self._proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432,
                               tap=lambda: _ClientStream(self.counts, self._lock).feed)
        self.port = self._proxy.port

    @property
    def url(self) -> str:
        """``database_url`` through the proxy."""
        auth = self._parts.netloc.rsplit("@", 1)[0] + "@" if "@" in self._parts.netloc else ""
        return urlunsplit((self._parts.scheme, f"{auth}127.0.0.1:{self.port}", self._parts.path, self._parts.query, ""))

    def start(self) -> CountingProxy:
        self._proxy.start()
        return self

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    def snapshot(self) -> Counter:
        with self._lock:
            return Counter(self.counts)

    def stop(self) -> None:
        self._proxy.stop()
