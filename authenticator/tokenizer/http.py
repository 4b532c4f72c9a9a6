"""The Tokenizer contract over HTTP: the client of a separate Tokenizer service.

One urllib3 ``PoolManager`` per process, shared by its threads (urllib3's pools are
thread-safe, where a ``requests.Session`` is not documented to be; re-created in a
forked child: sockets must not be shared across processes; no proxies or ``.netrc``
from the environment for a service-to-service call), ``(connect, read)`` timeouts from
settings, and retries
with jittered exponential backoff only for the calls that are safe to repeat — revoke,
sessions/revoke, introspect, jwks, and issue (it carries an ``Idempotency-Key``). Refresh
is never repeated: a lost answer may already have rotated the token, and a second try
would present a rotated token, which the Tokenizer treats as theft.

Every call has a deadline, ``TOKENIZER_DEADLINE`` seconds from its start, retries and
backoff included: each attempt's connect and read timeouts (and urllib3's ``total``) are
cut to what is left, and the body is read a piece at a time, so a server that trickles
bytes (each read quick, the answer never done) is cut off at the deadline too. An answer
longer than ``TOKENIZER_MAX_RESPONSE_BYTES`` is not read further: no contract answer is
near that size, and a Tokenizer gone wrong must not fill a worker's memory.

Answers map to the two domain errors: ``401 invalid_token`` → ``InvalidToken``; every
other failure — any other 4xx (including our own API key refused), 5xx, refused
connections, timeouts, redirects, bodies that are not JSON or not the contract's shape,
missing configuration — → ``TokenizerUnavailable``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import weakref
from typing import Any

import certifi
import urllib3

from authenticator.core import jsonsafe
from authenticator.core.conf import app_settings
from authenticator.core.errors import InvalidToken, TokenizerUnavailable

from .base import Introspection, TokenPair, token_pair_from_dict

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.1  # seconds; attempt n waits up to BACKOFF_BASE * 2**(n-1), jittered
BACKOFF_CAP = 2.0
POOL_SIZE = 32
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))

_instances: weakref.WeakSet[HttpTokenizer] = weakref.WeakSet()


class _Retryable(Exception):
    """A failed attempt that a retry may fix (carries the reason for the log)."""


class HttpTokenizer:
    """``base_url`` / ``api_key`` default to ``TOKENIZER_URL`` / ``TOKENIZER_API_KEY``,
    read at each call so that settings changes apply."""

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._lock = threading.Lock()
        self._session: urllib3.PoolManager | None = None
        self._pid = os.getpid()
        _instances.add(self)

    # -- the contract ------------------------------------------------------------------

    def issue(
        self,
        *,
        subject: str,
        session_id: str,
        amr: list[str],
        level: int,
        ip: str | None,
        user_agent: str,
        idempotency_key: str,
    ) -> TokenPair:
        body = {"subject": subject, "session_id": session_id, "amr": list(amr), "level": level, "ip": ip, "user_agent": user_agent}
        data = self._call("POST", "/v1/tokens", body, retry=True, headers={"Idempotency-Key": idempotency_key})
        return _parse(token_pair_from_dict, data, "issue")

    def refresh(self, *, refresh_token: str) -> TokenPair:
        data = self._call("POST", "/v1/tokens/refresh", {"refresh_token": refresh_token}, retry=False)
        return _parse(token_pair_from_dict, data, "refresh")

    def revoke_token(self, *, token: str, token_type_hint: str | None = None) -> None:
        body: dict[str, Any] = {"token": token}
        if token_type_hint is not None:
            body["token_type_hint"] = token_type_hint
        self._call("POST", "/v1/tokens/revoke", body, retry=True, allow_empty=True)

    def revoke_sessions(self, *, subject: str, session_id: str | None = None) -> int:
        body: dict[str, Any] = {"subject": subject}
        if session_id is not None:
            body["session_id"] = session_id
        data = self._call("POST", "/v1/sessions/revoke", body, retry=True)
        return _parse(_revoked_count, data, "sessions/revoke")

    def introspect(self, *, token: str) -> Introspection:
        data = self._call("POST", "/v1/tokens/introspect", {"token": token}, retry=True)
        return _parse(Introspection.from_dict, data, "introspect")

    def jwks(self) -> dict:
        data = self._call("GET", "/v1/jwks", None, retry=True)
        return _parse(_jwks, data, "jwks")

    # -- transport ---------------------------------------------------------------------

    def _http(self) -> urllib3.PoolManager:
        if self._pid != os.getpid():  # forked without the at-fork hook (belt and braces)
            self._after_fork()
        session = self._session
        if session is None:
            with self._lock:
                if self._session is None:
                    self._session = _new_session()
                session = self._session
        return session

    def _after_fork(self) -> None:
        # The parent's pooled sockets belong to the parent: drop them unclosed.
        self._lock = threading.Lock()
        self._session = None
        self._pid = os.getpid()

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.clear()
                self._session = None

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        retry: bool,
        headers: dict[str, str] | None = None,
        allow_empty: bool = False,
    ) -> Any:
        base_url = (self._base_url if self._base_url is not None else app_settings.TOKENIZER_URL or "").rstrip("/")
        api_key = self._api_key if self._api_key is not None else app_settings.TOKENIZER_API_KEY
        if not base_url or not api_key:
            log.error("Tokenizer misconfigured: TOKENIZER_URL and TOKENIZER_API_KEY must both be set")
            raise TokenizerUnavailable()
        url = base_url + path
        deadline = time.monotonic() + float(app_settings.TOKENIZER_DEADLINE)
        timeout = (float(app_settings.TOKENIZER_CONNECT_TIMEOUT), float(app_settings.TOKENIZER_READ_TIMEOUT))
        all_headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json", **(headers or {})}
        attempts = 1 + max(0, int(app_settings.TOKENIZER_RETRIES)) if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(method, url, body, all_headers, timeout, deadline, allow_empty=allow_empty)
            except _Retryable as exc:
                left = deadline - time.monotonic()
                if attempt == attempts or left <= 0:
                    log.warning("Tokenizer %s %s failed (attempt %d/%d): %s", method, path, attempt, attempts, exc)
                    raise TokenizerUnavailable() from None
                log.info("Tokenizer %s %s failed (attempt %d/%d), retrying: %s", method, path, attempt, attempts, exc)
                # Full jitter, so that many clients do not retry in step.
                time.sleep(min(left, random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))))  # nosec B311
        raise AssertionError("unreachable")

    def _attempt(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        timeout: tuple[float, float],
        deadline: float,
        *,
        allow_empty: bool,
    ) -> Any:
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers = {**headers, "Content-Type": "application/json"}
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Retryable("deadline passed")
        try:
            response = self._http().request(
                method, url, body=payload, headers=headers,
                timeout=urllib3.Timeout(connect=min(timeout[0], left), read=min(timeout[1], left), total=left),
                retries=False, redirect=False, preload_content=False,
            )
            try:
                data = _read_capped(response, deadline)
            finally:
                response.release_conn()
        except urllib3.exceptions.TimeoutError as exc:
            raise _Retryable(f"timeout ({type(exc).__name__})") from None
        except urllib3.exceptions.HTTPError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        status = response.status
        if status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status}")
        if 200 <= status < 300:
            if allow_empty and not data.strip():
                return None
            try:
                return jsonsafe.loads(data)
            except ValueError:
                log.warning("Tokenizer answered HTTP %s with a body that is not JSON", status)
                raise TokenizerUnavailable() from None
        error = _error_code(data)
        if status == 401 and error == "invalid_token":
            raise InvalidToken()
        if status == 401:
            log.error("Tokenizer refused our credentials (HTTP 401 %s): check TOKENIZER_API_KEY", error or "-")
        else:
            log.error("Tokenizer rejected the request: HTTP %s %s", status, error or "-")
        raise TokenizerUnavailable()


def _new_session() -> urllib3.PoolManager:
    # Up to POOL_SIZE kept connections per host; past it a call opens a connection of its
    # own rather than waiting (block=False). Retries are ours (above), never urllib3's.
    return urllib3.PoolManager(num_pools=4, maxsize=POOL_SIZE, block=False, retries=False, ca_certs=certifi.where())


def _read_capped(response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """The body, read one socket read at a time until the end, the size cap or the
    deadline. A body we stop reading leaves its connection closed, never pooled."""
    limit = int(app_settings.TOKENIZER_MAX_RESPONSE_BYTES)
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        response.close()
        log.warning("Tokenizer answered HTTP %s with %s bytes, more than TOKENIZER_MAX_RESPONSE_BYTES (%d)", response.status, declared, limit)
        raise TokenizerUnavailable()
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            response.close()
            raise _Retryable("deadline passed while reading the answer")
        chunk = response.read1(min(64 * 1024, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            response.close()
            log.warning("Tokenizer answered HTTP %s with more than TOKENIZER_MAX_RESPONSE_BYTES (%d)", response.status, limit)
            raise TokenizerUnavailable()


def _error_code(body: bytes) -> str | None:
    try:
        data = jsonsafe.loads(body)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


def _parse(parser, data: Any, call: str):
    try:
        return parser(data)
    except (ValueError, TypeError):
        log.warning("Tokenizer answered %s with a body of the wrong shape", call)
        raise TokenizerUnavailable() from None


def _revoked_count(data: Any) -> int:
    count = data.get("revoked") if isinstance(data, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError("sessions/revoke answer without a count")
    return count


def _jwks(data: Any) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise TypeError("jwks answer without keys")
    return data


def _reset_after_fork() -> None:
    for instance in list(_instances):
        instance._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
