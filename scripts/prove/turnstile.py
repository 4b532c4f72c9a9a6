"""A local server that speaks Cloudflare Turnstile's ``siteverify``, for tests and proofs.

``POST /siteverify`` with the form fields ``secret``, ``response`` (the token) and
``remoteip`` answers JSON ``{"success", "error-codes", "challenge_ts", "hostname",
"action", "cdata"}`` as Turnstile does. Tokens it accepts are the ones ``issue(action)``
handed out (each once: a token redeemed twice answers ``timeout-or-duplicate``, as
Turnstile's do). ``mode``: ``"ok"``, ``"500"`` (answers HTTP 500), ``"junk"`` (not JSON),
``"internal"`` (``internal-error``); ``stop()`` closes it (then: connection refused).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class TurnstileServer:
    def __init__(self, secret: str = "test-secret") -> None:
        self.secret = secret
        self.mode = "ok"
        self.tokens: dict[str, str] = {}  # token -> action
        self.scores: dict[str, float] = {}  # token -> reCAPTCHA v3's score, for tokens issued with one
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                with server._lock:
                    server.requests.append(form)
                if self.path != "/siteverify":
                    return self._send(404, b"{}")
                if server.mode == "500":
                    return self._send(500, b"oops")
                if server.mode == "junk":
                    return self._send(200, b"<html>not json")
                if server.mode == "internal":
                    return self._send(200, json.dumps({"success": False, "error-codes": ["internal-error"]}).encode())
                self._send(200, json.dumps(server.answer(form)).encode())

            def _send(self, status: int, data: bytes) -> None:
                # One request per connection: once stopped, nothing is left that answers.
                self.close_connection = True
                self.send_response(status)
                self.send_header("Connection", "close")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/siteverify"

    def issue(self, action: str = "", score: float | None = None) -> str:
        """A token as the widget would give a person who solved the challenge for ``action``;
        ``score``: answered as reCAPTCHA v3 does (``success`` true, the verdict a score
        from 0.0, a bot, to 1.0)."""
        token = "0." + secrets.token_urlsafe(48)
        with self._lock:
            self.tokens[token] = action
            if score is not None:
                self.scores[token] = score
        return token

    def answer(self, form: dict[str, str]) -> dict:
        if not form.get("secret"):
            return {"success": False, "error-codes": ["missing-input-secret"]}
        if form["secret"] != self.secret:
            return {"success": False, "error-codes": ["invalid-input-secret"]}
        token = form.get("response")
        if not token:
            return {"success": False, "error-codes": ["missing-input-response"]}
        with self._lock:
            if token not in self.tokens:
                spent = token in getattr(self, "_spent", set())
                return {"success": False, "error-codes": ["timeout-or-duplicate" if spent else "invalid-input-response"]}
            action = self.tokens.pop(token)
            score = self.scores.pop(token, None)
            self.__dict__.setdefault("_spent", set()).add(token)
        answer = {"success": True, "error-codes": [], "hostname": "example.com", "action": action, "cdata": "",
                  "challenge_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if score is not None:
            answer["score"] = score
        return answer

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
