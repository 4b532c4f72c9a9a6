from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from authenticator.core.errors import InvalidInput, TokenizerUnavailable
from authenticator.tokenizer import reset_tokenizer
from authenticator.tokenizer.base import Tokenizer, TokenPair
from authenticator.tokenizer.http import HttpTokenizer
from authenticator.tokenizer.local import LocalTokenizer

API_KEY = "test-tokenizer-api-key-0123456789"


@pytest.fixture(autouse=True)
def _fresh_tokenizer() -> Iterator[None]:
    reset_tokenizer()
    yield
    reset_tokenizer()


def authenticator_settings(settings, **values: Any) -> None:
    """Override keys of settings.AUTHENTICATOR (pytest-django restores them after the test)."""
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, **values}


def new_session_id() -> str:
    return uuid.uuid4().hex[:20]


def issue(tk: Tokenizer, *, subject: str = "1001", session_id: str | None = None, key: str | None = None, **overrides: Any) -> TokenPair:
    session_id = session_id or new_session_id()
    values: dict[str, Any] = {
        "subject": subject,
        "session_id": session_id,
        "amr": ["otp_sms"],
        "level": 1,
        "ip": "203.0.113.7",
        "user_agent": "pytest/1.0",
        "idempotency_key": key or f"login-state-{session_id}",
    }
    values.update(overrides)
    return tk.issue(**values)


# -- a real HTTP server serving the views (Django's LiveServerThread on 127.0.0.1:0) -------


@pytest.fixture(scope="module")
def tokenizer_live_server(django_db_blocker) -> Iterator[str]:
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock():
        server = LiveServer("127.0.0.1:0")
    yield server.url
    server.stop()


@pytest.fixture
def serving(settings, tokenizer_live_server: str) -> str:
    """The live server serves the Tokenizer; the client is pointed at it. Returns its base URL."""
    settings.ROOT_URLCONF = "tests.tokenizer.urls"
    base = tokenizer_live_server + "/tokenizer"
    authenticator_settings(
        settings,
        TOKENIZER_SERVE=True,
        TOKENIZER_URL=base,
        TOKENIZER_API_KEY=API_KEY,
        TOKENIZER_CONNECT_TIMEOUT=2.0,
        TOKENIZER_READ_TIMEOUT=10.0,
    )
    return base


@dataclass
class Implementation:
    name: str
    tokenizer: Tokenizer
    # What a refused issue raises: the local signer says why; over HTTP the 400 is the
    # Tokenizer refusing us, which the client reports as unavailable (docs/tokenizer.md).
    rejects: type[Exception]


@pytest.fixture(
    params=[
        pytest.param("local", marks=pytest.mark.django_db),
        # The server thread has its own database connection: it must see committed rows.
        pytest.param("http", marks=pytest.mark.django_db(transaction=True)),
    ]
)
def impl(request: pytest.FixtureRequest) -> Implementation:
    if request.param == "local":
        return Implementation("local", LocalTokenizer(), InvalidInput)
    request.getfixturevalue("serving")
    client = HttpTokenizer()
    request.addfinalizer(client.close)
    return Implementation("http", client, TokenizerUnavailable)


# -- tiny misbehaving servers ---------------------------------------------------------


@dataclass
class FakeServer:
    """A real HTTP server on 127.0.0.1:0 whose answer a test chooses per path."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # path -> (status, body bytes, extra headers) or a callable(request dict) returning that
    routes: dict[str, Any] = field(default_factory=dict)
    default: Any = (500, b'{"error": "server_error"}', {})
    release: threading.Event = field(default_factory=threading.Event)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)


HANG = object()


@dataclass(frozen=True)
class Trickle:
    """Answer 200 with a Content-Length of ``size`` and send one byte every ``every`` s."""

    size: int = 10_000
    every: float = 0.05


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    state: FakeServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            record = {"path": self.path, "method": self.command, "headers": dict(self.headers), "body": body, "peer": self.client_address}
            state.requests.append(record)
            answer = state.routes.get(self.path, state.default)
            if callable(answer):
                answer = answer(record)
            if answer is HANG:
                state.release.wait(30)
                return
            if isinstance(answer, Trickle):
                self.send_response(200)
                self.send_header("Content-Length", str(answer.size))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    for _ in range(answer.size):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        if state.release.wait(answer.every):
                            return
                except OSError:  # the client gave up
                    return
                return
            status, payload, headers = answer
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    state = FakeServer(url=f"http://{host}:{port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def refused_url() -> str:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def json_answer(status: int, data: Any, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    return status, json.dumps(data).encode(), headers or {}


Answer = Callable[[dict[str, Any]], Any]
