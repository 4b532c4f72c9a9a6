"""A real local SMS gateway: the HTTP endpoint HttpGatewaySmsSender posts ``{"to", "message"}`` to.

Servers and commands that tests start as subprocesses can't share the test's in-memory
outbox; they send through this instead, and the test reads the codes here.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SmsGateway:
    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self._cond = threading.Condition()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with gateway._cond:
                    gateway.messages.append(json.loads(body))
                    gateway._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        """What a subprocess needs in its environment to send SMS here."""
        return {"SMS_SENDER": "otp.channels.HttpGatewaySmsSender", "SMS_GATEWAY_URL": self.url}

    def sent_to(self, to: str) -> list[str]:
        with self._cond:
            return [m["message"] for m in self.messages if m["to"] == to]

    def wait_for_code(self, to: str, *, after: int = 0, timeout: float = 15.0) -> str:
        """The code in the first message to ``to`` beyond the first ``after`` ones."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                texts = [m["message"] for m in self.messages if m["to"] == to]
                if len(texts) > after:
                    match = re.search(r"\b(\d{6})\b", texts[after])
                    assert match, f"no code in {texts[after]!r}"
                    return match.group(1)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no SMS to {to} within {timeout} s (got {self.messages!r})")
                self._cond.wait(remaining)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
