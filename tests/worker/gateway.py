"""A real local SMS gateway for the worker proofs: HttpGatewaySmsSender's ``POST {"to",
"message"}``, honouring ``Idempotency-Key`` as an idempotent provider does.

A request whose key the gateway has seen before is answered as the first was and sends
nothing: ``sms`` lists what went out to phones (one per key), ``requests`` every call
that reached it. ``down()`` stops listening (a refused connection, as a provider that is
away), ``up()`` listens again on the same port; ``hold()`` keeps requests waiting
(a send in flight) until ``release()``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class Request:
    to: str
    message: str
    key: str
    at: float


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A caller killed mid-request (the proofs do that) resets its connection: expected.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class IdempotentGateway:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.sms: dict[str, Request] = {}  # idempotency key -> the message that went out
        self._cond = threading.Condition()
        self._held = threading.Event()
        self._held.set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    def env(self) -> dict[str, str]:
        return {"SMS_SENDER": "otp.channels.HttpGatewaySmsSender", "SMS_GATEWAY_URL": self.url}

    def up(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                request = Request(to=body["to"], message=body["message"], key=self.headers.get("Idempotency-Key", ""),
                                  at=time.monotonic())
                with gateway._cond:
                    gateway.requests.append(request)
                    # Taken: the SMS goes out now, whether or not the answer reaches the caller.
                    first = gateway.sms.setdefault(request.key or f"no-key-{len(gateway.requests)}", request)
                    gateway._cond.notify_all()
                gateway._held.wait(30)
                answer = json.dumps({"id": f"gw-{abs(hash(first.key)) % 10**9}"}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the caller died while we held it

            def log_message(self, *args: Any) -> None:
                pass

        server = _Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hold(self) -> None:
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    def close(self) -> None:
        self.release()
        self.down()

    # -- reading what happened ------------------------------------------------------------
    def sms_to(self, to: str) -> list[Request]:
        with self._cond:
            return [r for r in self.sms.values() if r.to == to]

    def requests_to(self, to: str) -> list[Request]:
        with self._cond:
            return [r for r in self.requests if r.to == to]

    def wait_for_requests(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.requests)} requests reached the gateway within {timeout} s, not {n}")
                self._cond.wait(remaining)

    @staticmethod
    def code_of(request: Request) -> str:
        match = CODE.search(request.message)
        assert match, request.message
        return match.group(1)
