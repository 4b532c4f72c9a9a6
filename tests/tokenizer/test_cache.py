"""CachedIntrospection against the real Redis."""

from __future__ import annotations

import hashlib
import logging
import socket
import time

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection

from authenticator.tokenizer.base import Introspection, Tokenizer
from authenticator.tokenizer.cache import CachedIntrospection, answer_key
from authenticator.tokenizer.local import LocalTokenizer

from .conftest import authenticator_settings, issue

pytestmark = pytest.mark.django_db


class CountingTokenizer:
    """Forwards to a real LocalTokenizer and counts introspect calls."""

    def __init__(self, inner: Tokenizer) -> None:
        self.inner = inner
        self.introspections = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def introspect(self, *, token: str) -> Introspection:
        self.introspections += 1
        return self.inner.introspect(token=token)


@pytest.fixture
def counting() -> CountingTokenizer:
    return CountingTokenizer(LocalTokenizer())


@pytest.fixture
def cached(counting) -> CachedIntrospection:
    return CachedIntrospection(counting)


def test_the_second_introspection_is_served_from_the_cache(cached, counting):
    pair = issue(cached)

    first = cached.introspect(token=pair.access_token)
    second = cached.introspect(token=pair.access_token)

    assert first == second
    assert first.active and first.sub == "1001"
    assert counting.introspections == 1


def test_the_cache_key_is_a_hash_never_the_token(cached):
    pair = issue(cached)
    cached.introspect(token=pair.access_token)

    keys = [key.decode() for key in get_redis_connection("default").keys("*")]
    assert any(hashlib.sha256(pair.access_token.encode()).hexdigest() in key for key in keys)
    assert not any(pair.access_token in key or pair.access_token.split(".")[1] in key for key in keys)


def test_an_answer_lives_at_most_the_cap(cached):
    pair = issue(cached)
    cached.introspect(token=pair.access_token)

    assert 55 <= cache.ttl(answer_key(pair.access_token)) <= 60


def test_an_answer_never_outlives_its_token(cached, counting, settings):
    authenticator_settings(settings, TOKENIZER_ACCESS_TTL=2)
    pair = issue(cached)

    seen = cached.introspect(token=pair.access_token)
    assert cache.ttl(answer_key(pair.access_token)) <= 2
    time.sleep(max(0.0, seen.exp - time.time()) + 0.05)

    assert cached.introspect(token=pair.access_token).active is False
    assert counting.introspections == 2


def test_revoking_the_session_drops_its_cached_answers(cached, counting):
    pair = issue(cached, subject="1001")
    assert cached.introspect(token=pair.access_token).active

    assert cached.revoke_sessions(subject="1001", session_id=pair.session_id) == 1

    assert cached.introspect(token=pair.access_token).active is False
    assert counting.introspections == 2


def test_revoking_another_persons_sessions_keeps_the_cached_answers(cached, counting):
    pair = issue(cached, subject="1001")
    issue(cached, subject="2002")
    cached.introspect(token=pair.access_token)

    cached.revoke_sessions(subject="2002")

    assert cached.introspect(token=pair.access_token).active
    assert counting.introspections == 1


def test_revoking_an_access_token_drops_its_cached_answer(cached, counting):
    pair = issue(cached)
    cached.introspect(token=pair.access_token)

    cached.revoke_token(token=pair.access_token, token_type_hint="access_token")

    assert cached.introspect(token=pair.access_token).active is False
    assert counting.introspections == 2


def test_inactive_answers_and_non_jwt_tokens_are_not_cached(cached, counting):
    pair = issue(cached)
    cached.revoke_sessions(subject="1001")

    for _ in range(2):
        assert not cached.introspect(token=pair.access_token).active
        assert not cached.introspect(token="opaque-garbage").active

    assert counting.introspections == 4


def test_a_lost_generation_invalidates_every_cached_answer(cached, counting):
    pair = issue(cached)
    cached.introspect(token=pair.access_token)

    # An evicted generation must not let answers made under an older one back in.
    get_redis_connection("default").delete(*get_redis_connection("default").keys("*tokenizer:gen:*"))

    assert cached.introspect(token=pair.access_token).active
    assert counting.introspections == 2


@pytest.mark.parametrize("swallowed", [False, True], ids=["cache-raises", "cache-swallows-errors"])
def test_with_redis_down_every_call_still_works(cached, counting, settings, caplog, swallowed):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.DJANGO_REDIS_IGNORE_EXCEPTIONS = swallowed  # read when the backend is built, below
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    pair = issue(cached)

    with caplog.at_level(logging.WARNING):
        assert cached.introspect(token=pair.access_token).active
        assert cached.introspect(token=pair.access_token).active
        assert cached.revoke_sessions(subject="1001") == 1
        cached.revoke_token(token=pair.refresh_token)
        assert not cached.introspect(token=pair.access_token).active

    assert counting.introspections == 3
    if not swallowed:
        assert "introspection cache unavailable" in caplog.text
