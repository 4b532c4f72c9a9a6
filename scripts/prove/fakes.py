"""Misbehaving dependencies for the fault proofs: a Tokenizer and a TCP proxy.

- ``FakeTokenizer``: speaks the Tokenizer contract's issue call well (``mode = "ok"``), or
  hangs, answers 500, or answers junk (``"hang"``, ``"500"``, ``"junk"``, ``"bad_shape"``).
  ``refused_url()`` is a URL where nothing listens (connection refused).
- ``TcpProxy``: sits between the service and PostgreSQL or Redis; ``down()`` drops every
  connection and resets new ones (the server is gone), ``up()`` brings it back,
  ``kill_one()`` drops one connection (one backend killed). It lets the fault proofs run
  without restarting the machine's shared PostgreSQL/Redis.
"""

from __future__ import annotations

import json
import random
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .harness import free_port


class FakeTokenizer:
    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.calls = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake.calls += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                mode = fake.mode
                if mode == "hang":
                    time.sleep(3600)
                    return
                if mode == "500":
                    return self._send(500, b'{"error": "server_error"}')
                if mode == "junk":
                    return self._send(200, b"<html>\x00\xff not json", "text/html")
                if mode == "bad_shape":
                    return self._send(200, b'{"access_token": 5}')
                if self.path == "/v1/tokens":
                    pair = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 900,
                            "refresh_token": secrets.token_urlsafe(16), "refresh_expires_in": 86400,
                            "session_id": str(body.get("session_id"))}
                    return self._send(201, json.dumps(pair).encode())
                if self.path == "/v1/sessions/revoke":
                    return self._send(200, b'{"revoked": 1}')
                return self._send(200, b'{"active": false}')

            def _send(self, status: int, data: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeTokenizer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def refused_url() -> str:
    """A local URL where nothing listens: the connection is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


class TcpProxy:
    """Forwards a free local port to ``target``; ``down``/``kill_one`` for fault proofs.

    ``tap``, if given, is called once per connection and returns a function fed every
    chunk the client sends (the benchmark's statement counter reads the wire this way).
    """

    def __init__(self, target_host: str, target_port: int,
                 tap: Callable[[], Callable[[bytes], None]] | None = None) -> None:
        self.target = (target_host, target_port)
        self._tap = tap
        self.port = free_port()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._down = False

    def start(self) -> TcpProxy:
        # The port stays bound while "down": closed, it could be handed out as some
        # outgoing connection's source port and never be ours again.
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        self._listener = listener
        self._down = False
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def up(self) -> None:
        self._down = False

    def down(self) -> None:
        """Drop the open connections and reset new ones at once: the server went away."""
        self._down = True
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            _close(a)
            _close(b)

    def kill_one(self) -> bool:
        with self._lock:
            if not self._pairs:
                return False
            a, b = self._pairs.pop(random.randrange(len(self._pairs)))
        _close(a)
        _close(b)
        return True

    def stop(self) -> None:
        self.down()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._down:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, like a dead port
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            feed = self._tap() if self._tap is not None else None
            threading.Thread(target=self._pipe, args=(client, upstream, feed), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, feed: Callable[[bytes], None] | None) -> None:
        try:
            while data := src.recv(65536):
                if feed is not None:
                    feed(data)
                dst.sendall(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
