"""The HTTP client against real misbehaving servers on loopback: every failure becomes
TokenizerUnavailable within the timeouts, retries only where repeating is safe."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from authenticator.core.errors import InvalidToken, TokenizerUnavailable
from authenticator.tokenizer.http import HttpTokenizer

from .conftest import (
    API_KEY,
    HANG,
    FakeServer,
    Trickle,
    authenticator_settings,
    issue,
    json_answer,
)

RETRIES = 2
PAIR = {"access_token": "a", "token_type": "Bearer", "expires_in": 900, "refresh_token": "r", "refresh_expires_in": 60, "session_id": "s"}


@pytest.fixture
def client() -> HttpTokenizer:
    tk = HttpTokenizer()
    yield tk
    tk.close()


@pytest.fixture
def point_at(settings):
    def point(url: str, **values) -> None:
        authenticator_settings(
            settings,
            TOKENIZER_URL=url,
            TOKENIZER_API_KEY=API_KEY,
            **{"TOKENIZER_CONNECT_TIMEOUT": 1.0, "TOKENIZER_READ_TIMEOUT": 0.3, "TOKENIZER_RETRIES": RETRIES, **values},
        )

    return point


def call(client: HttpTokenizer, name: str):
    calls = {
        "issue": lambda: issue(client, session_id="s", key="login-state-s"),
        "refresh": lambda: client.refresh(refresh_token="r"),
        "revoke_token": lambda: client.revoke_token(token="t"),
        "revoke_sessions": lambda: client.revoke_sessions(subject="1001"),
        "introspect": lambda: client.introspect(token="t"),
        "jwks": lambda: client.jwks(),
    }
    return calls[name]()


ALL_CALLS = ["issue", "refresh", "revoke_token", "revoke_sessions", "introspect", "jwks"]
PATHS = {
    "issue": "/v1/tokens",
    "refresh": "/v1/tokens/refresh",
    "revoke_token": "/v1/tokens/revoke",
    "revoke_sessions": "/v1/sessions/revoke",
    "introspect": "/v1/tokens/introspect",
    "jwks": "/v1/jwks",
}


@pytest.mark.parametrize("name", ALL_CALLS)
def test_a_refused_connection_is_unavailable(client, point_at, refused_url, name):
    point_at(refused_url)
    started = time.monotonic()

    with pytest.raises(TokenizerUnavailable):
        call(client, name)

    assert time.monotonic() - started < 3


@pytest.mark.parametrize(("name", "attempts"), [("introspect", 1 + RETRIES), ("revoke_token", 1 + RETRIES),
                                                ("revoke_sessions", 1 + RETRIES), ("issue", 1 + RETRIES),
                                                ("jwks", 1 + RETRIES), ("refresh", 1)])
def test_a_500_is_retried_only_where_repeating_is_safe(client, point_at, fake_server: FakeServer, name, attempts):
    point_at(fake_server.url)

    with pytest.raises(TokenizerUnavailable):
        call(client, name)

    assert fake_server.count(PATHS[name]) == attempts


def test_a_retried_issue_repeats_its_idempotency_key(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url)

    with pytest.raises(TokenizerUnavailable):
        issue(client, session_id="s", key="login-state-42")

    assert [r["headers"]["Idempotency-Key"] for r in fake_server.requests] == ["login-state-42"] * (1 + RETRIES)
    assert all(r["headers"]["Authorization"] == f"Bearer {API_KEY}" for r in fake_server.requests)


def test_a_retry_that_succeeds_returns_the_answer(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url)
    answers = iter([json_answer(503, {"error": "busy"}), json_answer(200, {"active": False})])
    fake_server.routes["/v1/tokens/introspect"] = lambda request: next(answers)

    assert client.introspect(token="t").active is False
    assert fake_server.count("/v1/tokens/introspect") == 2


def test_a_hanging_introspect_gives_up_after_its_retries(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url)
    fake_server.default = HANG
    started = time.monotonic()

    with pytest.raises(TokenizerUnavailable):
        client.introspect(token="t")

    elapsed = time.monotonic() - started
    # Three reads of 0.3 s, plus at most 0.1 + 0.2 s of backoff.
    assert 0.9 <= elapsed < 3.0
    assert fake_server.count("/v1/tokens/introspect") == 1 + RETRIES


def test_a_hanging_refresh_is_tried_once(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url)
    fake_server.default = HANG
    started = time.monotonic()

    with pytest.raises(TokenizerUnavailable):
        client.refresh(refresh_token="r")

    assert 0.3 <= time.monotonic() - started < 1.5
    assert fake_server.count("/v1/tokens/refresh") == 1


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("introspect", (200, b"<html>Gateway</html>", {"Content-Type": "text/html"})),
        ("introspect", json_answer(200, {"valid": True})),
        ("introspect", json_answer(200, {"active": "yes"})),
        ("introspect", json_answer(200, {"active": True, "sub": "1", "sid": "s"})),  # no exp/iat
        ("introspect", json_answer(200, [])),
        ("refresh", json_answer(200, {**PAIR, "expires_in": "900"})),
        ("refresh", json_answer(200, {k: v for k, v in PAIR.items() if k != "refresh_token"})),
        ("issue", (201, b"", {})),
        ("issue", json_answer(201, {**PAIR, "access_token": None})),
        ("revoke_sessions", json_answer(200, {"revoked": "2"})),
        ("revoke_sessions", json_answer(200, {})),
        ("jwks", json_answer(200, {"keys": {}})),
    ],
)
def test_a_junk_or_wrongly_shaped_answer_is_unavailable(client, point_at, fake_server: FakeServer, name, answer):
    point_at(fake_server.url)
    fake_server.default = answer

    with pytest.raises(TokenizerUnavailable):
        call(client, name)

    assert fake_server.count(PATHS[name]) == 1  # a 2xx is an answer: not retried


@pytest.mark.parametrize(
    "answer",
    [
        json_answer(401, {"error": "unauthorized_client", "error_description": "Missing or wrong API key."}),
        json_answer(400, {"error": "invalid_request", "error_description": "x"}),
        json_answer(404, {"error": "not_found"}),
        (302, b"", {"Location": "http://127.0.0.1:1/elsewhere"}),
        (401, b"no json", {}),
    ],
)
def test_other_refusals_are_unavailable_and_not_retried(client, point_at, fake_server: FakeServer, answer):
    point_at(fake_server.url)
    fake_server.default = answer

    with pytest.raises(TokenizerUnavailable):
        client.introspect(token="t")

    assert fake_server.count("/v1/tokens/introspect") == 1


def test_401_invalid_token_on_refresh_is_invalid_token(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url)
    fake_server.default = json_answer(401, {"error": "invalid_token", "error_description": "reused"})

    with pytest.raises(InvalidToken):
        client.refresh(refresh_token="r")

    assert fake_server.requests[0]["body"] == {"refresh_token": "r"}


def test_a_good_answer_is_parsed(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url)
    fake_server.routes["/v1/tokens/refresh"] = json_answer(200, PAIR)
    fake_server.routes["/v1/sessions/revoke"] = json_answer(200, {"revoked": 3})
    fake_server.routes["/v1/tokens/revoke"] = (200, b"", {})

    assert client.refresh(refresh_token="r").as_dict() == PAIR
    assert client.revoke_sessions(subject="1001", session_id="s") == 3
    client.revoke_token(token="t", token_type_hint="access_token")

    bodies = {r["path"]: r["body"] for r in fake_server.requests}
    assert bodies["/v1/sessions/revoke"] == {"subject": "1001", "session_id": "s"}
    assert bodies["/v1/tokens/revoke"] == {"token": "t", "token_type_hint": "access_token"}


def test_calls_share_one_pooled_connection(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url)
    fake_server.default = json_answer(200, {"active": False})

    for _ in range(5):
        client.introspect(token="t")

    assert len({r["peer"] for r in fake_server.requests}) == 1


def test_a_forked_child_does_not_reuse_the_parents_connections(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url)
    fake_server.default = json_answer(200, {"active": False})
    client.introspect(token="t")
    parent_session = client._session
    assert parent_session is not None

    pid = os.fork()
    if pid == 0:  # the child: must start without the parent's pool
        os._exit(0 if client._session is None else 1)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert client._session is parent_session


def test_missing_configuration_is_unavailable_without_a_request(client, settings):
    authenticator_settings(settings, TOKENIZER_URL="http://127.0.0.1:9", TOKENIZER_API_KEY="")

    with pytest.raises(TokenizerUnavailable):
        client.introspect(token="t")


@pytest.mark.django_db(transaction=True)
def test_the_real_server_refusing_our_api_key_is_unavailable(serving):
    wrong_key = HttpTokenizer(api_key="not-" + API_KEY)
    right_key = HttpTokenizer()
    try:
        with pytest.raises(TokenizerUnavailable):
            wrong_key.introspect(token="t")
        with pytest.raises(TokenizerUnavailable):
            issue(wrong_key)
        assert right_key.introspect(token="t").active is False
    finally:
        wrong_key.close()
        right_key.close()


# -- size cap and deadline (issue 11, item 9) -----------------------------------------------


def _huge(record):
    # A contract-shaped answer padded past the cap: only its size is wrong.
    return 200, json.dumps({"active": False, "padding": "x" * 200_000}).encode(), {}


@dataclass
class ChunkedServer:
    url: str
    sent: list[int]


@pytest.fixture
def chunked_server() -> Iterator[ChunkedServer]:
    """A real server that answers one request with 50 MB of chunked JSON-ish bytes and
    counts how many it managed to send before the client hung up."""
    listener = socket.create_server(("127.0.0.1", 0))
    sent = [0]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                chunk = b" " * 65536
                while sent[0] < 50 * 1024 * 1024:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent[0] += len(chunk)
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield ChunkedServer(url=f"http://127.0.0.1:{listener.getsockname()[1]}", sent=sent)
    listener.close()
    thread.join(timeout=10)


@pytest.mark.parametrize("name", ALL_CALLS)
def test_an_answer_over_the_size_cap_is_unavailable(client, point_at, fake_server: FakeServer, name):
    point_at(fake_server.url, TOKENIZER_MAX_RESPONSE_BYTES=64 * 1024)
    fake_server.default = _huge

    with pytest.raises(TokenizerUnavailable):
        call(client, name)
    # A size is no passing fault: not retried.
    assert fake_server.count(PATHS[name]) == 1


def test_an_answer_within_the_cap_is_read(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url, TOKENIZER_MAX_RESPONSE_BYTES=64 * 1024)
    fake_server.routes["/v1/tokens/introspect"] = (200, json.dumps({"active": False, "padding": "x" * 60_000}).encode(), {})

    assert client.introspect(token="t").active is False


def test_a_huge_body_without_content_length_is_cut_at_the_cap(client, point_at, chunked_server):
    point_at(chunked_server.url, TOKENIZER_MAX_RESPONSE_BYTES=64 * 1024)

    with pytest.raises(TokenizerUnavailable):
        client.introspect(token="t")
    # The client stopped reading long before the server's 50 MB.
    assert chunked_server.sent[0] < 5 * 1024 * 1024


def test_a_server_trickling_its_answer_is_cut_off_at_the_deadline(client, point_at, fake_server: FakeServer):
    # Each byte comes well within the read timeout, so only the deadline can stop it.
    point_at(fake_server.url, TOKENIZER_READ_TIMEOUT=1.0, TOKENIZER_DEADLINE=1.0)
    fake_server.default = Trickle(size=10_000, every=0.05)
    started = time.monotonic()

    with pytest.raises(TokenizerUnavailable):
        client.introspect(token="t")

    assert time.monotonic() - started < 2.0
    # The deadline covers the retries too: no new attempt once it has passed.
    assert fake_server.count("/v1/tokens/introspect") == 1


def test_the_deadline_bounds_retries_and_backoff(client, point_at, fake_server: FakeServer):
    point_at(fake_server.url, TOKENIZER_READ_TIMEOUT=0.3, TOKENIZER_DEADLINE=0.5)
    fake_server.default = HANG
    started = time.monotonic()

    with pytest.raises(TokenizerUnavailable):
        client.introspect(token="t")

    assert time.monotonic() - started < 1.0
    assert fake_server.count("/v1/tokens/introspect") < 1 + RETRIES
